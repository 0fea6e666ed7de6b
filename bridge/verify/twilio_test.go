package verify_test

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// twilioString is Twilio's signed string as its docs write it: the URL, then each POST
// parameter sorted by name (values of a repeated name sorted and de-duplicated, as the SDKs do),
// name and value with no delimiter.
func twilioString(u string, params url.Values) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range names {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for i, v := range vals {
			if i == 0 || vals[i-1] != v {
				b.WriteString(k + v)
			}
		}
	}
	return b.String()
}

// TestTwilioPublishedVectors runs the examples Twilio publishes, all with the Auth Token 12345:
//   - the worked example of "Webhooks security", https://www.twilio.com/docs/usage/security
//     (current page: example.com; an older revision of the same page: mycompany.com);
//   - twilio-python's tests/unit/test_request_validator.py at commit
//     306691e793f417b6974640d1ef88785e9de03b2a (ports added or kept, a repeated parameter, a JSON
//     body with bodySHA256).
func TestTwilioPublishedVectors(t *testing.T) {
	docsParams := url.Values{"Digits": {"1234"}, "To": {"+18005551212"}, "From": {"+14158675310"},
		"Caller": {"+14158675310"}, "CallSid": {"CA1234567890ABCDE"}}
	sdkParams := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Digits": {"1234"}, "From": {"+14158675309"},
		"To": {"+18005551212"}, "Caller": {"+14158675309"}}
	const jsonBody = `{"property": "value", "boolean": true}`
	const jsonSum = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	tests := []struct {
		name string
		url  string // the URL the request arrives with (public_url + path + query)
		body string
		form bool
		sig  string
	}{
		{"docs worked example", "https://example.com/myapp.php?foo=1&bar=2", docsParams.Encode(), true, "L/OH5YylLD5NRKLltdqwSvS0BnU="},
		{"docs older revision", "https://mycompany.com/myapp.php?foo=1&bar=2", docsParams.Encode(), true, "GvWf1cFY/Q7PnoempGyD5oXAezc="},
		{"sdk as is", "https://mycompany.com/myapp.php?foo=1&bar=2", sdkParams.Encode(), true, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"sdk https signed with :443", "https://mycompany.com/myapp.php?foo=1&bar=2", sdkParams.Encode(), true, "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"sdk https :443 given, signed without", "https://mycompany.com:443/myapp.php?foo=1&bar=2", sdkParams.Encode(), true, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"sdk http signed with :80", "http://mycompany.com/myapp.php?foo=1&bar=2", sdkParams.Encode(), true, "0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{"sdk http port 1234 kept", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", sdkParams.Encode(), true, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
		{"sdk repeated parameter", "https://mycompany.com/myapp.php?foo=1&bar=2", "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234", true, "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{"sdk json with bodySHA256", "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + jsonSum, jsonBody, false, "a9nBmqA0ju/hNViExpshrM61xv4="},
	}
	a := named(t, "twilio")
	v := vectorVerifier(t, a, "12345")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			if tt.form {
				ct = "application/x-www-form-urlencoded"
			}
			r := post(tt.url, tt.body, epoch, "Content-Type", ct, "X-Twilio-Signature", tt.sig)
			expectOK(t, v, r, "") // Twilio signs no id: a message's Sid is in the body
			// One changed parameter, or the URL as a proxy may rewrite it, is refused.
			changed := post(tt.url, strings.Replace(tt.body, "1234", "1235", 1)+"&x=1", epoch, "X-Twilio-Signature", tt.sig)
			expectRefused(t, v, changed, verify.ErrBadSignature, "12345")
			moved := post(strings.Replace(tt.url, "/myapp.php", "/myapp.php/", 1), tt.body, epoch, "X-Twilio-Signature", tt.sig)
			expectRefused(t, v, moved, verify.ErrBadSignature, "12345")
			noURL := post("", tt.body, epoch, "X-Twilio-Signature", tt.sig)
			noURL.Query = r.Query
			expectRefused(t, v, noURL, verify.ErrBadSignature, "12345")
		})
	}
	t.Run("docs string to sign", func(t *testing.T) {
		// The page prints the string; the test's own construction must produce it.
		want := "https://example.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675310Digits1234From+14158675310To+18005551212"
		if got := twilioString("https://example.com/myapp.php?foo=1&bar=2", docsParams); got != want {
			t.Errorf("twilioString = %q, want the page's %q", got, want)
		}
	})
	t.Run("json body changed", func(t *testing.T) {
		u := "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + jsonSum
		expectRefused(t, v, post(u, jsonBody+" ", epoch, "X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4="), verify.ErrBadSignature, "12345")
	})
	t.Run("signer reproduces the docs example", func(t *testing.T) {
		m := &verify.Message{URL: "https://example.com/myapp.php?foo=1&bar=2", ContentType: "application/x-www-form-urlencoded",
			Body: []byte(docsParams.Encode()), Time: epoch}
		if got := signWith(t, a, "12345", m).Header.Values("X-Twilio-Signature")[0]; got != "L/OH5YylLD5NRKLltdqwSvS0BnU=" {
			t.Errorf("Sign(docs example) = %q, want L/OH5YylLD5NRKLltdqwSvS0BnU=", got)
		}
		j := &verify.Message{URL: "https://mycompany.com/myapp.php?foo=1&bar=2", Body: []byte(jsonBody), Time: epoch}
		r := signWith(t, a, "12345", j)
		if !strings.HasSuffix(j.URL, "&bodySHA256="+jsonSum) || r.Header.Values("X-Twilio-Signature")[0] != "a9nBmqA0ju/hNViExpshrM61xv4=" {
			t.Errorf("Sign(json) = %s %q, want bodySHA256 added and a9nBmqA0...", j.URL, r.Header.Values("X-Twilio-Signature")[0])
		}
	})
}

// TestTwilioFreshRequests signs fresh requests with Twilio's algorithm: HMAC-SHA1 with the Auth
// Token, and HMAC-SHA256 with a shared key when a webhook rule says so in
// X-Twilio-Webhooks-Signature-Settings (no published vector exists for that mode: "Sign webhooks
// with shared keys", twilio.com/docs/usage/webhooks/webhook-shared-keys, Public Beta).
func TestTwilioFreshRequests(t *testing.T) {
	const token, shared = "0123456789abcdef0123456789abcdef", "shared-key-0123456789abcdef"
	u := "https://hooks.example.net/hooks/twilio?route=sms"
	params := url.Values{"MessageSid": {"SM0123"}, "From": {"+15005550006"}, "To": {"+15005550001"}, "Body": {"Hello + bye & ok"}}
	body := params.Encode()
	s := twilioString(u, params)
	sha1Sig := base64.StdEncoding.EncodeToString(mac(sha1New, token, s))
	sha256Sig := base64.StdEncoding.EncodeToString(mac(sha256New, shared, s))
	v := mustVerifier(t, named(t, "twilio"), token, shared)
	settings := "X-Twilio-Webhooks-Signature-Settings"
	expectOK(t, v, post(u, body, epoch, "X-Twilio-Signature", sha1Sig), "")
	expectOK(t, v, post(u, body, epoch, "X-Twilio-Signature", sha256Sig, settings, "key=KS123,algorithm=HMAC_SHA256"), "")
	for name, r := range map[string]*verify.Request{
		"sha256 signature without the settings header": post(u, body, epoch, "X-Twilio-Signature", sha256Sig),
		"sha1 signature with the sha256 setting":       post(u, body, epoch, "X-Twilio-Signature", sha1Sig, settings, "key=KS123,algorithm=HMAC_SHA256"),
		"an algorithm Twilio does not document":        post(u, body, epoch, "X-Twilio-Signature", sha256Sig, settings, "key=KS123,algorithm=HMAC_SHA512"),
		"settings header repeated":                     post(u, body, epoch, "X-Twilio-Signature", sha256Sig, settings, "algorithm=HMAC_SHA256", settings, "algorithm=HMAC_SHA256"),
		"a parameter added":                            post(u, body+"&NumMedia=0", epoch, "X-Twilio-Signature", sha1Sig),
		"the query changed":                            post(strings.Replace(u, "sms", "voice", 1), body, epoch, "X-Twilio-Signature", sha1Sig),
		"signature repeated":                           post(u, body, epoch, "X-Twilio-Signature", sha1Sig, "X-Twilio-Signature", sha1Sig),
		"no signature":                                 post(u, body, epoch),
		"not a form":                                   post(u, "a=%zz", epoch, "X-Twilio-Signature", sha1Sig),
	} {
		t.Run(name, func(t *testing.T) { expectRefused(t, v, r, verify.ErrBadSignature, token, shared) })
	}
	// The order of the form's parameters on the wire does not matter: Twilio signs them sorted.
	reordered := "To=%2B15005550001&Body=Hello+%2B+bye+%26+ok&MessageSid=SM0123&From=%2B15005550006"
	expectOK(t, v, post(u, reordered, epoch, "X-Twilio-Signature", sha1Sig), "")
	if _, err := named(t, "twilio").NewSecret(); err == nil {
		t.Errorf("NewSecret(twilio) = nil error, want ErrCannotGenerate: Twilio issues the Auth Token")
	}
}
