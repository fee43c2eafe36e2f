package broker

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Token hashes use Mosquitto's password-file format, "$7$iterations$salt$hash" (PBKDF2 with
// SHA-512, what mosquitto_passwd writes), so one file of "id:hash" lines serves both the
// embedded broker and Mosquitto's password_file. The tokens are random (NewToken: 256 bits), so
// the hash only has to make a stolen file useless, not slow down a guess at a human password:
// Mosquitto's default 101 iterations keep a connect cheap.
const (
	hashIterations = 101
	saltBytes      = 12
	hashBytes      = 64
)

// MinTokenLen is the shortest token accepted: shorter ones could be guessed.
const MinTokenLen = 16

// ErrBadHash means a password-file line does not hold a $7$ hash.
var ErrBadHash = errors.New(`not a "$7$" (PBKDF2-SHA512) hash as mosquitto_passwd writes; plaintext tokens are not accepted, add devices with 'crosswatch-aggregator device add'`)

// NewToken returns a random token of 256 bits, URL-safe base64 (43 characters).
func NewToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken returns token's hash in Mosquitto's $7$ format with a random salt.
func HashToken(token string) string {
	salt := make([]byte, saltBytes)
	rand.Read(salt)
	sum, err := pbkdf2.Key(sha512.New, token, salt, hashIterations, hashBytes)
	if err != nil {
		panic(err) // only for parameters outside FIPS limits, which these are not
	}
	return fmt.Sprintf("$7$%d$%s$%s", hashIterations, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum))
}

// Hash is a parsed $7$ token hash.
type Hash struct {
	iter       int
	salt, hash []byte
}

// ParseHash parses a $7$ hash. Returns ErrBadHash for anything else.
func ParseHash(s string) (Hash, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 || f[0] != "" || f[1] != "7" {
		return Hash{}, ErrBadHash
	}
	iter, err := strconv.Atoi(f[2])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return Hash{}, fmt.Errorf("%w (iterations %q)", ErrBadHash, f[2])
	}
	salt, err1 := base64.StdEncoding.DecodeString(f[3])
	sum, err2 := base64.StdEncoding.DecodeString(f[4])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(sum) != hashBytes {
		return Hash{}, ErrBadHash
	}
	return Hash{iter: iter, salt: salt, hash: sum}, nil
}

// Verify reports whether token matches h, in time independent of where they differ.
func (h Hash) Verify(token string) bool {
	if h.hash == nil {
		return false
	}
	sum, err := pbkdf2.Key(sha512.New, token, h.salt, h.iter, hashBytes)
	return err == nil && subtle.ConstantTimeCompare(sum, h.hash) == 1
}
