package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crosswatch/crosswatch/aggregator"
)

// AuthStore is what access control reads and writes. Find methods return ErrNotFound for a
// record that does not exist (FindSession also for one that has expired).
type AuthStore interface {
	FindUser(ctx context.Context, name string) (aggregator.User, error)
	FindTokenByHash(ctx context.Context, hash []byte) (aggregator.Token, error)
	CreateSession(ctx context.Context, s aggregator.Session) error
	FindSession(ctx context.Context, hash []byte, now time.Time) (aggregator.Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
	AppendAudit(ctx context.Context, e aggregator.AuditEntry) error
	FindAudit(ctx context.Context, limit int, before int64) ([]aggregator.AuditEntry, error)
}

// Access authenticates HTTP requests (an API token in "Authorization: Bearer …", or the
// dashboard's session cookie) and checks each route's role. Safe for concurrent use.
type Access struct {
	store AuthStore
	// Insecure turns authentication off: every request acts as an admin. Only for a
	// deliberately open setup; the aggregator logs a warning at every start with it.
	insecure bool
	// secureCookies marks the session cookie Secure (and names it __Host-…): set when the
	// dashboard is served over TLS. A browser would not send a Secure cookie over plain HTTP.
	secureCookies bool
	sessionTTL    time.Duration
	now           func() time.Time
	log           *slog.Logger
	hashing       chan struct{} // bounds concurrent bcrypt comparisons, the CPU an attacker can spend
}

// AccessOptions configures NewAccess.
type AccessOptions struct {
	Insecure      bool
	SecureCookies bool
	SessionTTL    time.Duration // default 12h
	Now           func() time.Time
}

// NewAccess returns access control over st.
func NewAccess(st AuthStore, o AccessOptions, log *slog.Logger) *Access {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Access{store: st, insecure: o.Insecure, secureCookies: o.SecureCookies, sessionTTL: o.SessionTTL, now: o.Now, log: log,
		hashing: make(chan struct{}, 2)}
}

// Principal is who a request acts for.
type Principal struct {
	Name string          `json:"name"`
	Role aggregator.Role `json:"role"`
	Via  string          `json:"via"`            // "session", "token" or "insecure"
	CSRF string          `json:"csrf,omitempty"` // a session's: changes carry it in X-CSRF-Token
	hash []byte          // the session's
}

// Actor names p in the audit log.
func (p *Principal) Actor() string {
	switch p.Via {
	case "token":
		return "token:" + p.Name
	case "insecure":
		return "insecure"
	}
	return "user:" + p.Name
}

type principalKey struct{}

// PrincipalFrom returns who the request acts for, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// cookieName is the session cookie's name: with Secure, the __Host- prefix makes browsers
// refuse it unless it is Secure, for path / and with no Domain.
func (a *Access) cookieName() string {
	if a.secureCookies {
		return "__Host-crosswatch"
	}
	return "crosswatch_session"
}

// Authenticate finds who r acts for and passes it on in the context. A request with a bad
// token is refused outright (401); one with no credentials goes on with none, for routes
// that need none. A change (not GET or HEAD) made with the session cookie must carry the
// session's CSRF token in X-CSRF-Token, or is refused (403).
func (a *Access) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.insecure {
			p := &Principal{Name: "insecure", Role: aggregator.Admin, Via: "insecure"}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
			return
		}
		var p *Principal
		if h := r.Header.Get("Authorization"); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				unauthorized(w, "Authorization: want \"Bearer TOKEN\"")
				return
			}
			t, err := a.store.FindTokenByHash(r.Context(), HashSecret(strings.TrimSpace(secret)))
			if errors.Is(err, aggregator.ErrNotFound) {
				unauthorized(w, "unknown API token")
				return
			}
			if err != nil {
				reply(w, a.log, nil, err)
				return
			}
			p = &Principal{Name: t.Name, Role: t.Role, Via: "token"}
		} else if c, err := r.Cookie(a.cookieName()); err == nil && c.Value != "" {
			h := HashSecret(c.Value)
			s, err := a.store.FindSession(r.Context(), h, a.now())
			switch {
			case err == nil:
				p = &Principal{Name: s.User, Role: s.Role, Via: "session", CSRF: s.CSRF, hash: h}
			case !errors.Is(err, aggregator.ErrNotFound):
				reply(w, a.log, nil, err)
				return
			}
			if p != nil && r.Method != http.MethodGet && r.Method != http.MethodHead &&
				subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.CSRF)) != 1 {
				errorJSON(w, http.StatusForbidden, "X-CSRF-Token: missing or not this session's")
				return
			}
		}
		if p != nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		next.ServeHTTP(w, r)
	})
}

// Need serves h only to principals whose role allows need: 401 without credentials, 403
// with too small a role. It expects Authenticate before it.
func Need(need aggregator.Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalFrom(r.Context())
		if p == nil {
			unauthorized(w, "sign in, or send an API token as \"Authorization: Bearer TOKEN\"")
			return
		}
		if !p.Role.Allows(need) {
			errorJSON(w, http.StatusForbidden, fmt.Sprintf("%s needs the %s role; %s has %s", r.URL.Path, need, p.Name, p.Role))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Protect is Authenticate and Need together, for a handler outside the API's routes
// (/metrics).
func (a *Access) Protect(need aggregator.Role, h http.Handler) http.Handler {
	return a.Authenticate(Need(need, h))
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="crosswatch"`)
	errorJSON(w, http.StatusUnauthorized, msg)
}

func errorJSON(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// audit records a change; a change whose record cannot be written is logged loudly.
func (a *Access) audit(ctx context.Context, actor, action, detail string) {
	if err := a.store.AppendAudit(ctx, aggregator.AuditEntry{Time: a.now(), Actor: actor, Action: action, Detail: detail}); err != nil {
		a.log.Error("audit log", "actor", actor, "action", action, "err", err)
	}
}

// dummyHash is compared against when the user does not exist, so that a wrong name takes as
// long as a wrong password and does not tell which names exist.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("crosswatch-no-such-user"), bcrypt.DefaultCost)
	return h
})

// sameOrigin reports whether a browser request comes from the page's own origin: its Origin
// (or, without one, Sec-Fetch-Site) says so. Requests from scripts carry neither.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	s := r.Header.Get("Sec-Fetch-Site")
	return s == "" || s == "same-origin" || s == "none"
}

// login is POST /api/v1/login {"name","password"}: a session cookie and the session's CSRF
// token. JSON only, so that a form on another site cannot post it; same origin only.
func (a *Access) login(w http.ResponseWriter, r *http.Request) {
	if a.insecure {
		errorJSON(w, http.StatusConflict, "authentication is off (http.insecure: true): there is nothing to sign in to")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		errorJSON(w, http.StatusUnsupportedMediaType, "Content-Type: must be application/json")
		return
	}
	if !sameOrigin(r) {
		errorJSON(w, http.StatusForbidden, "Origin: sign in from the dashboard's own origin")
		return
	}
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&in); err != nil {
		badRequest(w, "body: want {\"name\": …, \"password\": …}")
		return
	}
	if in.Name == "" || in.Password == "" {
		badRequest(w, "name and password: both needed")
		return
	}
	u, err := a.store.FindUser(r.Context(), in.Name)
	if err != nil && !errors.Is(err, aggregator.ErrNotFound) {
		reply(w, a.log, nil, err)
		return
	}
	hash := u.PasswordHash
	if err != nil {
		hash = dummyHash()
	}
	select {
	case a.hashing <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	bad := bcrypt.CompareHashAndPassword(hash, []byte(in.Password)) != nil
	<-a.hashing
	if err != nil || bad {
		a.log.Warn("failed sign-in", "name", in.Name, "remote", r.RemoteAddr)
		errorJSON(w, http.StatusUnauthorized, "wrong name or password")
		return
	}
	secret, h := NewSecret("")
	s := aggregator.Session{Hash: h, User: u.Name, Role: u.Role, CSRF: randomString(24), Expires: a.now().Add(a.sessionTTL)}
	if err := a.store.CreateSession(r.Context(), s); err != nil {
		reply(w, a.log, nil, err)
		return
	}
	a.audit(r.Context(), "user:"+u.Name, "login", "from "+r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: secret, Path: "/", HttpOnly: true, Secure: a.secureCookies,
		SameSite: http.SameSiteStrictMode, Expires: s.Expires, MaxAge: int(a.sessionTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	reply(w, a.log, Principal{Name: u.Name, Role: u.Role, Via: "session", CSRF: s.CSRF}, nil)
}

// logout is POST /api/v1/logout: it ends the session (Authenticate checked its CSRF token).
func (a *Access) logout(w http.ResponseWriter, r *http.Request) {
	p := PrincipalFrom(r.Context())
	if p == nil || p.Via != "session" {
		unauthorized(w, "no session to end")
		return
	}
	if err := a.store.DeleteSession(r.Context(), p.hash); err != nil {
		reply(w, a.log, nil, err)
		return
	}
	a.audit(r.Context(), p.Actor(), "logout", "")
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: a.secureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// session is GET /api/v1/session: who the request acts for, with the session's CSRF token.
func (a *Access) session(w http.ResponseWriter, r *http.Request) {
	p := PrincipalFrom(r.Context())
	if p == nil {
		unauthorized(w, "not signed in")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	reply(w, a.log, p, nil)
}

// NewSecret returns a new random secret (prefix, then 32 random bytes in base64url) and the
// hash under which it is stored. Secrets are never stored themselves.
func NewSecret(prefix string) (secret string, hash []byte) {
	secret = prefix + randomString(32)
	return secret, HashSecret(secret)
}

// HashSecret is how a session cookie or API token is stored: SHA-256. These are 256-bit
// random secrets, so a fast hash loses nothing to guessing (bcrypt's slowness protects
// human-chosen passwords), and checking one per request costs microseconds, not the
// ~100 ms of CPU that bcrypt would let any client spend at will.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// HashPassword is how a password is stored: bcrypt at the default cost.
func HashPassword(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
}

// NewPassword returns a generated password: 20 characters, 120 random bits.
func NewPassword() string { return randomString(15) }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
