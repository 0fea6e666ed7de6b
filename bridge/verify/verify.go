// Package verify authenticates webhook requests. Each signature scheme is one file that registers
// itself (see Scheme): its name, its policy keys, its secret format, its verifier and its signer.
// Policy loading, `check`, `send`, the options loader and first-run options ask the registry; no
// other package names a scheme.
//
// Every check runs on the raw body bytes, compares MACs in constant time with hmac.Equal, and fails
// closed: a scheme without a usable secret cannot be built. Errors say what kind of failure it was
// in general terms ("missing X-Slack-Signature header", "timestamp 412s in the future"), never which
// secret was tried, what MAC was expected or what the request carried.
package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

var (
	// ErrBadSignature reports a missing, malformed or non-matching signature.
	ErrBadSignature = outcome.Err(outcome.BadSignature, "invalid signature")
	// ErrTimestamp reports a signed timestamp outside the policy's tolerance, in either direction.
	ErrTimestamp = outcome.Err(outcome.BadTimestamp, "timestamp outside tolerance")
	// ErrNoSecret reports a scheme built without any usable secret, or a secret that does not fit
	// the scheme's format.
	ErrNoSecret = errors.New("no usable secret")
	// ErrCannotGenerate reports a scheme whose secret Hookbridge cannot make up: a public key,
	// whose private half only the sender holds, or a secret the sender issues (Slack's signing
	// secret, Twilio's Auth Token).
	ErrCannotGenerate = errors.New("the sender issues this secret")
	// ErrCannotSign reports a signer given a secret it cannot sign with, such as a public key.
	ErrCannotSign = errors.New("cannot sign with this secret")
)

// Header is the part of a request's headers a verifier reads; http.Header satisfies it.
type Header interface {
	Values(key string) []string
}

// Request is what a verifier sees of one webhook request.
type Request struct {
	// Method is the HTTP method, e.g. "POST".
	Method string
	// Header holds the request's headers; http.Header satisfies it.
	Header Header
	// Body is the raw body, exactly as received.
	Body []byte
	// URL is the URL the sender was given: public_url + "/hooks/{vendor}" [+ "/" + Rest]
	// [+ "?" + Query]; "" when public_url is not set. Never built from Host or X-Forwarded-*.
	URL string
	// Query is the raw query string as received, without the '?'.
	Query string
	// Rest is the path after /hooks/{vendor}/ ("" when none). It may be a secret (a path token):
	// never logged, counted or echoed.
	Rest string
	// Now is the time the request is judged at.
	Now time.Time
}

// Result is what a verifier vouches for beyond "authentic".
type Result struct {
	// ID is an event id the signature covers, "" when none. The pipeline keys replays by it, else
	// by the body's id at the policy's event.id, else by a digest of the raw body. An id that
	// travels outside the signature (GitHub's X-GitHub-Delivery, a policy's id_header) is never
	// returned: whoever captured a request could resend it with a new one.
	ID string
	// Key is the place, in the secrets the verifier was built with, of the secret that verified
	// the request (0 for the first): how the secrets' last use is told apart. It is found without
	// stopping at the first match, so the time a verification takes says nothing about it, and
	// it never reaches the sender.
	Key int
}

// Verifier authenticates one request.
type Verifier interface {
	Verify(r *Request) (Result, error)
}

// New builds the verifier for a policy's auth section and the vendor's secrets (several during a
// rotation; any one verifying is enough). Every secret must fit the scheme's format.
func New(a Auth, secrets []string) (Verifier, error) {
	a, err := a.compile()
	if err != nil {
		return nil, err
	}
	keys, err := parseKeys(a.method, secrets)
	if err != nil {
		return nil, err
	}
	return a.method.Verifier(keys, a.Tolerance), nil
}

func parseKeys(m Method, secrets []string) ([]Key, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	keys := make([]Key, 0, len(secrets))
	for i, s := range secrets {
		k, err := m.Key(s)
		if err != nil {
			return nil, fmt.Errorf("secrets[%d]: %w", i, err)
		}
		k.index = i
		keys = append(keys, k)
	}
	return keys, nil
}

// Message is a request a sender is about to send, for a Signer.
type Message struct {
	// Method is the HTTP method; "" means POST.
	Method string
	// URL is where the request goes, as the sender was given it (public_url + "/hooks/{vendor}"
	// [+ "?" + query]). Only schemes that sign the URL need it; Sign may add to its query
	// (Twilio's bodySHA256).
	URL string
	// ContentType is the body's media type; "" means application/json.
	ContentType string
	// Body is the raw body.
	Body []byte
	// ID is the event id, for schemes that sign one (and a policy's unsigned id_header).
	ID string
	// Time is when the sender signs.
	Time time.Time
	// Header receives the headers that authenticate the request.
	Header map[string]string
}

// Signer produces what a scheme expects a sender to send, for `hookbridge send`, the load
// generator and tests. Secret is the vendor's secret; for a scheme that verifies with a public
// key, it is the sender's private key (PEM, or the sender's own format such as whsk_).
type Signer struct {
	Auth   Auth
	Secret string
}

// Sign returns the headers that authenticate body under the scheme, for an event id and time. It
// is SignMessage for a JSON POST to a URL the scheme does not sign.
func (s Signer) Sign(body []byte, id string, now time.Time) (map[string]string, error) {
	m := &Message{Body: body, ID: id, Time: now}
	if err := s.SignMessage(m); err != nil {
		return nil, err
	}
	return m.Header, nil
}

// SignMessage fills m.Header with the headers that authenticate m (and may add to m.URL's query).
func (s Signer) SignMessage(m *Message) error {
	meth, err := s.Auth.compiled()
	if err != nil {
		return err
	}
	if m.Header == nil {
		m.Header = map[string]string{}
	}
	if m.Method == "" {
		m.Method = "POST"
	}
	if m.ContentType == "" {
		m.ContentType = "application/json"
	}
	if err := meth.Sign(s.Secret, m); err != nil {
		return err
	}
	if s.Auth.IDHeader != "" && m.ID != "" {
		m.Header[s.Auth.IDHeader] = m.ID
	}
	return nil
}

// single returns a header's only value; a missing or repeated header is an error, since a second
// copy could make two parsers disagree.
func single(h Header, key string) (string, error) {
	v := h.Values(key)
	switch len(v) {
	case 0:
		return "", fmt.Errorf("%w: missing %s header", ErrBadSignature, key)
	case 1:
		return v[0], nil
	}
	return "", fmt.Errorf("%w: %s header repeated", ErrBadSignature, key)
}

// checkTime reports a timestamp outside now ± tol, saying by how much in whole seconds (a skew
// is no secret: the sender sent the timestamp, and a user needs it to fix a clock).
func checkTime(t, now time.Time, tol time.Duration) error {
	// Compare times, not their difference: time.Sub saturates at the smallest Duration for a time
	// more than 292 years ahead, and negating that overflows back to a negative, "in tolerance"
	// value.
	switch {
	case t.Before(now.Add(-tol)):
		return fmt.Errorf("%w: timestamp %s in the past", ErrTimestamp, skew(now, t))
	case t.After(now.Add(tol)):
		return fmt.Errorf("%w: timestamp %s in the future", ErrTimestamp, skew(t, now))
	}
	return nil
}

// skew describes how far later is after earlier, in seconds, or in years beyond a century.
func skew(later, earlier time.Time) string {
	if later.Sub(earlier) >= 100*365*24*time.Hour || later.Year()-earlier.Year() > 100 {
		return "more than 100 years"
	}
	return strconv.FormatInt(int64(later.Sub(earlier)/time.Second), 10) + "s"
}

// parseUnix parses a decimal Unix time in seconds.
func parseUnix(s string) (int64, bool) { return parseDigits(s, 12) }

// parseDigits parses a positive decimal number of at most maxLen digits: no sign, space or other
// character, so a timestamp has one spelling only.
func parseDigits(s string, maxLen int) (int64, bool) {
	if s == "" || len(s) > maxLen || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// decodeBase64 decodes standard or URL-safe base64, padded or not. The alphabet is chosen by the
// characters present, not by the length: a padded URL-safe or an unpadded standard MAC has the same
// length as the other form, and guessing by length would refuse it for some bodies only.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// anyEqual reports whether sum equals one of the candidates. Every candidate is compared, in
// constant time, without stopping at a match.
func anyEqual(sum []byte, candidates [][]byte) bool { return whichEqual(sum, candidates) >= 0 }

// whichEqual returns the index of the first candidate equal to sum, or -1. Every candidate is
// compared in constant time, and the index is kept without a branch on the outcome: how long it
// takes says nothing about which candidate, if any, matched.
func whichEqual(sum []byte, candidates [][]byte) int {
	found := -1
	for i, c := range candidates {
		found = firstMatch(found, i, subtle.ConstantTimeCompare(sum, c))
	}
	return found
}

// tokenDigests returns the SHA-256 of each key's MAC, for the schemes whose credential is the
// secret itself (bearer, basic, path-token): matchToken compares digests, so the comparison takes
// the same time whatever the token's length.
func tokenDigests(keys []Key) [][]byte {
	var digests [][]byte
	for _, k := range keys {
		d := sha256.Sum256(k.MAC)
		digests = append(digests, d[:])
	}
	return digests
}

// matchToken compares the SHA-256 of a token with the digests of tokenDigests and returns the
// index of the key it matches; what names the token in the error ("token", "password").
func matchToken(token []byte, digests [][]byte, what string) (Result, error) {
	got := sha256.Sum256(token)
	which := whichEqual(got[:], digests)
	if which < 0 {
		return Result{}, fmt.Errorf("%w: the %s does not match", ErrBadSignature, what)
	}
	return Result{Key: which}, nil
}

// firstMatch returns i when eq is 1 and nothing matched before (found is -1), else found; in
// constant time.
func firstMatch(found, i, eq int) int {
	take := eq & subtle.ConstantTimeEq(int32(found), -1)
	return subtle.ConstantTimeSelect(take, i, found)
}
