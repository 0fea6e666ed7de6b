package e2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// The senders' test catalog: one vendor per named scheme (and a recipe written in a policy), each
// with a permissive schema. What each sender sends is issue 15's; these tests are about how each
// signs.
const sendersPublicURL = "https://hooks.example.test/webhooks"

// senderCase is one sender as the end-to-end tests play it.
type senderCase struct {
	vendor  string
	secret  string // in the options
	signing string // what the sender signs with; "" = secret
	// body returns a fresh event with id n.
	body        func(n string) string
	contentType string
	query       string            // the query of the URL the sender was given
	header      map[string]string // headers the sender sets and signs ({header:Name})
	unsigned    []string          // headers the sender sends outside the signature
	tolerance   time.Duration     // the timestamp window; 0 for a sender that signs none
	signsID     bool              // the sender signs an event id (a retry keeps it)
	signsURL    bool
}

// senderKeys are the key pairs of the senders that sign with one: PEM public keys (the vendor's
// secret) and private keys (the sender's).
type senderKeys struct {
	rsaPublic, rsaPrivate string
	whpk, whsk            string
}

func newSenderKeys(t *testing.T) senderKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rk)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return senderKeys{
		rsaPublic:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
		rsaPrivate: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		whpk:       "whpk_" + base64.StdEncoding.EncodeToString(pub),
		whsk:       "whsk_" + base64.StdEncoding.EncodeToString(priv.Seed()),
	}
}

func senderCases(k senderKeys) []senderCase {
	return []senderCase{
		{vendor: "slack", secret: "slack-signing-secret-0123456789", tolerance: 5 * time.Minute,
			body: func(n string) string {
				return `{"token":"z26uFbvR1xHJEdHE1OQiO6t8","team_id":"T123ABC456","event":{"type":"reaction_added","user":"U1"},"type":"event_callback","event_id":"Ev` + n + `","event_time":1234567890}`
			}},
		{vendor: "twilio", secret: "0123456789abcdef0123456789abcdef", query: "route=status", signsURL: true,
			body: func(n string) string { return `{"MessageSid":"SM` + n + `","MessageStatus":"delivered"}` }},
		{vendor: "square", secret: "square-signature-key-0123456", signsURL: true,
			body: func(n string) string {
				return `{"merchant_id":"MLEFBHHSJGVHD","type":"payment.updated","event_id":"` + n + `","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"payment","id":"p1"}}`
			}},
		{vendor: "shopify", secret: "shopify-client-secret-0123456",
			body: func(n string) string { return `{"id":` + n + `,"title":"T-Shirt","status":"active"}` }},
		{vendor: "enode", secret: "enode-secret-0123456789abcdef0123456789",
			body: func(n string) string {
				return `[{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z","vehicle":{"id":"` + n + `"}}]`
			}},
		{vendor: "eliq", secret: "eliq-shared-secret-0123456789", tolerance: 5 * time.Minute,
			body: func(n string) string {
				return `{"id":"` + n + `","created_date":"2020-06-02T09:53:10Z","type":"notification_created","object":{"type":"budget_weekly"}}`
			}},
		{vendor: "netatmo", secret: "netatmo-client-secret-0123456",
			body: func(n string) string {
				return `{"user_id":"123","push_type":"NACamera-movement","event_id":"` + n + `"}`
			}},
		{vendor: "github", secret: "github-webhook-secret-0123456", unsigned: []string{"X-GitHub-Delivery"},
			body: func(n string) string { return `{"action":"opened","issue":{"number":` + n + `}}` }},
		{vendor: "stripe", secret: "whsec_stripe_test_0123456789abcdef", tolerance: 5 * time.Minute,
			body: func(n string) string { return `{"id":"evt_` + n + `","object":"event","type":"setup_intent.created"}` }},
		{vendor: "standard-webhooks", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", tolerance: 5 * time.Minute, signsID: true,
			body: func(n string) string { return `{"type":"contact.created","data":{"id":"` + n + `"}}` }},
		{vendor: "standard-webhooks-v1a", secret: k.whpk, signing: k.whsk, tolerance: 5 * time.Minute, signsID: true,
			body: func(n string) string { return `{"type":"contact.created","data":{"id":"` + n + `"}}` }},
		{vendor: "schlage", secret: k.rsaPublic, signing: k.rsaPrivate,
			body: func(n string) string {
				return `{"eventId":"` + n + `","deviceId":"baa9e53e-bf1d-57a5-bbf1-5cf501ec504f","eventType":"CommandUpdate","trigger":"CommandSucceeded"}`
			}},
		{vendor: "custom-recipe", secret: "00112233445566778899aabbccddeeff", header: map[string]string{"X-Account": "acct_42"},
			tolerance: 2 * time.Minute, signsID: true,
			body: func(n string) string { return `{"type":"meter.reading","n":"` + n + `"}` }},
	}
}

// startSenders runs the real binary with the senders' catalog, public_url set and a trusted
// proxy on loopback (whose X-Forwarded-* must still never make the URL).
func startSenders(t *testing.T, cases []senderCase) *bridgetest.Process {
	t.Helper()
	o := bridgetest.DefaultOptions()
	o.LogLevel = "info"
	o.PublicURL = sendersPublicURL
	o.TrustedProxies = []string{"127.0.0.1/32"}
	o.Vendors = nil
	for _, c := range cases {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = c.vendor, []string{c.secret}, 100_000
		o.Vendors = append(o.Vendors, v)
	}
	p := bridgetest.NewProcessCatalog(t, o, bridgetest.Path(t, "testdata", "catalog", "senders", "policies"),
		bridgetest.Path(t, "testdata", "catalog", "senders", "schemas"))
	p.Start()
	return p
}

func (c senderCase) sender(p *bridgetest.Process) bridgetest.Sender {
	cv, ok := p.Catalog.Vendor(c.vendor)
	if !ok {
		p.TB.Fatalf("no policy for %s in the senders' catalog", c.vendor)
	}
	signing := c.signing
	if signing == "" {
		signing = c.secret
	}
	return bridgetest.Sender{Vendor: c.vendor, Auth: cv.Policy.Auth, Secret: signing, PublicURL: sendersPublicURL,
		ContentType: c.contentType, Header: c.header}
}

// TestSendersSign plays each real sender against the real binary: a freshly signed request is
// accepted; the same request again is a duplicate; a one-byte change anywhere the sender signs
// (the body, each signed header, the URL) gets 401; so does a timestamp outside the window, either
// way; and a retry re-signed with a later timestamp is still a duplicate (the replay key is the
// body's, or the signed id, never the signed string).
func TestSendersSign(t *testing.T) {
	cases := senderCases(newSenderKeys(t))
	p := startSenders(t, cases)
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10)
	for i, c := range cases {
		t.Run(c.vendor, func(t *testing.T) {
			s := c.sender(p)
			n := run + strconv.Itoa(i)
			body := []byte(c.body(n))
			now := time.Now()
			req := s.Sign(t, "msg_"+n, body, now, c.query)

			expectStatus(t, p.Post(req.Path, req.Header, req.Body), http.StatusAccepted, "accepted", "a freshly signed request")
			expectStatus(t, p.Post(req.Path, req.Header, req.Body), http.StatusOK, "duplicate", "the same request again")

			// A one-byte change anywhere signed. Each is a new event (another id or body), so only
			// the signature can refuse it.
			for _, at := range []int{0, len(body) / 2, len(body) - 2} {
				bad := req.Clone()
				bad.Body[at] ^= 0x01
				expectStatus(t, p.Post(bad.Path, bad.Header, bad.Body), http.StatusUnauthorized, "", fmt.Sprintf("body byte %d changed", at))
			}
			for name := range req.Header {
				if strings.EqualFold(name, "Content-Type") || slices.Contains(c.unsigned, name) {
					continue
				}
				bad := req.Clone()
				bad.Header[name] = changeByte(bad.Header[name])
				expectStatus(t, p.Post(bad.Path, bad.Header, bad.Body), http.StatusUnauthorized, "", "header "+name+" changed")
			}
			for _, name := range c.unsigned {
				// An unsigned header changes nothing: still the same event.
				again := req.Clone()
				again.Header[name] = changeByte(again.Header[name])
				expectStatus(t, p.Post(again.Path, again.Header, again.Body), http.StatusOK, "duplicate", "unsigned header "+name+" changed")
			}
			if c.signsURL {
				bad := req.Clone()
				bad.Path = strings.Replace(bad.Path, "?", "?x=1&", 1)
				if !strings.Contains(bad.Path, "?") {
					bad.Path += "?x=1"
				}
				expectStatus(t, p.Post(bad.Path, bad.Header, bad.Body), http.StatusUnauthorized, "", "the URL's query changed")
			}
			if c.tolerance > 0 {
				for _, skew := range []time.Duration{-c.tolerance - 30*time.Second, c.tolerance + 30*time.Second} {
					fresh := []byte(c.body(n + "9" + strconv.Itoa(int(skew/time.Second)%10)))
					old := s.Sign(t, "msg_skew_"+n+strconv.FormatInt(int64(skew), 10), fresh, now.Add(skew), c.query)
					expectStatus(t, p.Post(old.Path, old.Header, old.Body), http.StatusUnauthorized, "", fmt.Sprintf("timestamp %v away", skew))
				}
				// Senders re-sign a retry with a fresh timestamp; it must stay a duplicate.
				retry := s.Sign(t, "msg_"+n, body, now.Add(2*time.Second), c.query)
				expectStatus(t, p.Post(retry.Path, retry.Header, retry.Body), http.StatusOK, "duplicate", "a retry re-signed later")
			}
		})
	}
}

// changeByte changes the middle byte of a header value into another printable one.
func changeByte(v string) string {
	b := []byte(v)
	mid := len(b) / 2
	b[mid] ^= 0x01
	if b[mid] < 0x21 || b[mid] > 0x7e || b[mid] == ',' || b[mid] == '=' {
		b[mid] = 'A'
		if v[mid] == 'A' {
			b[mid] = 'B'
		}
	}
	return string(b)
}

func expectStatus(t *testing.T, r bridgetest.Response, status int, word, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d %s, want %d", what, r.Status, r.Raw, status)
	}
	if word != "" && r.Body["status"] != word {
		t.Fatalf("%s: body %s, want status %q", what, r.Raw, word)
	}
}

// TestSendersURLFromPublicURL checks that the URL a URL-signing sender signed is the one
// public_url gives: Host, X-Forwarded-Host and X-Forwarded-Proto (even from a trusted proxy)
// change nothing, and a request signed for the URL those headers would make is refused.
func TestSendersURLFromPublicURL(t *testing.T) {
	cases := senderCases(newSenderKeys(t))
	p := startSenders(t, cases)
	for _, c := range cases {
		if !c.signsURL {
			continue
		}
		t.Run(c.vendor, func(t *testing.T) {
			s := c.sender(p)
			n := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10)
			req := s.Sign(t, "", []byte(c.body(n)), time.Now(), c.query)
			req.Header["X-Forwarded-Host"] = "evil.example"
			req.Header["X-Forwarded-Proto"] = "http"
			req.Header["Forwarded"] = "host=evil.example;proto=http"
			expectStatus(t, p.Post(req.Path, req.Header, req.Body), http.StatusAccepted, "accepted", "signed for public_url, with forwarded headers")

			// Signed for the URL a bridge trusting those headers would build.
			hostSigned := s
			hostSigned.PublicURL = "http://evil.example"
			bad := hostSigned.Sign(t, "", []byte(c.body(n+"1")), time.Now(), c.query)
			bad.Header["X-Forwarded-Host"] = "evil.example"
			bad.Header["X-Forwarded-Proto"] = "http"
			expectStatus(t, p.Post(bad.Path, bad.Header, bad.Body), http.StatusUnauthorized, "", "signed for the forwarded URL")
			local := s
			local.PublicURL = "http://" + p.HTTPAddr
			bad = local.Sign(t, "", []byte(c.body(n+"2")), time.Now(), c.query)
			expectStatus(t, p.Post(bad.Path, bad.Header, bad.Body), http.StatusUnauthorized, "", "signed for the Host it was sent to")
		})
	}
}

// TestSendPlaysEverySender runs `hookbridge send` for each sender against the real binary: it
// signs as the sender does (the URL from public_url, the sender's private key where the vendor
// holds the public one, a signed header) and the bridge accepts it.
func TestSendPlaysEverySender(t *testing.T) {
	keys := newSenderKeys(t)
	cases := senderCases(keys)
	p := startSenders(t, cases)
	dir := t.TempDir()
	policies := bridgetest.Path(t, "testdata", "catalog", "senders", "policies")
	schemas := bridgetest.Path(t, "testdata", "catalog", "senders", "schemas")
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10)
	for i, c := range cases {
		t.Run(c.vendor, func(t *testing.T) {
			file := filepath.Join(dir, c.vendor+".json")
			if err := os.WriteFile(file, []byte(c.body(run+strconv.Itoa(i))), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"send", c.vendor, file, "--url", "http://" + p.HTTPAddr, "--options", filepath.Join(p.Dir, "options.json"),
				"--policies", policies, "--schemas", schemas}
			if c.query != "" {
				args = append(args, "--query", c.query)
			}
			if c.signing != "" {
				key := filepath.Join(dir, c.vendor+".key")
				if err := os.WriteFile(key, []byte(c.signing), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--key", key)
			}
			for k, v := range c.header {
				args = append(args, "--header", k+": "+v)
			}
			code, out, errOut := bridgetest.RunCLI(t, args...)
			if code != 0 || !strings.HasPrefix(out, "202 ") {
				t.Fatalf("send %s = %d %q %q, want 0 and 202", c.vendor, code, out, errOut)
			}
		})
	}
	t.Run("a public-key sender without --key", func(t *testing.T) {
		file := filepath.Join(dir, "schlage.json")
		code, _, errOut := bridgetest.RunCLI(t, "send", "schlage", file, "--url", "http://"+p.HTTPAddr, "--options",
			filepath.Join(p.Dir, "options.json"), "--policies", policies, "--schemas", schemas)
		if code != 1 || !strings.Contains(errOut, "--key FILE") {
			t.Errorf("send schlage without --key = %d %q, want 1 asking for --key", code, errOut)
		}
		if strings.Contains(errOut, "PUBLIC KEY") || strings.Contains(errOut, hex.EncodeToString([]byte(keys.rsaPublic))[:16]) {
			t.Errorf("send's error holds the key: %q", errOut)
		}
	})
}
