package verify

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// path-token: the secret is the last segment of the URL the sender posts to,
// POST /hooks/{vendor}/{token}, for senders that can neither sign nor add a header (Ecowitt,
// Withings). It signs nothing: the replay key comes from the body. The token is a secret in the
// path: the receiver never logs, counts, audits or echoes the path after /hooks/{vendor}/.
func init() {
	Register(Scheme{
		Name:    "path-token",
		Summary: "a token as the last segment of the URL, /hooks/{vendor}/{token}; signs nothing",
		Compile: fixedMethod(pathTokenMethod{}),
	})
}

// Path tokens are at least MinSecretLen and at most MaxPathToken characters of the URL's
// unreserved set (RFC 3986: letters, digits, '-', '.', '_', '~'): a token needs no escaping, so
// the one the user pastes at the sender is the one that arrives.
const MaxPathToken = 128

// PathTokenChars reports whether s is made of the characters a path token may hold.
func PathTokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// pathTokenSecret is a path token as the user pastes it.
var pathTokenSecret = SecretFormat{
	Name: "path-token",
	Parse: func(s string) (Key, error) {
		switch {
		case len(s) < minSecretLen:
			return Key{}, fmt.Errorf("%w: shorter than %d characters", ErrNoSecret, MinSecretLen)
		case len(s) > MaxPathToken:
			return Key{}, fmt.Errorf("%w: longer than %d characters", ErrNoSecret, MaxPathToken)
		case !PathTokenChars(s) || strings.Trim(s, ".") == "":
			return Key{}, fmt.Errorf("%w: a path token is letters, digits, '-', '.', '_' and '~'", ErrNoSecret)
		}
		return Key{MAC: []byte(s)}, nil
	},
	Generate: func() (string, error) { return randomText(24, hex.EncodeToString) },
}

type pathTokenMethod struct{ traits }

func (pathTokenMethod) Key(secret string) (Key, error) { return pathTokenSecret.Parse(secret) }
func (pathTokenMethod) NewSecret() (string, error)     { return pathTokenSecret.generate() }

// ReadsPath reports that the method's credential is the path after /hooks/{vendor}/.
func (pathTokenMethod) ReadsPath() bool { return true }

func (pathTokenMethod) Verifier(keys []Key, _ time.Duration) Verifier {
	return &pathToken{digests: tokenDigests(keys)}
}

// Sign puts the token in the URL's path, after /hooks/{vendor}: m.URL becomes the URL the sender
// is given (the query, if any, stays after it).
func (pathTokenMethod) Sign(secret string, m *Message) error {
	if _, err := pathTokenSecret.Parse(secret); err != nil {
		return err
	}
	if m.URL == "" {
		return fmt.Errorf("%w: a path token goes in the URL, and the message has none", ErrCannotSign)
	}
	base, query, hasQuery := strings.Cut(m.URL, "?")
	m.URL = strings.TrimRight(base, "/") + "/" + secret
	if hasQuery {
		m.URL += "?" + query
	}
	return nil
}

// pathToken compares the path after /hooks/{vendor}/ with the tokens; digests first, so that the
// comparison takes the same time whatever the path's length.
type pathToken struct {
	digests [][]byte
}

func (v *pathToken) Verify(r *Request) (Result, error) {
	if r.Rest == "" {
		return Result{}, fmt.Errorf("%w: no token in the path", ErrBadSignature)
	}
	return matchToken([]byte(r.Rest), v.digests, "path token") // a token signs nothing: the id, if any, comes from the body
}

// pathReader is a Method whose credential is the path after /hooks/{vendor}/.
type pathReader interface {
	ReadsPath() bool
}

// ReadsPath reports whether the scheme takes its credential from the path after
// /hooks/{vendor}/ (a path token). That path is then a secret, never an event type, and a request
// without it fails authentication.
func (a Auth) ReadsPath() bool {
	m, err := a.compiled()
	if err != nil {
		return false
	}
	pr, ok := m.(pathReader)
	return ok && pr.ReadsPath()
}
