package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// Users, tokens and sessions: names are unique, tokens are found by their hash only, and a
// session carries its user's current role until it expires.
func testUsersTokensSessions(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	if n, m, err := st.CountCredentials(ctx); err != nil || n != 0 || m != 0 {
		t.Fatalf("credentials in a new store: %d users, %d tokens, %v", n, m, err)
	}
	u := aggregator.User{Name: "ana", Role: aggregator.Admin, PasswordHash: []byte("$2a$10$hash"), Created: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); !errors.Is(err, aggregator.ErrExists) {
		t.Fatalf("the same user twice: %v, want ErrExists", err)
	}
	got, err := st.FindUser(ctx, "ana")
	if err != nil || got.Role != aggregator.Admin || !bytes.Equal(got.PasswordHash, u.PasswordHash) || !got.Created.Equal(now) {
		t.Fatalf("find user: %+v %v", got, err)
	}
	if _, err := st.FindUser(ctx, "bob"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	tok := aggregator.Token{Name: "scraper", Role: aggregator.Viewer, Hash: []byte("h1"), Created: now}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok); !errors.Is(err, aggregator.ErrExists) {
		t.Fatalf("the same token twice: %v, want ErrExists", err)
	}
	if got, err := st.FindTokenByHash(ctx, []byte("h1")); err != nil || got.Name != "scraper" || got.Role != aggregator.Viewer {
		t.Fatalf("find token: %+v %v", got, err)
	}
	if _, err := st.FindTokenByHash(ctx, []byte("h2")); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if n, m, _ := st.CountCredentials(ctx); n != 1 || m != 1 {
		t.Fatalf("credentials: %d users, %d tokens, want 1 and 1", n, m)
	}
	se := aggregator.Session{Hash: []byte("s1"), User: "ana", CSRF: "c1", Expires: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	if got, err := st.FindSession(ctx, []byte("s1"), now); err != nil || got.User != "ana" || got.Role != aggregator.Admin || got.CSRF != "c1" {
		t.Fatalf("find session: %+v %v", got, err)
	}
	if _, err := st.FindSession(ctx, []byte("s1"), now.Add(time.Hour)); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("expired session: %v, want ErrNotFound", err)
	}
	if err := st.DeleteSession(ctx, []byte("s1")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindSession(ctx, []byte("s1"), now); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("ended session: %v, want ErrNotFound", err)
	}
	// Listing shows names and roles only; a new password and removal end the sessions; a
	// revoked token opens nothing.
	st.CreateUser(ctx, aggregator.User{Name: "bo", Role: aggregator.Viewer, PasswordHash: []byte("h"), Created: now})
	if us, err := st.FindUsers(ctx); err != nil || len(us) != 2 || us[0].Name != "ana" || us[1].Role != aggregator.Viewer || us[0].PasswordHash != nil {
		t.Fatalf("find users: %+v %v", us, err)
	}
	if ts, err := st.FindTokens(ctx); err != nil || len(ts) != 1 || ts[0].Name != "scraper" || ts[0].Hash != nil {
		t.Fatalf("find tokens: %+v %v", ts, err)
	}
	st.CreateSession(ctx, aggregator.Session{Hash: []byte("s3"), User: "ana", CSRF: "c", Expires: now.Add(time.Hour)})
	if err := st.UpdatePassword(ctx, "ana", []byte("$2a$10$new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.FindUser(ctx, "ana"); string(got.PasswordHash) != "$2a$10$new" {
		t.Fatalf("password hash after update: %q", got.PasswordHash)
	}
	if _, err := st.FindSession(ctx, []byte("s3"), now); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("session after a new password: %v, want ErrNotFound", err)
	}
	st.CreateSession(ctx, aggregator.Session{Hash: []byte("s4"), User: "bo", CSRF: "c", Expires: now.Add(time.Hour)})
	if err := st.DeleteUser(ctx, "bo"); err != nil {
		t.Fatal(err)
	}
	st.CreateUser(ctx, aggregator.User{Name: "bo", Role: aggregator.Admin, PasswordHash: []byte("h"), Created: now})
	if _, err := st.FindSession(ctx, []byte("s4"), now); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("an old session of a removed user, recreated as admin: %v, want ErrNotFound", err)
	}
	if err := st.DeleteToken(ctx, "scraper"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindTokenByHash(ctx, []byte("h1")); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("revoked token: %v, want ErrNotFound", err)
	}
	for _, err := range []error{st.DeleteToken(ctx, "scraper"), st.DeleteUser(ctx, "nobody"), st.UpdatePassword(ctx, "nobody", []byte("h"))} {
		if !errors.Is(err, aggregator.ErrNotFound) {
			t.Fatalf("on an unknown name: %v, want ErrNotFound", err)
		}
	}
	// A session of a user who is gone opens nothing.
	st.CreateSession(ctx, aggregator.Session{Hash: []byte("s2"), User: "ghost", CSRF: "c", Expires: now.Add(time.Hour)})
	if _, err := st.FindSession(ctx, []byte("s2"), now); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("session of an unknown user: %v, want ErrNotFound", err)
	}
}

func testAudit(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	// Run's setup stored the sites: each is in the log, by the configuration. Storing them
	// again changes nothing; a changed site and a new catalog version are recorded.
	config := func() []aggregator.AuditEntry {
		all, err := st.FindAudit(ctx, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	if a := config(); len(a) != 2 || a[1].Action != "site.add" || a[1].Actor != "config" || !strings.HasPrefix(a[1].Detail, "a: ") {
		t.Fatalf("audit after storing the sites: %+v", a)
	}
	st.UpsertSites(ctx, sites)
	moved := append([]aggregator.Site{}, sites...)
	moved[1].Lat = 48.3
	st.UpsertSites(ctx, moved)
	st.EnsureCatalog(ctx, catalog("v9", 10), kinds)
	st.EnsureCatalog(ctx, catalog("v9", 10), kinds)
	if a := config(); len(a) != 4 || a[0].Action != "catalog.version" || !strings.HasPrefix(a[0].Detail, "v9 with 1 entries") ||
		a[1].Action != "site.change" || !strings.Contains(a[1].Detail, "48.300000") {
		t.Fatalf("audit after a moved site and a new catalog version: %+v", a)
	}
	base, _ := st.FindAudit(ctx, 1, 0)
	for i := range 5 {
		if err := st.AppendAudit(ctx, aggregator.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), Actor: "cli", Action: "user.add", Detail: fmt.Sprint("u", i)}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.FindAudit(ctx, 3, 0)
	if err != nil || len(page) != 3 || page[0].Detail != "u4" || page[2].Detail != "u2" || page[0].Actor != "cli" || !page[0].Time.Equal(now.Add(4*time.Second)) {
		t.Fatalf("first page: %+v %v", page, err)
	}
	next, err := st.FindAudit(ctx, 3, page[2].Seq)
	if err != nil || len(next) != 3 || next[0].Detail != "u1" || next[1].Detail != "u0" || next[2].Seq != base[0].Seq {
		t.Fatalf("second page: %+v %v", next, err)
	}
}

func testDeadLetterPages(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	var b aggregator.Batch
	for i := range 5 {
		b.DeadLetters = append(b.DeadLetters, aggregator.DeadLetter{Received: now, Topic: "t", Device: "d", Reason: fmt.Sprint("bad ", i), Payload: []byte("cut"), Size: 9000})
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	page, err := st.FindDeadLetters(ctx, 2, 0)
	if err != nil || len(page) != 2 || page[0].Reason != "bad 4" || page[0].Size != 9000 || string(page[0].Payload) != "cut" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	rest, err := st.FindDeadLetters(ctx, 10, page[1].Seq)
	if err != nil || len(rest) != 3 || rest[0].Reason != "bad 2" {
		t.Fatalf("after %d: %+v %v", page[1].Seq, rest, err)
	}
}

// Evidence images age out; the events, their ledger rows and the score stay. Dead letters and
// expired sessions age out too.
func testPruneKeepsEvents(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	old := event("old", "a", now.Add(-31*24*time.Hour), v1)
	fresh := event("fresh", "a", now.Add(-29*24*time.Hour), v1)
	old.Evidence, fresh.Evidence = []byte{0xFF, 0xD8, 0xFF, 1}, []byte{0xFF, 0xD8, 0xFF, 2}
	b := &aggregator.Batch{Events: []aggregator.PricedEvent{old, fresh}, DeadLetters: []aggregator.DeadLetter{
		{Received: now.Add(-31 * 24 * time.Hour), Topic: "t", Reason: "old", Payload: []byte("x")},
		{Received: now.Add(-time.Hour), Topic: "t", Reason: "new", Payload: []byte("x")}}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	st.CreateUser(ctx, aggregator.User{Name: "ana", Role: aggregator.Viewer, PasswordHash: []byte("h"), Created: now})
	st.CreateSession(ctx, aggregator.Session{Hash: []byte("gone"), User: "ana", CSRF: "c", Expires: now.Add(-time.Minute)})
	st.CreateSession(ctx, aggregator.Session{Hash: []byte("kept"), User: "ana", CSRF: "c", Expires: now.Add(time.Minute)})
	ledger := func() int {
		l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	before := ledger()
	p, err := st.Prune(ctx, sqlstore.Retention{Evidence: 30 * 24 * time.Hour, DeadLetters: 30 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Evidence != 1 || p.DeadLetters != 1 || p.Sessions != 1 {
		t.Fatalf("pruned %+v, want one image, one dead letter and one session", p)
	}
	e, err := st.FindEvent(ctx, "d", "old")
	if err != nil || e.HasEvidence || len(e.Evidence) != 0 || e.Type != "red_light_running" {
		t.Fatalf("old event after pruning: %+v %v (want it kept, without its image)", e, err)
	}
	if e, _ := st.FindEvent(ctx, "d", "fresh"); !e.HasEvidence {
		t.Fatal("an image inside the retention period was deleted")
	}
	if n := ledger(); n != before || n != 2 {
		t.Fatalf("ledger rows %d after pruning, %d before, want 2", n, before)
	}
	if dl, _ := st.FindDeadLetters(ctx, 10, 0); len(dl) != 1 || dl[0].Reason != "new" {
		t.Fatalf("dead letters after pruning: %+v", dl)
	}
	if _, err := st.FindSession(ctx, []byte("kept"), now); err != nil {
		t.Fatalf("live session pruned: %v", err)
	}
}
