package verify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// vectorsFile is the repository's copy of the shared public vectors; CI has no ../shared.
const vectorsFile = "../../testdata/vectors/signatures.json"

type vectors struct {
	StandardWebhooks []struct {
		Secret    string `json:"secret"`
		ID        string `json:"webhook-id"`
		Timestamp string `json:"webhook-timestamp"`
		Body      string `json:"body"`
		Signature string `json:"webhook-signature"`
	} `json:"standard-webhooks"`
	Stripe []struct {
		Secret    string `json:"secret"`
		Body      string `json:"body"`
		Signature string `json:"Stripe-Signature"`
	} `json:"stripe"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	if len(v.StandardWebhooks) == 0 || len(v.Stripe) == 0 {
		t.Fatalf("vectors file has %d standard-webhooks and %d stripe vectors, want at least one each",
			len(v.StandardWebhooks), len(v.Stripe))
	}
	return v
}

func mustUnix(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return time.Unix(n, 0)
}

func mustNew(t *testing.T, a verify.Auth, secrets ...string) verify.Verifier {
	t.Helper()
	v, err := verify.New(a, secrets)
	if err != nil {
		t.Fatalf("New(%s) = %v, want a verifier", a.Scheme, err)
	}
	return v
}

func TestVectorsStandardWebhooks(t *testing.T) {
	a := verify.Auth{Scheme: "standard-webhooks", Tolerance: 5 * time.Minute}
	for i, vec := range loadVectors(t).StandardWebhooks {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			v := mustNew(t, a, vec.Secret)
			h := http.Header{}
			h.Set("Webhook-Id", vec.ID)
			h.Set("Webhook-Timestamp", vec.Timestamp)
			h.Set("Webhook-Signature", vec.Signature)
			now := mustUnix(t, vec.Timestamp).Add(30 * time.Second)
			id, err := verifyAt(v, h, []byte(vec.Body), now)
			if err != nil || id != vec.ID {
				t.Fatalf("Verify(vector) = %q, %v, want %q, nil", id, err, vec.ID)
			}
			// Signer must produce the same header.
			hdr, err := verify.Signer{Auth: a, Secret: vec.Secret}.Sign([]byte(vec.Body), vec.ID, mustUnix(t, vec.Timestamp))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := hdr["Webhook-Signature"]; got != vec.Signature {
				t.Errorf("Sign(vector) signature = %q, want %q", got, vec.Signature)
			}
			// The same vector a long time later is too old.
			if _, err := verifyAt(v, h, []byte(vec.Body), now.Add(time.Hour)); !errors.Is(err, verify.ErrTimestamp) {
				t.Errorf("Verify(vector, an hour later) = %v, want ErrTimestamp", err)
			}
		})
	}
}

func TestVectorsStripe(t *testing.T) {
	a := verify.Auth{Scheme: "stripe", Tolerance: 5 * time.Minute}
	for i, vec := range loadVectors(t).Stripe {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			v := mustNew(t, a, vec.Secret)
			h := http.Header{}
			h.Set("Stripe-Signature", vec.Signature)
			ts, _, ok := verify.ParseStripeHeader(vec.Signature)
			if !ok {
				t.Fatalf("ParseStripeHeader(%q) failed", vec.Signature)
			}
			now := mustUnix(t, ts).Add(-20 * time.Second)
			if _, err := verifyAt(v, h, []byte(vec.Body), now); err != nil {
				t.Fatalf("Verify(vector) = %v, want nil", err)
			}
			hdr, err := verify.Signer{Auth: a, Secret: vec.Secret}.Sign([]byte(vec.Body), "", mustUnix(t, ts))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := hdr["Stripe-Signature"]; got != vec.Signature {
				t.Errorf("Sign(vector) = %q, want %q", got, vec.Signature)
			}
		})
	}
}

// scheme describes one configuration under test and how to rewrite its MAC.
type scheme struct {
	name    string
	auth    verify.Auth
	secrets [3]string // two valid secrets of this vendor and one of another vendor
	header  string    // the header carrying the signature
	// setMAC rewrites the signature header of signed headers to carry mac instead; nil for bearer.
	setMAC func(h http.Header, mac []byte)
	// malformed lists signature header values that must be refused whatever the secret.
	malformed []string
	timed     bool // signs a timestamp
	signsBody bool
}

const tol = 5 * time.Minute

var (
	swSecret1 = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123"))
	swSecret2 = "whsec_" + base64.StdEncoding.EncodeToString([]byte("second key for rotation"))
	swOther   = "whsec_" + base64.StdEncoding.EncodeToString([]byte("another vendor's key"))
	plain1    = "first-secret-0123456789"
	plain2    = "second-secret-9876543210"
	plainOth  = "other-vendors-secret-xyz"
)

func hmacHeader(name, prefix string, b64 bool) func(http.Header, []byte) {
	return func(h http.Header, mac []byte) {
		enc := hex.EncodeToString(mac)
		if b64 {
			enc = base64.StdEncoding.EncodeToString(mac)
		}
		h.Set(name, prefix+enc)
	}
}

func schemes() []scheme {
	plain := [3]string{plain1, plain2, plainOth}
	return []scheme{
		{
			name:    "standard-webhooks",
			auth:    verify.Auth{Scheme: "standard-webhooks", Tolerance: tol},
			secrets: [3]string{swSecret1, swSecret2, swOther},
			header:  "Webhook-Signature",
			setMAC: func(h http.Header, mac []byte) {
				h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(mac))
			},
			malformed: []string{"", "v1", "v1,", "v1,!!!!", "garbage", "v2," + base64.StdEncoding.EncodeToString(make([]byte, 32)),
				"v1;" + base64.StdEncoding.EncodeToString(make([]byte, 32))},
			timed: true, signsBody: true,
		},
		{
			name:    "github",
			auth:    verify.Auth{Scheme: "github"},
			secrets: plain,
			header:  "X-Hub-Signature-256",
			setMAC: func(h http.Header, mac []byte) {
				h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac))
			},
			malformed: []string{"", "sha256=", "sha1=" + strings.Repeat("0", 40), "sha256=" + strings.Repeat("z", 64),
				strings.Repeat("0", 64), "SHA256=" + strings.Repeat("0", 64)},
			signsBody: true,
		},
		{
			name:    "stripe",
			auth:    verify.Auth{Scheme: "stripe", Tolerance: tol},
			secrets: plain,
			header:  "Stripe-Signature",
			setMAC: func(h http.Header, mac []byte) {
				ts, _, _ := strings.Cut(h.Get("Stripe-Signature"), ",")
				h.Set("Stripe-Signature", ts+",v1="+hex.EncodeToString(mac))
			},
			malformed: []string{"", "t=", "v1=" + strings.Repeat("0", 64), "t=abc,v1=" + strings.Repeat("0", 64),
				"t=1,t=2,v1=" + strings.Repeat("0", 64), "t=1700000000", "t=1700000000,v0=" + strings.Repeat("0", 64)},
			timed: true, signsBody: true,
		},
		{
			name:      "hmac-sha256 hex",
			auth:      verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "hex"}},
			secrets:   plain,
			header:    "X-Signature",
			setMAC:    hmacHeader("X-Signature", "", false),
			malformed: []string{"", "xyz", strings.Repeat("g", 64)},
			signsBody: true,
		},
		{
			name:      "hmac-sha256 hex with prefix",
			auth:      verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Acme-Sig", Encoding: "hex", Prefix: "sha256="}},
			secrets:   plain,
			header:    "X-Acme-Sig",
			setMAC:    hmacHeader("X-Acme-Sig", "sha256=", false),
			malformed: []string{"", "sha256=", strings.Repeat("0", 64), "sha1=" + strings.Repeat("0", 64)},
			signsBody: true,
		},
		{
			name:      "hmac-sha256 base64",
			auth:      verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "base64"}},
			secrets:   plain,
			header:    "X-Signature",
			setMAC:    hmacHeader("X-Signature", "", true),
			malformed: []string{"", "!!!!", strings.Repeat("*", 44)},
			signsBody: true,
		},
		{
			name:      "hmac-sha256 base64 with prefix",
			auth:      verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "base64", Prefix: "v1="}},
			secrets:   plain,
			header:    "X-Signature",
			setMAC:    hmacHeader("X-Signature", "v1=", true),
			malformed: []string{"", "v1=", base64.StdEncoding.EncodeToString(make([]byte, 32))},
			signsBody: true,
		},
		{
			name:      "bearer authorization",
			auth:      verify.Auth{Scheme: "bearer", Params: &verify.BearerParams{Header: "Authorization"}},
			secrets:   plain,
			header:    "Authorization",
			malformed: []string{"", "Bearer", "Basic " + plain1, plain1, "Bearer  " + plain1, "Bearer " + plain1 + " "},
		},
		{
			name:      "bearer custom header",
			auth:      verify.Auth{Scheme: "bearer", Params: &verify.BearerParams{Header: "X-Token"}, IDHeader: "X-Event-Id"},
			secrets:   plain,
			header:    "X-Token",
			malformed: []string{"", "Bearer " + plain1, plain1[:len(plain1)-1]},
		},
	}
}

var (
	body  = []byte(`{"id":"evt_1","type":"lock.state_changed","data":{"device_id":"front-door"}}`)
	epoch = time.Unix(1_700_000_000, 0)
)

func sign(t *testing.T, a verify.Auth, secret string, b []byte, at time.Time) http.Header {
	t.Helper()
	hdr, err := verify.Signer{Auth: a, Secret: secret}.Sign(b, "evt_1", at)
	if err != nil {
		t.Fatalf("Sign(%s): %v", a.Scheme, err)
	}
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return h
}

// expectedMAC is the MAC the verifier computes for a request signed at epoch with secret, for the
// error-text check.
func expectedMAC(t *testing.T, sc scheme, secret string) []byte {
	t.Helper()
	key, err := keyOf(t, sc.auth.Scheme, secret)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	ts := strconv.FormatInt(epoch.Unix(), 10)
	switch sc.auth.Scheme {
	case "standard-webhooks":
		m.Write([]byte("evt_1." + ts + "."))
	case "stripe":
		m.Write([]byte(ts + "."))
	}
	m.Write(body)
	return m.Sum(nil)
}

func TestSchemes(t *testing.T) {
	for _, sc := range schemes() {
		t.Run(sc.name, func(t *testing.T) {
			v := mustNew(t, sc.auth, sc.secrets[0], sc.secrets[1])
			signed := func() http.Header { return sign(t, sc.auth, sc.secrets[0], body, epoch) }
			type refusal struct {
				name string
				h    http.Header
				body []byte
				now  time.Time
				want error
			}
			var cases []refusal
			add := func(name string, h http.Header, b []byte, now time.Time, want error) {
				cases = append(cases, refusal{name, h, b, now, want})
			}

			add("wrong secret", sign(t, sc.auth, rotate(sc.secrets[0]), body, epoch), body, epoch, verify.ErrBadSignature)
			add("another vendor's secret", sign(t, sc.auth, sc.secrets[2], body, epoch), body, epoch, verify.ErrBadSignature)
			add("missing header", without(signed(), sc.header), body, epoch, verify.ErrBadSignature)
			add("no headers at all", http.Header{}, body, epoch, verify.ErrBadSignature)
			h := signed()
			h.Add(sc.header, h.Get(sc.header))
			add("repeated header", h, body, epoch, verify.ErrBadSignature)
			for i, m := range sc.malformed {
				h := signed()
				h.Set(sc.header, m)
				add("malformed "+strconv.Itoa(i)+" "+strconv.Quote(m), h, body, epoch, verify.ErrBadSignature)
			}
			if sc.signsBody {
				for _, at := range []int{0, len(body) / 2, len(body) - 1} {
					tampered := bytes.Clone(body)
					tampered[at] ^= 0x01
					add("tampered byte "+strconv.Itoa(at), signed(), tampered, epoch, verify.ErrBadSignature)
				}
				add("body with trailing byte", signed(), append(bytes.Clone(body), ' '), epoch, verify.ErrBadSignature)
				add("empty body", signed(), nil, epoch, verify.ErrBadSignature)
			}
			if sc.setMAC != nil {
				mac := macOf(t, sc, signed())
				for _, n := range []int{0, 1, 16, 31} {
					h := signed()
					sc.setMAC(h, mac[:n])
					add("signature of "+strconv.Itoa(n)+" bytes", h, body, epoch, verify.ErrBadSignature)
				}
				h := signed()
				sc.setMAC(h, append(bytes.Clone(mac), 0))
				add("signature of 33 bytes", h, body, epoch, verify.ErrBadSignature)
				h = signed()
				sc.setMAC(h, append(bytes.Clone(mac), mac...))
				add("signature of 64 bytes", h, body, epoch, verify.ErrBadSignature)
				flipped := bytes.Clone(mac)
				flipped[31] ^= 0x80
				h = signed()
				sc.setMAC(h, flipped)
				add("signature with one bit flipped", h, body, epoch, verify.ErrBadSignature)
			} else {
				h := signed()
				h.Set(sc.header, h.Get(sc.header)[:len(h.Get(sc.header))-1])
				add("token one byte short", h, body, epoch, verify.ErrBadSignature)
				h = signed()
				h.Set(sc.header, h.Get(sc.header)+"x")
				add("token one byte long", h, body, epoch, verify.ErrBadSignature)
			}
			if sc.timed {
				add("too old", signed(), body, epoch.Add(tol+time.Second), verify.ErrTimestamp)
				add("too new", signed(), body, epoch.Add(-tol-time.Second), verify.ErrTimestamp)
				add("far future", signed(), body, epoch.Add(-365*24*time.Hour), verify.ErrTimestamp)
				add("far past", signed(), body, epoch.Add(365*24*time.Hour), verify.ErrTimestamp)
				// A bad signature is reported as such, even with a stale timestamp.
				add("wrong secret and too old", sign(t, sc.auth, sc.secrets[2], body, epoch), body,
					epoch.Add(tol+time.Minute), verify.ErrBadSignature)
			}

			expect := expectedMAC(t, sc, sc.secrets[0])
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					_, err := verifyAt(v, c.h, c.body, c.now)
					if !errors.Is(err, c.want) {
						t.Fatalf("Verify(%s) = %v, want %v", c.name, err, c.want)
					}
					checkErrorText(t, err, expect, sc.secrets[:]...)
				})
			}

			type accept struct {
				name string
				h    http.Header
				now  time.Time
			}
			accepted := []accept{
				{"first secret", signed(), epoch},
				{"second secret (rotation)", sign(t, sc.auth, sc.secrets[1], body, epoch), epoch},
			}
			if sc.timed {
				accepted = append(accepted,
					accept{"at the old edge", signed(), epoch.Add(tol)},
					accept{"at the new edge", signed(), epoch.Add(-tol)})
			}
			for _, c := range accepted {
				t.Run("accepts "+c.name, func(t *testing.T) {
					if _, err := verifyAt(v, c.h, body, c.now); err != nil {
						t.Fatalf("Verify(%s) = %v, want nil", c.name, err)
					}
				})
			}

			// Each secret alone verifies its own signatures and not the other's.
			t.Run("single secret", func(t *testing.T) {
				only := mustNew(t, sc.auth, sc.secrets[1])
				if _, err := verifyAt(only, sign(t, sc.auth, sc.secrets[1], body, epoch), body, epoch); err != nil {
					t.Errorf("Verify(own secret) = %v, want nil", err)
				}
				if _, err := verifyAt(only, signed(), body, epoch); !errors.Is(err, verify.ErrBadSignature) {
					t.Errorf("Verify(rotated-out secret) = %v, want ErrBadSignature", err)
				}
			})
		})
	}
}

// rotate returns a secret of the same form that differs from s.
func rotate(s string) string {
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		k, _ := base64.StdEncoding.DecodeString(rest)
		k[0] ^= 1
		return "whsec_" + base64.StdEncoding.EncodeToString(k)
	}
	return s[:len(s)-1] + string(s[len(s)-1]^1)
}

func without(h http.Header, key string) http.Header {
	h.Del(key)
	return h
}

// macOf extracts the MAC bytes from signed headers.
func macOf(t *testing.T, sc scheme, h http.Header) []byte {
	t.Helper()
	v := h.Get(sc.header)
	var mac []byte
	var err error
	switch sc.auth.Scheme {
	case "standard-webhooks":
		mac, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "v1,"))
	case "github":
		mac, err = hex.DecodeString(strings.TrimPrefix(v, "sha256="))
	case "stripe":
		_, sig, _ := strings.Cut(v, ",v1=")
		mac, err = hex.DecodeString(sig)
	case "hmac-sha256":
		v = strings.TrimPrefix(v, sc.auth.Params.(*verify.HMACParams).Prefix)
		if sc.auth.Params.(*verify.HMACParams).Encoding == "base64" {
			mac, err = base64.StdEncoding.DecodeString(v)
		} else {
			mac, err = hex.DecodeString(v)
		}
	}
	if err != nil || len(mac) != sha256.Size {
		t.Fatalf("macOf(%q) = %x, %v", v, mac, err)
	}
	return mac
}

// checkErrorText fails when an error's text reveals the expected MAC or a secret.
func checkErrorText(t *testing.T, err error, mac []byte, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	lower := strings.ToLower(text)
	if len(mac) >= 8 {
		for _, leak := range []string{
			hex.EncodeToString(mac),
			hex.EncodeToString(mac[:8]),
			base64.StdEncoding.EncodeToString(mac),
			base64.RawURLEncoding.EncodeToString(mac),
			base64.StdEncoding.EncodeToString(mac)[:11],
		} {
			if strings.Contains(text, leak) || strings.Contains(lower, strings.ToLower(leak)) {
				t.Errorf("error %q reveals the expected MAC (%s)", text, leak)
			}
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(text, s) || (len(s) > 24 && strings.Contains(text, s[len(s)/2:len(s)/2+12])) {
			t.Errorf("error %q reveals a secret", text)
		}
		if rest, ok := strings.CutPrefix(s, "whsec_"); ok && strings.Contains(text, rest) {
			t.Errorf("error %q reveals a secret's key", text)
		}
	}
}

func TestStandardWebhooksSeveralSignatures(t *testing.T) {
	a := verify.Auth{Scheme: "standard-webhooks", Tolerance: tol}
	v := mustNew(t, a, swSecret1)
	good := sign(t, a, swSecret1, body, epoch).Get("Webhook-Signature")
	bad := sign(t, a, swOther, body, epoch).Get("Webhook-Signature")
	goodSig := strings.TrimPrefix(good, "v1,")
	tests := []struct {
		name   string
		header string
		ok     bool
	}{
		{"only the second matches", bad + " " + good, true},
		{"only the first matches", good + " " + bad, true},
		{"second of three, other versions around", "v2,abc " + good + " v1a,xyz", true},
		{"tabs and several spaces", bad + " \t  " + good, true},
		{"good one as v2", "v2," + goodSig, false},
		{"good one without version", goodSig, false},
		{"two bad", bad + " " + bad, false},
		{"comma-separated instead of spaces", bad + "," + good, false},
		{"good one after eight others", strings.Repeat(bad+" ", 8) + good, false},
		{"good one as the eighth", strings.Repeat(bad+" ", 7) + good, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sign(t, a, swSecret1, body, epoch)
			h.Set("Webhook-Signature", tt.header)
			_, err := verifyAt(v, h, body, epoch)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%q) = %v, want ok=%v", tt.header, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, verify.ErrBadSignature) {
				t.Errorf("Verify(%q) = %v, want ErrBadSignature", tt.header, err)
			}
		})
	}
}

func TestStandardWebhooksHeaders(t *testing.T) {
	a := verify.Auth{Scheme: "standard-webhooks", Tolerance: tol}
	v := mustNew(t, a, swSecret1)
	tests := []struct {
		name   string
		mutate func(h http.Header)
	}{
		{"missing id", func(h http.Header) { h.Del("Webhook-Id") }},
		{"missing timestamp", func(h http.Header) { h.Del("Webhook-Timestamp") }},
		{"repeated id", func(h http.Header) { h.Add("Webhook-Id", h.Get("Webhook-Id")) }},
		{"repeated timestamp", func(h http.Header) { h.Add("Webhook-Timestamp", h.Get("Webhook-Timestamp")) }},
		{"other id", func(h http.Header) { h.Set("Webhook-Id", "evt_2") }},
		{"other timestamp", func(h http.Header) { h.Set("Webhook-Timestamp", "1700000001") }},
		{"timestamp not a number", func(h http.Header) { h.Set("Webhook-Timestamp", "yesterday") }},
		{"timestamp negative", func(h http.Header) { h.Set("Webhook-Timestamp", "-1700000000") }},
		{"timestamp zero", func(h http.Header) { h.Set("Webhook-Timestamp", "0") }},
		{"timestamp with space", func(h http.Header) { h.Set("Webhook-Timestamp", " 1700000000") }},
		{"timestamp in milliseconds", func(h http.Header) { h.Set("Webhook-Timestamp", "1700000000000") }},
		{"timestamp huge", func(h http.Header) { h.Set("Webhook-Timestamp", strings.Repeat("9", 30)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sign(t, a, swSecret1, body, epoch)
			tt.mutate(h)
			if _, err := verifyAt(v, h, body, epoch); !errors.Is(err, verify.ErrBadSignature) {
				t.Fatalf("Verify(%s) = %v, want ErrBadSignature", tt.name, err)
			}
		})
	}
	t.Run("returns the id", func(t *testing.T) {
		id, err := verifyAt(v, sign(t, a, swSecret1, body, epoch), body, epoch)
		if err != nil || id != "evt_1" {
			t.Fatalf("Verify = %q, %v, want %q, nil", id, err, "evt_1")
		}
	})
}

// TestOnlySignedIDs checks the Verifier contract: an id comes back only when the signature covers
// it. An unsigned id header (X-GitHub-Delivery, a policy's id_header) is ignored whatever it holds,
// so resending a captured request with a new one cannot make it look new.
func TestOnlySignedIDs(t *testing.T) {
	tests := []struct {
		name     string
		auth     verify.Auth
		idHeader string // the header a sender puts its id in
		signed   bool   // the signature covers that header
	}{
		{"standard-webhooks webhook-id", verify.Auth{Scheme: "standard-webhooks", Tolerance: tol}, "Webhook-Id", true},
		{"github delivery", verify.Auth{Scheme: "github"}, "X-GitHub-Delivery", false},
		{"hmac id header", verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "hex"}, IDHeader: "X-Event-Id"}, "X-Event-Id", false},
		{"bearer id header", verify.Auth{Scheme: "bearer", Params: &verify.BearerParams{Header: "Authorization"}, IDHeader: "X-Event-Id"}, "X-Event-Id", false},
		{"stripe has none", verify.Auth{Scheme: "stripe", Tolerance: tol}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := plain1
			if tt.auth.Scheme == "standard-webhooks" {
				secret = swSecret1
			}
			v := mustNew(t, tt.auth, secret)
			h := sign(t, tt.auth, secret, body, epoch)
			if tt.idHeader != "" && h.Get(tt.idHeader) != "evt_1" {
				t.Fatalf("Sign set %s = %q, want evt_1 (as the sender does)", tt.idHeader, h.Get(tt.idHeader))
			}
			want := ""
			if tt.signed {
				want = "evt_1"
			}
			if id, err := verifyAt(v, h, body, epoch); err != nil || id != want {
				t.Fatalf("Verify = %q, %v, want %q, nil", id, err, want)
			}
			if tt.idHeader == "" {
				return
			}
			h.Set(tt.idHeader, "evt_new")
			id, err := verifyAt(v, h, body, epoch)
			switch {
			case tt.signed && !errors.Is(err, verify.ErrBadSignature):
				t.Errorf("Verify(%s changed) = %q, %v, want ErrBadSignature: the id is signed", tt.idHeader, id, err)
			case !tt.signed && (err != nil || id != ""):
				t.Errorf("Verify(%s changed) = %q, %v, want \"\", nil: an unsigned header is not an id", tt.idHeader, id, err)
			}
			if tt.signed {
				return
			}
			h.Add(tt.idHeader, "evt_2")
			if id, err := verifyAt(v, h, body, epoch); err != nil || id != "" {
				t.Errorf("Verify(repeated %s) = %q, %v, want \"\", nil", tt.idHeader, id, err)
			}
			h.Del(tt.idHeader)
			if id, err := verifyAt(v, h, body, epoch); err != nil || id != "" {
				t.Errorf("Verify(no %s) = %q, %v, want \"\", nil", tt.idHeader, id, err)
			}
		})
	}
}

func TestBearerScheme(t *testing.T) {
	a := verify.Auth{Scheme: "bearer", Params: &verify.BearerParams{Header: "Authorization"}}
	v := mustNew(t, a, plain1)
	tests := []struct {
		value string
		ok    bool
	}{
		{"Bearer " + plain1, true},
		{"bearer " + plain1, true},
		{"BEARER " + plain1, true},
		{"Token " + plain1, false},
		{"Bearer" + plain1, false},
		{"Bearer " + strings.ToUpper(plain1), false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			h := http.Header{}
			h.Set("Authorization", tt.value)
			_, err := verifyAt(v, h, nil, epoch)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%q) = %v, want ok=%v", tt.value, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), plain1) {
				t.Errorf("Verify(%q) error %q reveals the token", tt.value, err)
			}
		})
	}
}

func TestHMACBase64Variants(t *testing.T) {
	a := verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "base64"}}
	v := mustNew(t, a, plain1)
	m := hmac.New(sha256.New, []byte(plain1))
	m.Write(body)
	mac := m.Sum(nil)
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"standard padded", base64.StdEncoding.EncodeToString(mac), true},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(mac), true},
		{"url padded", base64.URLEncoding.EncodeToString(mac), true},
		{"standard unpadded", base64.RawStdEncoding.EncodeToString(mac), true},
		{"hex instead", hex.EncodeToString(mac), false},
		{"mixed alphabets", "+" + base64.RawURLEncoding.EncodeToString(mac)[1:42] + "-", false},
		{"standard truncated", base64.StdEncoding.EncodeToString(mac)[:40], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("X-Signature", tt.value)
			_, err := verifyAt(v, h, body, epoch)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%q) = %v, want ok=%v", tt.value, err, tt.ok)
			}
		})
	}
}

// TestHMACBase64AnyMAC checks that each base64 form is accepted whatever characters the MAC
// happens to encode to: a form that works only for some bodies would fail at random in production.
func TestHMACBase64AnyMAC(t *testing.T) {
	a := verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature", Encoding: "base64"}}
	v := mustNew(t, a, plain1)
	forms := []struct {
		name string
		enc  *base64.Encoding
	}{
		{"standard padded", base64.StdEncoding},
		{"standard unpadded", base64.RawStdEncoding},
		{"url padded", base64.URLEncoding},
		{"url unpadded", base64.RawURLEncoding},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			for i := range 64 {
				b := []byte(`{"n":` + strconv.Itoa(i) + `}`)
				m := hmac.New(sha256.New, []byte(plain1))
				m.Write(b)
				value := form.enc.EncodeToString(m.Sum(nil))
				h := http.Header{}
				h.Set("X-Signature", value)
				if _, err := verifyAt(v, h, b, epoch); err != nil {
					t.Fatalf("Verify(%s %q) = %v, want nil", form.name, value, err)
				}
			}
		})
	}
}

func TestKey(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name    string
		scheme  string
		secret  string
		wantKey []byte // nil when refused
	}{
		{"whsec 16 bytes", "standard-webhooks", "whsec_" + b64([]byte("0123456789abcdef")), []byte("0123456789abcdef")},
		{"whsec 32 bytes", "standard-webhooks", "whsec_" + b64(bytes.Repeat([]byte{0xfe}, 32)), bytes.Repeat([]byte{0xfe}, 32)},
		{"whsec 15 bytes", "standard-webhooks", "whsec_" + b64([]byte("0123456789abcde")), nil},
		{"whsec empty", "standard-webhooks", "whsec_", nil},
		{"no whsec_ prefix", "standard-webhooks", b64([]byte("0123456789abcdef")), nil},
		{"whsec not base64", "standard-webhooks", "whsec_not*base64*at*all*!!", nil},
		{"whsec url alphabet", "standard-webhooks", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 18)), nil},
		{"whsec unpadded", "standard-webhooks", "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdefg")), nil},
		{"WHSEC upper case", "standard-webhooks", "WHSEC_" + b64([]byte("0123456789abcdef")), nil},
		{"github 16 chars", "github", "0123456789abcdef", []byte("0123456789abcdef")},
		{"github 15 chars", "github", "0123456789abcde", nil},
		{"github empty", "github", "", nil},
		{"stripe whsec taken literally", "stripe", "whsec_test_secret", []byte("whsec_test_secret")},
		{"stripe 15 chars", "stripe", "whsec_123456789", nil},
		{"hmac 15 chars", "hmac-sha256", "0123456789abcde", nil},
		{"bearer 15 chars", "bearer", "0123456789abcde", nil},
		{"bearer 16 chars", "bearer", "0123456789abcdef", []byte("0123456789abcdef")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keyOf(t, tt.scheme, tt.secret)
			if tt.wantKey == nil {
				if !errors.Is(err, verify.ErrNoSecret) {
					t.Fatalf("Key(%s, %q) = %x, %v, want ErrNoSecret", tt.scheme, tt.secret, k, err)
				}
				if len(tt.secret) > 6 && strings.Contains(err.Error(), tt.secret[6:]) {
					t.Errorf("Key(%s) error %q reveals the secret", tt.scheme, err)
				}
				// New fails closed with such a secret, alone or next to a good one.
				if _, err := verify.New(verify.Auth{Scheme: tt.scheme}, []string{plain1Of(tt.scheme), tt.secret}); !errors.Is(err, verify.ErrNoSecret) {
					t.Errorf("New(%s, [good, %q]) = %v, want ErrNoSecret", tt.scheme, tt.secret, err)
				}
				return
			}
			if err != nil || !bytes.Equal(k, tt.wantKey) {
				t.Fatalf("Key(%s, %q) = %x, %v, want %x, nil", tt.scheme, tt.secret, k, err, tt.wantKey)
			}
		})
	}
}

func plain1Of(scheme string) string {
	if scheme == "standard-webhooks" {
		return swSecret1
	}
	return plain1
}

func TestNewFailsClosed(t *testing.T) {
	for _, s := range verify.Schemes() {
		t.Run(s, func(t *testing.T) {
			a, err := verify.CompileAuth(s, 0, nil)
			if err != nil {
				t.Skipf("needs parameters: %v (TestRecipeKeys)", err)
			}
			for _, secrets := range [][]string{nil, {}} {
				v, err := verify.New(a, secrets)
				if !errors.Is(err, verify.ErrNoSecret) || v != nil {
					t.Errorf("New(%s, %q) = %v, %v, want nil, ErrNoSecret", s, secrets, v, err)
				}
			}
		})
	}
	t.Run("unknown scheme", func(t *testing.T) {
		if v, err := verify.New(verify.Auth{Scheme: "md5"}, []string{plain1}); err == nil {
			t.Errorf("New(md5) = %v, nil, want an error", v)
		}
		if _, err := (verify.Signer{Auth: verify.Auth{Scheme: "md5"}, Secret: plain1}).Sign(body, "x", epoch); err == nil {
			t.Errorf("Signer{md5}.Sign = nil error, want one")
		}
	})
	t.Run("signer with short secret", func(t *testing.T) {
		if _, err := (verify.Signer{Auth: verify.Auth{Scheme: "github"}, Secret: "short"}).Sign(body, "x", epoch); !errors.Is(err, verify.ErrNoSecret) {
			t.Errorf("Signer{short}.Sign = %v, want ErrNoSecret", err)
		}
	})
}

// hexSig is the MAC of the public Stripe vector, in hex.
const hexSig = "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a"

// parserSeeds returns the headers of the three parser tables plus a few odd ones, to seed each
// parser's fuzz target with all of them: a header meant for one parser is a fine input to another.
func parserSeeds() []string {
	var out []string
	for _, tt := range standardSigTests {
		out = append(out, tt.header)
	}
	for _, tt := range stripeHeaderTests {
		out = append(out, tt.header)
	}
	for _, tt := range gitHubSigTests {
		out = append(out, tt.header)
	}
	return append(out, extraSeeds...)
}

// extraSeeds are headers no table holds.
var extraSeeds = []string{
	"",
	"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	"v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
	"t=1492774577,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
	"t=1492774577, v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a,v0=00",
	"t=1,t=2,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
	"t=-1,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
	"sha256=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
	"sha256=88A022085C6BDB887B02CB26FF76DD681234D9675C0F22844059F55552A8883A",
	"sha256=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a888",
	"sha256=zz",
	"\x00\xff,=",
}

var standardSigTests = []struct {
	header string
	want   int
}{
	{"", 0},
	{"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", 1},
	{"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 2},
	{"v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", 0},
	{"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", 0},
	{"v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", 0},
	{strings.Repeat("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ", 20), 8},
}

func TestParseStandardSignatures(t *testing.T) {
	for _, tt := range standardSigTests {
		t.Run(tt.header, func(t *testing.T) {
			got := verify.ParseStandardSignatures(tt.header)
			if len(got) != tt.want {
				t.Fatalf("ParseStandardSignatures(%q) = %d signatures, want %d", tt.header, len(got), tt.want)
			}
			checkSigs(t, got)
		})
	}
}

var stripeHeaderTests = []struct {
	header string
	ts     string
	n      int
	ok     bool
}{
	{"t=1492774577,v1=" + hexSig, "1492774577", 1, true},
	{"v1=" + hexSig + ",t=1492774577", "1492774577", 1, true},
	{"t=1492774577, v1=" + hexSig + ", v1=" + hexSig, "1492774577", 2, true},
	{"t=1492774577,v0=" + hexSig + ",v1=" + hexSig, "1492774577", 1, true},
	{"t=1492774577,v1=" + hexSig[:62], "", 0, false},
	{"t=1492774577,v1=" + strings.ToUpper(hexSig), "1492774577", 1, true},
	{"t=1492774577", "", 0, false},
	{"v1=" + hexSig, "", 0, false},
	{"t=1,t=1,v1=" + hexSig, "", 0, false},
	{"t=abc,v1=" + hexSig, "", 0, false},
	{"t=0,v1=" + hexSig, "", 0, false},
	{"t=,v1=" + hexSig, "", 0, false},
	{"t=1492774577,v1=" + strings.Repeat("x", 64), "", 0, false},
	{"t=1492774577" + strings.Repeat(",v1="+hexSig, 12), "1492774577", 8, true},
}

func TestParseStripeHeader(t *testing.T) {
	for _, tt := range stripeHeaderTests {
		t.Run(tt.header, func(t *testing.T) {
			ts, sigs, ok := verify.ParseStripeHeader(tt.header)
			if ok != tt.ok || ts != tt.ts || len(sigs) != tt.n {
				t.Fatalf("ParseStripeHeader(%q) = %q, %d sigs, %v, want %q, %d, %v", tt.header, ts, len(sigs), ok, tt.ts, tt.n, tt.ok)
			}
			checkSigs(t, sigs)
		})
	}
}

var gitHubSigTests = []struct {
	header string
	ok     bool
}{
	{"sha256=" + hexSig, true},
	{"sha256=" + strings.ToUpper(hexSig), true},
	{"sha256=" + hexSig[:62], false},
	{"sha256=" + hexSig + "00", false},
	{"sha256=" + hexSig[:63] + "g", false},
	{"sha1=" + hexSig, false},
	{hexSig, false},
	{" sha256=" + hexSig, false},
	{"", false},
}

func TestParseGitHubSignature(t *testing.T) {
	for _, tt := range gitHubSigTests {
		t.Run(tt.header, func(t *testing.T) {
			b, ok := verify.ParseGitHubSignature(tt.header)
			if ok != tt.ok {
				t.Fatalf("ParseGitHubSignature(%q) = %x, %v, want ok=%v", tt.header, b, ok, tt.ok)
			}
			if ok && hex.EncodeToString(b) != hexSig {
				t.Errorf("ParseGitHubSignature(%q) = %x, want %s", tt.header, b, hexSig)
			}
		})
	}
}

func checkSigs(t *testing.T, sigs [][]byte) {
	t.Helper()
	if len(sigs) > 8 {
		t.Errorf("got %d signatures, want at most 8", len(sigs))
	}
	for i, s := range sigs {
		if len(s) != sha256.Size {
			t.Errorf("signature %d has %d bytes, want %d", i, len(s), sha256.Size)
		}
	}
}

func FuzzParseStandardSignatures(f *testing.F) {
	for _, s := range parserSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sigs := verify.ParseStandardSignatures(header)
		checkSigs(t, sigs)
		// Every signature comes from a "v1,<44 base64 characters>" field of the header.
		var fields [][]byte
		for _, part := range strings.Fields(header) {
			if enc, ok := strings.CutPrefix(part, "v1,"); ok && len(enc) == 44 {
				if b, err := base64.StdEncoding.DecodeString(enc); err == nil && len(b) == sha256.Size {
					fields = append(fields, b)
				}
			}
		}
		want := min(len(fields), 8)
		if len(sigs) != want {
			t.Fatalf("ParseStandardSignatures(%q) = %d signatures, want %d", header, len(sigs), want)
		}
		for i := range sigs {
			if !bytes.Equal(sigs[i], fields[i]) {
				t.Fatalf("ParseStandardSignatures(%q)[%d] = %x, want %x", header, i, sigs[i], fields[i])
			}
		}
	})
}

func FuzzParseStripeHeader(f *testing.F) {
	for _, s := range parserSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		ts, sigs, ok := verify.ParseStripeHeader(header)
		if !ok {
			if ts != "" || sigs != nil {
				t.Fatalf("ParseStripeHeader(%q) = %q, %d sigs, false, want empty results", header, ts, len(sigs))
			}
			return
		}
		checkSigs(t, sigs)
		if len(sigs) == 0 {
			t.Fatalf("ParseStripeHeader(%q) ok with no signature", header)
		}
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n <= 0 || len(ts) > 12 {
			t.Fatalf("ParseStripeHeader(%q) timestamp = %q, want a positive Unix time", header, ts)
		}
		if !strings.Contains(header, "t="+ts) {
			t.Fatalf("ParseStripeHeader(%q) timestamp %q is not in the header", header, ts)
		}
		lower := strings.ToLower(header)
		for _, s := range sigs {
			if !strings.Contains(lower, "v1="+hex.EncodeToString(s)) {
				t.Fatalf("ParseStripeHeader(%q) signature %x is not in the header", header, s)
			}
		}
	})
}

func FuzzParseGitHubSignature(f *testing.F) {
	for _, s := range parserSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		b, ok := verify.ParseGitHubSignature(header)
		if !ok {
			return
		}
		if len(b) != sha256.Size {
			t.Fatalf("ParseGitHubSignature(%q) = %d bytes, want %d", header, len(b), sha256.Size)
		}
		if want := "sha256=" + hex.EncodeToString(b); strings.ToLower(header) != want || !strings.HasPrefix(header, "sha256=") {
			t.Fatalf("ParseGitHubSignature(%q) = %x, which is not what the header says", header, b)
		}
	})
}

// FuzzSignVerify checks that what Signer signs verifies, and that changing one body byte breaks it,
// for every scheme that signs the body.
func FuzzSignVerify(f *testing.F) {
	f.Add(body, "evt_1", int64(0), uint8(0))
	f.Add([]byte{}, "", int64(299), uint8(3))
	f.Add([]byte("x"), "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(-299), uint8(5))
	all := schemes()
	f.Fuzz(func(t *testing.T, b []byte, id string, skew int64, which uint8) {
		sc := all[int(which)%len(all)]
		if !sc.signsBody || len(b) == 0 {
			return
		}
		if sc.auth.Scheme == "standard-webhooks" && id == "" {
			id = "x"
		}
		skew %= int64(tol / time.Second)
		v := mustNew(t, sc.auth, sc.secrets[0], sc.secrets[1])
		hdr, err := verify.Signer{Auth: sc.auth, Secret: sc.secrets[1]}.Sign(b, id, epoch)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		for k, val := range hdr {
			h[http.CanonicalHeaderKey(k)] = []string{val}
		}
		now := epoch.Add(time.Duration(skew) * time.Second)
		if _, err := verifyAt(v, h, b, now); err != nil {
			t.Fatalf("%s: Verify(signed) = %v, want nil", sc.name, err)
		}
		tampered := bytes.Clone(b)
		tampered[int(which)%len(b)] ^= 0x20
		if _, err := verifyAt(v, h, tampered, now); !errors.Is(err, verify.ErrBadSignature) {
			t.Fatalf("%s: Verify(tampered) = %v, want ErrBadSignature", sc.name, err)
		}
	})
}

// verifyAt runs a verifier on a POST with headers h and body b at now, returning the signed id.
func verifyAt(v verify.Verifier, h http.Header, b []byte, now time.Time) (string, error) {
	res, err := v.Verify(&verify.Request{Method: http.MethodPost, Header: h, Body: b, Now: now})
	return res.ID, err
}

// keyOf returns the MAC key a secret stands for under a scheme.
func keyOf(t *testing.T, scheme, secret string) ([]byte, error) {
	t.Helper()
	a, err := verify.CompileAuth(scheme, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := a.Key(secret)
	return k.MAC, err
}
