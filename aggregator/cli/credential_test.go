package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// "user add" and "token add" store only hashes, print the secret once, refuse a second
// credential of the same name or an unknown role, and are in the audit log.
func TestUserAndTokenAdd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(append(args, "--config", "../../configs/aggregator.yaml", "--db", db), &out, &errOut)
		return code, strings.TrimSpace(out.String()), errOut.String()
	}
	code, password, msg := run("user", "add", "ana", "--role", "admin")
	if code != 0 || len(password) < 16 || !strings.Contains(msg, "shown only now") {
		t.Fatalf("user add: exit %d, %q, %q", code, password, msg)
	}
	code, token, _ := run("token", "add", "--role", "viewer", "prometheus")
	if code != 0 || !strings.HasPrefix(token, "cw_") || len(token) < 40 {
		t.Fatalf("token add: exit %d, %q", code, token)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "ana", "--role", "viewer"}, "already exists"},
		{[]string{"token", "add", "prometheus", "--role", "viewer"}, "already exists"},
		{[]string{"user", "add", "bob", "--role", "root"}, "--role: must be viewer, reviewer or admin"},
		{[]string{"user", "add", "b o b", "--role", "viewer"}, "NAME"},
		{[]string{"user", "del", "ana"}, "usage"},
		{[]string{"token", "passwd", "prometheus"}, "usage"},
		{[]string{"user", "remove", "nobody"}, "not found"},
		{[]string{"user", "list", "--role", "admin"}, "--role: only for add"},
	} {
		if code, _, msg := run(c.args...); code == 0 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, %q, want %q", c.args, code, msg, c.want)
		}
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	u, err := st.FindUser(ctx, "ana")
	if err != nil || u.Role != aggregator.Admin || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		t.Fatalf("stored user %+v %v: want admin with a bcrypt hash of the printed password", u, err)
	}
	if bytes.Contains(u.PasswordHash, []byte(password)) {
		t.Fatal("the password is stored in clear")
	}
	if tok, err := st.FindTokenByHash(ctx, api.HashSecret(token)); err != nil || tok.Name != "prometheus" || tok.Role != aggregator.Viewer {
		t.Fatalf("stored token %+v %v", tok, err)
	}
	raw, _ := os.ReadFile(db)
	wal, _ := os.ReadFile(db + "-wal")
	if bytes.Contains(append(raw, wal...), []byte(password)) || bytes.Contains(append(raw, wal...), []byte(token)) {
		t.Fatal("a secret is in the database file")
	}
	a, err := st.FindAudit(ctx, 10, 0)
	if err != nil || len(a) != 2 || a[0].Action != "token.add" || a[1].Action != "user.add" || a[1].Actor != "cli" || a[1].Detail != "ana as admin" {
		t.Fatalf("audit %+v %v", a, err)
	}
	st.Close()

	// List, a new password, removal and revocation.
	if code, out, _ := run("user", "list"); code != 0 || !strings.Contains(out, "ana") || !strings.Contains(out, "admin") || strings.Contains(out, password) {
		t.Fatalf("user list: exit %d, %q", code, out)
	}
	if code, out, _ := run("token", "list"); code != 0 || !strings.Contains(out, "prometheus") || strings.Contains(out, token) {
		t.Fatalf("token list: exit %d, %q", code, out)
	}
	code, newPassword, _ := run("user", "passwd", "ana")
	if code != 0 || len(newPassword) < 16 || newPassword == password {
		t.Fatalf("user passwd: exit %d, %q", code, newPassword)
	}
	if code, _, msg := run("token", "remove", "prometheus"); code != 0 {
		t.Fatalf("token remove: exit %d, %s", code, msg)
	}
	if code, _, msg := run("user", "remove", "ana"); code != 0 {
		t.Fatalf("user remove: exit %d, %s", code, msg)
	}
	st, err = sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.FindTokenByHash(ctx, api.HashSecret(token)); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := st.FindUser(ctx, "ana"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("removed user: %v", err)
	}
	a, _ = st.FindAudit(ctx, 3, 0)
	if len(a) != 3 || a[0].Action != "user.remove" || a[1].Action != "token.remove" || a[2].Action != "user.passwd" {
		t.Fatalf("audit %+v", a)
	}
}

// "sites" sends its token and says what to do when it has none.
func TestSitesSendsToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer cw_good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[{"id":"a","kind":"road","score":975,"events":{"jaywalking":1},"status":"insufficient_data"}]`))
	}))
	defer srv.Close()
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte("cw_good\n"), 0o600)
	var out bytes.Buffer
	if err := runSites(context.Background(), []string{"--api", srv.URL, "--token-file", tf}, &out); err != nil || !strings.Contains(out.String(), "975") {
		t.Fatalf("with a token: %v %q", err, out.String())
	}
	t.Setenv("CROSSWATCH_TOKEN", "")
	err := runSites(context.Background(), []string{"--api", srv.URL}, &out)
	if err == nil || !strings.Contains(err.Error(), "token add") {
		t.Fatalf("without a token: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
