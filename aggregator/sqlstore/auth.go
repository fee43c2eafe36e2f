package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// isUnique reports whether err is a unique-key violation, on either engine.
func isUnique(err error) bool {
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505")
}

// CreateUser stores a user. It returns ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u aggregator.User) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO users (name, role, password_hash, created_ms) VALUES (?, ?, ?, ?)`),
		u.Name, string(u.Role), u.PasswordHash, u.Created.UnixMilli())
	if err != nil && isUnique(err) {
		return fmt.Errorf("user %s: %w", u.Name, aggregator.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// FindUser returns a user with its password hash; ErrNotFound if there is none of that name.
func (s *Store) FindUser(ctx context.Context, name string) (aggregator.User, error) {
	var u aggregator.User
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT name, role, password_hash, created_ms FROM users WHERE name = ?`), name).
		Scan(&u.Name, &u.Role, &u.PasswordHash, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", name, aggregator.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("find user: %w", err)
	}
	u.Created = time.UnixMilli(ms).UTC()
	return u, nil
}

// CreateToken stores an API token by its hash. It returns ErrExists if the name is taken.
func (s *Store) CreateToken(ctx context.Context, t aggregator.Token) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO api_tokens (name, role, hash, created_ms) VALUES (?, ?, ?, ?)`),
		t.Name, string(t.Role), t.Hash, t.Created.UnixMilli())
	if err != nil && isUnique(err) {
		return fmt.Errorf("token %s: %w", t.Name, aggregator.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// FindTokenByHash returns the token whose secret hashes to hash; ErrNotFound if none does.
func (s *Store) FindTokenByHash(ctx context.Context, hash []byte) (aggregator.Token, error) {
	var t aggregator.Token
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT name, role, hash, created_ms FROM api_tokens WHERE hash = ?`), hash).
		Scan(&t.Name, &t.Role, &t.Hash, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", aggregator.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("find token: %w", err)
	}
	t.Created = time.UnixMilli(ms).UTC()
	return t, nil
}

// FindUsers returns every user, by name, without password hashes.
func (s *Store) FindUsers(ctx context.Context) ([]aggregator.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_ms FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	out := []aggregator.User{}
	for rows.Next() {
		var u aggregator.User
		var ms int64
		if err := rows.Scan(&u.Name, &u.Role, &ms); err != nil {
			return nil, fmt.Errorf("find users: %w", err)
		}
		u.Created = time.UnixMilli(ms).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// FindTokens returns every API token, by name, without hashes.
func (s *Store) FindTokens(ctx context.Context) ([]aggregator.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_ms FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Token{}
	for rows.Next() {
		var t aggregator.Token
		var ms int64
		if err := rows.Scan(&t.Name, &t.Role, &ms); err != nil {
			return nil, fmt.Errorf("find tokens: %w", err)
		}
		t.Created = time.UnixMilli(ms).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpdatePassword replaces a user's password hash and ends the user's sessions. It returns
// ErrNotFound for an unknown user.
func (s *Store) UpdatePassword(ctx context.Context, name string, hash []byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update password of %s: %w", name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.rebind(`UPDATE users SET password_hash = ? WHERE name = ?`), hash, name)
	if err != nil {
		return fmt.Errorf("update password of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", name, aggregator.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE user_name = ?`), name); err != nil {
		return fmt.Errorf("update password of %s: %w", name, err)
	}
	return tx.Commit()
}

// DeleteUser removes a user and ends the user's sessions. It returns ErrNotFound for an
// unknown user.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM users WHERE name = ?`), name)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", name, aggregator.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE user_name = ?`), name); err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return tx.Commit()
}

// DeleteToken revokes an API token. It returns ErrNotFound for an unknown token.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM api_tokens WHERE name = ?`), name)
	if err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w", name, aggregator.ErrNotFound)
	}
	return nil
}

// CountCredentials returns how many users and API tokens are stored.
func (s *Store) CountCredentials(ctx context.Context) (users, tokens int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM api_tokens)`).Scan(&users, &tokens)
	if err != nil {
		return 0, 0, fmt.Errorf("count credentials: %w", err)
	}
	return users, tokens, nil
}

// CreateSession stores a session by the hash of its cookie value.
func (s *Store) CreateSession(ctx context.Context, se aggregator.Session) error {
	if _, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO sessions (hash, user_name, csrf, expires_ms) VALUES (?, ?, ?, ?)`),
		se.Hash, se.User, se.CSRF, se.Expires.UnixMilli()); err != nil {
		return fmt.Errorf("create session for %s: %w", se.User, err)
	}
	return nil
}

// FindSession returns the unexpired session with that hash and its user's current role;
// ErrNotFound if there is none, it has expired or its user is gone.
func (s *Store) FindSession(ctx context.Context, hash []byte, now time.Time) (aggregator.Session, error) {
	var se aggregator.Session
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT s.hash, s.user_name, u.role, s.csrf, s.expires_ms FROM sessions s
		JOIN users u ON u.name = s.user_name WHERE s.hash = ? AND s.expires_ms > ?`), hash, now.UnixMilli()).
		Scan(&se.Hash, &se.User, &se.Role, &se.CSRF, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return se, fmt.Errorf("session: %w", aggregator.ErrNotFound)
	}
	if err != nil {
		return se, fmt.Errorf("find session: %w", err)
	}
	se.Expires = time.UnixMilli(ms).UTC()
	return se, nil
}

// DeleteSession ends a session; ending one that does not exist is no error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE hash = ?`), hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendAudit records a change.
func (s *Store) AppendAudit(ctx context.Context, e aggregator.AuditEntry) error {
	if _, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO audit (time_ms, actor, action, detail) VALUES (?, ?, ?, ?)`),
		e.Time.UnixMilli(), e.Actor, e.Action, e.Detail); err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// FindAudit returns the newest audit entries first, at most limit, those with a sequence
// number below before when it is positive.
func (s *Store) FindAudit(ctx context.Context, limit int, before int64) ([]aggregator.AuditEntry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT seq, time_ms, actor, action, detail FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?`), before, limit)
	if err != nil {
		return nil, fmt.Errorf("find audit: %w", err)
	}
	defer rows.Close()
	out := []aggregator.AuditEntry{}
	for rows.Next() {
		var e aggregator.AuditEntry
		var ms int64
		if err := rows.Scan(&e.Seq, &ms, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, fmt.Errorf("find audit: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Retention says how long what ages out is kept; zero keeps it for ever.
type Retention struct {
	Evidence    time.Duration // evidence images, by their event's time; events and ledger stay
	DeadLetters time.Duration // dead letters, by when they were received
}

// Pruned counts what Prune removed.
type Pruned struct {
	Evidence, DeadLetters, Sessions int64
}

// Prune deletes evidence images and dead letters older than r allows at now, and expired
// sessions. Events and their ledger rows are kept: only the image goes.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	var p Pruned
	exec := func(n *int64, q string, args ...any) error {
		res, err := s.db.ExecContext(ctx, s.rebind(q), args...)
		if err != nil {
			return err
		}
		*n, _ = res.RowsAffected()
		return nil
	}
	if r.Evidence > 0 {
		if err := exec(&p.Evidence, `UPDATE events SET evidence = NULL WHERE evidence IS NOT NULL AND time_ms < ?`, now.Add(-r.Evidence).UnixMilli()); err != nil {
			return p, fmt.Errorf("prune evidence: %w", err)
		}
	}
	if r.DeadLetters > 0 {
		if err := exec(&p.DeadLetters, `DELETE FROM dead_letters WHERE received_ms < ?`, now.Add(-r.DeadLetters).UnixMilli()); err != nil {
			return p, fmt.Errorf("prune dead letters: %w", err)
		}
	}
	if err := exec(&p.Sessions, `DELETE FROM sessions WHERE expires_ms <= ?`, now.UnixMilli()); err != nil {
		return p, fmt.Errorf("prune sessions: %w", err)
	}
	return p, nil
}
