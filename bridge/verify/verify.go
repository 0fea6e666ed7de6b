// Package verify authenticates webhook requests with the five signature schemes Hookbridge speaks:
// Standard Webhooks, GitHub, Stripe, a configurable HMAC-SHA256 header, and a bearer token.
//
// Every check runs on the raw body bytes, compares MACs in constant time with hmac.Equal, and fails
// closed: a scheme without a usable secret cannot be built. Errors say what kind of failure it was,
// never which secret was tried or what MAC was expected.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

var (
	// ErrBadSignature reports a missing, malformed or non-matching signature.
	ErrBadSignature = outcome.Err(outcome.BadSignature, "invalid signature")
	// ErrTimestamp reports a signed timestamp outside the policy's tolerance, in either direction.
	ErrTimestamp = outcome.Err(outcome.BadTimestamp, "timestamp outside tolerance")
	// ErrNoSecret reports a scheme built without any usable secret.
	ErrNoSecret = errors.New("no usable secret")
)

// Header is the part of a request's headers a verifier reads; http.Header satisfies it.
type Header interface {
	Values(key string) []string
}

// Verifier authenticates one request.
//
// It returns an event id only when its signature covers that id: Standard Webhooks' webhook-id,
// which is part of the signed string. Every other scheme returns "": GitHub's X-GitHub-Delivery, a
// policy's id_header and the like travel outside the signature, and whoever captured a request can
// resend it with a new one, so such a header must never make a request new to the replay guard.
// The caller keys replays by the returned id, else by the signed body (see bridge/pipeline).
type Verifier interface {
	Verify(h Header, body []byte, now time.Time) (signedID string, err error)
}

// New builds the verifier for a policy's auth section and the vendor's secrets (several during a
// rotation; any one verifying is enough).
func New(a policy.Auth, secrets []string) (Verifier, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		k, err := Key(a.Scheme, s)
		if err != nil {
			return nil, fmt.Errorf("secrets[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	tol := time.Duration(a.Tolerance)
	switch a.Scheme {
	case policy.SchemeStandardWebhooks:
		return &standardWebhooks{macs: newMACs(keys), tolerance: tol}, nil
	case policy.SchemeGitHub:
		return &gitHub{macs: newMACs(keys)}, nil
	case policy.SchemeStripe:
		return &stripe{macs: newMACs(keys), tolerance: tol}, nil
	case policy.SchemeHMACSHA256:
		return &genericHMAC{macs: newMACs(keys), header: a.Header, base64: a.Encoding == "base64", prefix: a.Prefix}, nil
	case policy.SchemeBearer:
		return newBearer(keys, a.Header), nil
	}
	return nil, fmt.Errorf("unknown auth scheme %q", a.Scheme)
}

// MinSecretLen is the shortest secret accepted, in bytes of key material.
const MinSecretLen = 16

// Key returns the HMAC key (or token) a secret stands for under a scheme: for Standard Webhooks the
// base64 decoding of the part after "whsec_", for the others the secret's own bytes.
func Key(scheme, secret string) ([]byte, error) {
	if scheme == policy.SchemeStandardWebhooks {
		rest, ok := strings.CutPrefix(secret, "whsec_")
		if !ok {
			return nil, fmt.Errorf("%w: a standard-webhooks secret starts with whsec_", ErrNoSecret)
		}
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: the part after whsec_ is not base64", ErrNoSecret)
		}
		if len(k) < MinSecretLen {
			return nil, fmt.Errorf("%w: shorter than %d bytes", ErrNoSecret, MinSecretLen)
		}
		return k, nil
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: shorter than %d characters", ErrNoSecret, MinSecretLen)
	}
	return []byte(secret), nil
}

// macs computes HMAC-SHA256 under each of a vendor's keys.
type macs struct {
	keys [][]byte
}

func newMACs(keys [][]byte) macs { return macs{keys: keys} }

// match reports whether any key's MAC over the parts equals one of the candidate MACs. Every
// candidate is compared with every key, in constant time, without stopping early on a key.
func (m macs) match(candidates [][]byte, parts ...[]byte) bool {
	ok := false
	for _, k := range m.keys {
		h := hmac.New(sha256.New, k)
		for _, p := range parts {
			h.Write(p)
		}
		sum := h.Sum(nil)
		for _, c := range candidates {
			if hmac.Equal(sum, c) {
				ok = true
			}
		}
	}
	return ok
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

func checkTime(ts int64, now time.Time, tol time.Duration) error {
	// Compare times, not their difference: time.Sub saturates at the smallest Duration for a time
	// more than 292 years ahead, and negating that overflows back to a negative, "in tolerance"
	// value.
	t := time.Unix(ts, 0)
	if t.Before(now.Add(-tol)) || t.After(now.Add(tol)) {
		return ErrTimestamp
	}
	return nil
}

// parseUnix parses a decimal Unix time in seconds.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// standardWebhooks verifies https://www.standardwebhooks.com/ signatures.
type standardWebhooks struct {
	macs      macs
	tolerance time.Duration
}

func (v *standardWebhooks) Verify(h Header, body []byte, now time.Time) (string, error) {
	id, err := single(h, "Webhook-Id")
	if err != nil {
		return "", err
	}
	tsText, err := single(h, "Webhook-Timestamp")
	if err != nil {
		return "", err
	}
	sigText, err := single(h, "Webhook-Signature")
	if err != nil {
		return "", err
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return "", fmt.Errorf("%w: webhook-timestamp is not a Unix time", ErrBadSignature)
	}
	sigs := ParseStandardSignatures(sigText)
	if len(sigs) == 0 {
		return "", fmt.Errorf("%w: no v1 signature", ErrBadSignature)
	}
	if !v.macs.match(sigs, []byte(id), []byte{'.'}, []byte(tsText), []byte{'.'}, body) {
		return "", ErrBadSignature
	}
	if err := checkTime(ts, now, v.tolerance); err != nil {
		return "", err
	}
	// The signed string is "id.timestamp.body": the id is covered, so it may key replays.
	return id, nil
}

// maxSignatures bounds how many candidate signatures one header may offer.
const maxSignatures = 8

// ParseStandardSignatures returns the decoded v1 signatures of a webhook-signature header: a
// space-separated list of "version,base64". Other versions and malformed entries are skipped.
func ParseStandardSignatures(header string) [][]byte {
	var out [][]byte
	for _, part := range strings.Fields(header) {
		ver, sig, ok := strings.Cut(part, ",")
		if !ok || ver != "v1" || len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		out = append(out, b)
		if len(out) == maxSignatures {
			break
		}
	}
	return out
}

// gitHub verifies X-Hub-Signature-256.
type gitHub struct {
	macs macs
}

func (v *gitHub) Verify(h Header, body []byte, _ time.Time) (string, error) {
	sigText, err := single(h, "X-Hub-Signature-256")
	if err != nil {
		return "", err
	}
	sig, ok := ParseGitHubSignature(sigText)
	if !ok {
		return "", fmt.Errorf("%w: malformed X-Hub-Signature-256", ErrBadSignature)
	}
	if !v.macs.match([][]byte{sig}, body) {
		return "", ErrBadSignature
	}
	// X-GitHub-Delivery is not signed: it is not an id this signature vouches for.
	return "", nil
}

// ParseGitHubSignature decodes "sha256=<64 hex digits>".
func ParseGitHubSignature(header string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(hexSig)
	return b, err == nil
}

// stripe verifies Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...].
type stripe struct {
	macs      macs
	tolerance time.Duration
}

func (v *stripe) Verify(h Header, body []byte, now time.Time) (string, error) {
	sigText, err := single(h, "Stripe-Signature")
	if err != nil {
		return "", err
	}
	tsText, sigs, ok := ParseStripeHeader(sigText)
	if !ok {
		return "", fmt.Errorf("%w: malformed Stripe-Signature", ErrBadSignature)
	}
	ts, _ := parseUnix(tsText)
	if !v.macs.match(sigs, []byte(tsText), []byte{'.'}, body) {
		return "", ErrBadSignature
	}
	if err := checkTime(ts, now, v.tolerance); err != nil {
		return "", err
	}
	return "", nil
}

// ParseStripeHeader returns the timestamp text and the decoded v1 signatures of a Stripe-Signature
// header. It fails when the timestamp is missing, repeated or not a Unix time, or when no v1
// signature decodes.
func ParseStripeHeader(header string) (ts string, sigs [][]byte, ok bool) {
	seenT := false
	for _, item := range strings.Split(header, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			continue
		}
		switch k {
		case "t":
			if seenT {
				return "", nil, false
			}
			seenT = true
			ts = val
		case "v1":
			if len(val) != 2*sha256.Size || len(sigs) == maxSignatures {
				continue
			}
			if b, err := hex.DecodeString(val); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if _, valid := parseUnix(ts); !valid || len(sigs) == 0 {
		return "", nil, false
	}
	return ts, sigs, true
}

// genericHMAC verifies an HMAC-SHA256 of the body in a configurable header.
type genericHMAC struct {
	macs   macs
	header string
	base64 bool
	prefix string
}

func (v *genericHMAC) Verify(h Header, body []byte, _ time.Time) (string, error) {
	text, err := single(h, v.header)
	if err != nil {
		return "", err
	}
	text, ok := strings.CutPrefix(text, v.prefix)
	if !ok {
		return "", fmt.Errorf("%w: missing prefix", ErrBadSignature)
	}
	var sig []byte
	if v.base64 {
		sig, err = decodeBase64(text)
	} else {
		sig, err = hex.DecodeString(text)
	}
	if err != nil || len(sig) != sha256.Size {
		return "", fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if !v.macs.match([][]byte{sig}, body) {
		return "", ErrBadSignature
	}
	return "", nil // the MAC covers the body only; a policy's id_header is not signed
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

// bearer compares a token in a header with the secrets; digests first, so the comparison takes the
// same time whatever the token's length.
type bearer struct {
	digests [][]byte
	header  string
}

func newBearer(keys [][]byte, header string) *bearer {
	b := &bearer{header: header}
	for _, k := range keys {
		b.digests = append(b.digests, digest(sha256.New(), k))
	}
	return b
}

func digest(h hash.Hash, b []byte) []byte {
	h.Write(b)
	return h.Sum(nil)
}

func (v *bearer) Verify(h Header, _ []byte, _ time.Time) (string, error) {
	text, err := single(h, v.header)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(v.header, "Authorization") {
		scheme, token, ok := strings.Cut(text, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", fmt.Errorf("%w: not a Bearer authorization", ErrBadSignature)
		}
		text = token
	}
	got := digest(sha256.New(), []byte(text))
	ok := false
	for _, d := range v.digests {
		if hmac.Equal(got, d) {
			ok = true
		}
	}
	if !ok {
		return "", ErrBadSignature
	}
	return "", nil // a token signs nothing: the id, if any, comes from the body
}

// Signer produces the headers a scheme expects, for `hookbridge send`, the load tool and tests.
type Signer struct {
	Auth   policy.Auth
	Secret string
}

// Sign returns the headers that authenticate body under the scheme, for an event id and time.
func (s Signer) Sign(body []byte, id string, now time.Time) (map[string]string, error) {
	key, err := Key(s.Auth.Scheme, s.Secret)
	if err != nil {
		return nil, err
	}
	mac := func(parts ...string) []byte {
		h := hmac.New(sha256.New, key)
		for _, p := range parts {
			h.Write([]byte(p))
		}
		h.Write(body)
		return h.Sum(nil)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	hdr := map[string]string{}
	switch s.Auth.Scheme {
	case policy.SchemeStandardWebhooks:
		hdr["Webhook-Id"] = id
		hdr["Webhook-Timestamp"] = ts
		hdr["Webhook-Signature"] = "v1," + base64.StdEncoding.EncodeToString(mac(id+"."+ts+"."))
	case policy.SchemeGitHub:
		hdr["X-Hub-Signature-256"] = "sha256=" + hex.EncodeToString(mac())
		if id != "" {
			hdr["X-GitHub-Delivery"] = id
		}
	case policy.SchemeStripe:
		hdr["Stripe-Signature"] = "t=" + ts + ",v1=" + hex.EncodeToString(mac(ts+"."))
	case policy.SchemeHMACSHA256:
		sum := mac()
		enc := hex.EncodeToString(sum)
		if s.Auth.Encoding == "base64" {
			enc = base64.StdEncoding.EncodeToString(sum)
		}
		hdr[s.Auth.Header] = s.Auth.Prefix + enc
	case policy.SchemeBearer:
		if strings.EqualFold(s.Auth.Header, "Authorization") {
			hdr[s.Auth.Header] = "Bearer " + s.Secret
		} else {
			hdr[s.Auth.Header] = s.Secret
		}
	default:
		return nil, fmt.Errorf("unknown auth scheme %q", s.Auth.Scheme)
	}
	if s.Auth.IDHeader != "" && id != "" {
		hdr[s.Auth.IDHeader] = id
	}
	return hdr, nil
}
