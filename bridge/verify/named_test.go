package verify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// This file holds what the tests of the named recipes (slack_test.go, twilio_test.go, ...) share.
// Each of those tests its sender's published vector where the sender publishes one (the page or
// repository and commit are cited next to it), and fresh requests signed in the test with the
// sender's algorithm as its documentation writes it: computed here, not by the recipe's signer.

// named returns a named scheme's Auth with its defaults.
func named(t testing.TB, scheme string) verify.Auth {
	t.Helper()
	a, err := verify.CompileAuth(scheme, 0, nil)
	if err != nil {
		t.Fatalf("CompileAuth(%s) = %v", scheme, err)
	}
	return a
}

// vectorVerifier builds a verifier for a published vector, whose secret may be shorter than a
// real one (verify.NewForVector).
func vectorVerifier(t testing.TB, a verify.Auth, secrets ...string) verify.Verifier {
	t.Helper()
	v, err := verify.NewForVector(a, secrets)
	if err != nil {
		t.Fatalf("NewForVector(%s) = %v", a.Scheme, err)
	}
	return v
}

func mustVerifier(t testing.TB, a verify.Auth, secrets ...string) verify.Verifier {
	t.Helper()
	v, err := verify.New(a, secrets)
	if err != nil {
		t.Fatalf("New(%s) = %v", a.Scheme, err)
	}
	return v
}

// post builds the request a sender sends to url (public_url + /hooks/{vendor} [+ ?query]) with
// the headers given as name, value pairs.
func post(url, body string, now time.Time, headers ...string) *verify.Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	_, q, _ := strings.Cut(url, "?")
	return &verify.Request{Method: http.MethodPost, Header: h, Body: []byte(body), URL: url, Query: q, Now: now}
}

// mac is the sender's own computation: an HMAC of the concatenated parts.
func mac(h func() hash.Hash, key string, parts ...string) []byte {
	return macKey(h, []byte(key), parts...)
}

func macKey(h func() hash.Hash, key []byte, parts ...string) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

var (
	sha1New   = sha1.New
	sha256New = sha256.New
)

// expectOK fails unless the request verifies with the wanted signed id.
func expectOK(t *testing.T, v verify.Verifier, r *verify.Request, wantID string) {
	t.Helper()
	res, err := v.Verify(r)
	if err != nil || res.ID != wantID {
		t.Fatalf("Verify = %+v, %v, want ID %q, nil", res, err, wantID)
	}
}

// expectRefused fails unless the request is refused with want (ErrBadSignature or ErrTimestamp),
// with an error that reveals none of the secrets.
func expectRefused(t *testing.T, v verify.Verifier, r *verify.Request, want error, secrets ...string) {
	t.Helper()
	_, err := v.Verify(r)
	if !errors.Is(err, want) {
		t.Fatalf("Verify = %v, want %v", err, want)
	}
	checkErrorText(t, err, nil, secrets...)
}

// signWith signs m with the scheme's own signer (short secrets allowed, for vectors).
func signWith(t testing.TB, a verify.Auth, secret string, m *verify.Message) *verify.Request {
	t.Helper()
	if m.Header == nil {
		m.Header = map[string]string{}
	}
	if err := verify.SignForVector(a, secret, m); err != nil {
		t.Fatalf("Sign(%s) = %v", a.Scheme, err)
	}
	var hdr []string
	for k, v := range m.Header {
		hdr = append(hdr, k, v)
	}
	return post(m.URL, string(m.Body), m.Time, hdr...)
}

// namedCase is a named recipe with a secret to verify with and one to sign with.
type namedCase struct {
	scheme, secret, signing, url, contentType string
}

func namedCases(t testing.TB) []namedCase {
	kp := keyPairs(t)
	return []namedCase{
		{scheme: "slack", secret: "slack-signing-secret-0123456789"},
		{scheme: "twilio", secret: "0123456789abcdef0123456789abcdef", url: "https://h.example/hooks/twilio?x=1", contentType: "application/x-www-form-urlencoded"},
		{scheme: "twilio", secret: "0123456789abcdef0123456789abcdef", url: "https://h.example/hooks/twilio"},
		{scheme: "square", secret: "square-signature-key-0123", url: "https://h.example/hooks/square"},
		{scheme: "shopify", secret: "shopify-client-secret-0123"},
		{scheme: "enode", secret: "enode-secret-0123456789abcdef"},
		{scheme: "eliq", secret: "eliq-secret-0123456789abcdef"},
		{scheme: "netatmo", secret: "netatmo-client-secret-0123"},
		{scheme: "github", secret: "github-secret-0123456789"},
		{scheme: "stripe", secret: "whsec_stripe0123456789abcdef"},
		{scheme: "standard-webhooks", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{scheme: "standard-webhooks", secret: whpkOf(t, kp["ed25519"].Private), signing: whskOf(t, kp["ed25519"].Private)},
		{scheme: "schlage", secret: kp["rsa"].Public, signing: kp["rsa"].Private},
	}
}

// TestNamedRecipesRoundTrip checks every named recipe with its own signer: a signed request
// verifies, any changed body byte is refused, and only standard-webhooks returns a signed id.
func TestNamedRecipesRoundTrip(t *testing.T) {
	for _, c := range namedCases(t) {
		t.Run(c.scheme+" "+c.contentType, func(t *testing.T) {
			checkNamed(t, c, []byte("a=1&b=two+words&id=evt_9"))
		})
	}
}

func checkNamed(t testing.TB, c namedCase, b []byte) {
	a := named(t, c.scheme)
	v := mustVerifier(t, a, c.secret)
	signing := c.signing
	if signing == "" {
		signing = c.secret
	}
	m := &verify.Message{URL: c.url, ContentType: c.contentType, Body: b, ID: "evt_9", Time: epoch}
	r := signWith(t, a, signing, m)
	_, r.Query, _ = strings.Cut(m.URL, "?")
	res, err := v.Verify(r)
	if err != nil {
		t.Fatalf("%s: Verify(signed %q) = %v", c.scheme, b, err)
	}
	if want := map[bool]string{true: "evt_9"}[c.scheme == "standard-webhooks"]; res.ID != want {
		t.Fatalf("%s: Verify(signed).ID = %q, want %q", c.scheme, res.ID, want)
	}
	for i := range r.Body {
		bad := *r
		bad.Body = append([]byte(nil), r.Body...)
		bad.Body[i] ^= 0x01
		if c.contentType != "" && bytes.ContainsAny(r.Body[max(0, i-2):i+1], "%") {
			continue // a form's escapes may decode the same
		}
		if _, err := v.Verify(&bad); !errors.Is(err, verify.ErrBadSignature) {
			t.Fatalf("%s: Verify(body byte %d changed: %q) = %v, want ErrBadSignature", c.scheme, i, bad.Body, err)
		}
	}
}

// FuzzNamedVerify fuzzes every named recipe's verifier: with a fuzzed body the signed request
// verifies and a changed byte is refused; with a fuzzed signature header it never panics and
// refuses with ErrBadSignature.
func FuzzNamedVerify(f *testing.F) {
	cases := namedCases(f)
	for i := range cases {
		f.Add(uint8(i), []byte(`{"id":"evt_1","type":"t"}`), "")
		f.Add(uint8(i), []byte("To=%2B1&Body=hi"), "t=1,v1=00 v1,AAAA")
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte, sig string) {
		c := cases[int(which)%len(cases)]
		if len(b) == 0 || len(b) > 256 {
			return
		}
		if c.contentType != "" {
			b = []byte("p=" + url.QueryEscape(string(b)))
		}
		checkNamed(t, c, b)
		v := mustVerifier(t, named(t, c.scheme), c.secret)
		for _, h := range []string{"X-Slack-Signature", "X-Twilio-Signature", "X-Square-Hmacsha256-Signature", "X-Shopify-Hmac-Sha256",
			"X-Enode-Signature", "X-Eliq-Signature", "X-Netatmo-Secret", "X-Hub-Signature-256", "Stripe-Signature", "Webhook-Signature", "WebHook-Signature"} {
			r := post(c.url, string(b), epoch, h, sig, "Webhook-Id", "evt_9", "Webhook-Timestamp", "1700000000", "X-Slack-Request-Timestamp", "1700000000")
			if _, err := v.Verify(r); !errors.Is(err, verify.ErrBadSignature) {
				t.Fatalf("%s: Verify(%s: %q) = %v, want ErrBadSignature", c.scheme, h, sig, err)
			}
		}
	})
}

// TestVerifyConcurrent runs every named recipe's verifier from several goroutines at once, as
// the receiver does (its HMAC states are pooled): each request gets its own verdict. Run with
// -race.
func TestVerifyConcurrent(t *testing.T) {
	for _, c := range namedCases(t) {
		t.Run(c.scheme+" "+c.contentType, func(t *testing.T) {
			a := named(t, c.scheme)
			secrets := []string{c.secret}
			if a.CheckSecret("another-secret-0123456789abcdef") == nil {
				secrets = []string{"another-secret-0123456789abcdef", c.secret} // two keys, two pools
			}
			v := mustVerifier(t, a, secrets...)
			signing := c.signing
			if signing == "" {
				signing = c.secret
			}
			var reqs []*verify.Request
			for i := range 8 {
				m := &verify.Message{URL: c.url, ContentType: c.contentType, Body: []byte("a=" + strconv.Itoa(i)), ID: "evt_" + strconv.Itoa(i), Time: epoch}
				r := signWith(t, a, signing, m)
				_, r.Query, _ = strings.Cut(m.URL, "?")
				reqs = append(reqs, r)
			}
			errs := make(chan error, 2*len(reqs)*20)
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					bad := *r
					bad.Body = []byte("a=" + strconv.Itoa(i) + "0")
					for range 20 {
						if _, err := v.Verify(r); err != nil {
							errs <- fmt.Errorf("Verify(request %d) = %v, want nil", i, err)
						}
						if _, err := v.Verify(&bad); err == nil {
							errs <- fmt.Errorf("Verify(request %d changed) = nil, want a refusal", i)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}
