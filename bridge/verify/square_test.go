package verify_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestSquarePublishedVectors runs the vectors of Square's official Python SDK,
// square/square-python-sdk tests/integration/test_webhooks_helper.py at commit
// ef5c175fb960def97100ed453368829d9c910b35 (the same vector is in tests/utilities at 243f83b2):
// Square's docs publish none. The signature key is used as text; the URL is the subscription's
// notification URL, which is public_url + /hooks/square in Hookbridge.
func TestSquarePublishedVectors(t *testing.T) {
	const (
		key      = "Ibxx_5AKakO-3qeNVR61Dw"
		notifURL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
		body     = `{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}`
		sig      = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
	)
	a := named(t, "square")
	v := vectorVerifier(t, a, key)
	h := "X-Square-Hmacsha256-Signature"
	expectOK(t, v, post(notifURL, body, epoch, h, sig), "") // event_id is in the body (event.id)
	// The SDK test's negative cases: a URL one character short, another key, a reformatted body
	// (the same JSON pretty-printed), a changed created_at.
	expectRefused(t, v, post("https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9", body, epoch, h, sig), verify.ErrBadSignature, key)
	expectRefused(t, vectorVerifier(t, a, "MCmhFRxGX82xMwg5FsaoQA"), post(notifURL, body, epoch, h, sig), verify.ErrBadSignature)
	expectRefused(t, v, post(notifURL, strings.ReplaceAll(body, ",", ", "), epoch, h, sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post(notifURL, strings.Replace(body, "2022-07-13", "2022-06-13", 1), epoch, h, sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post("", body, epoch, h, sig), verify.ErrBadSignature, key) // no public_url

	// test_signature_validation_escaped_pass: '>' and '<' stay as sent (a re-serializing JSON
	// encoder would write \u003e and break it).
	v2 := vectorVerifier(t, a, "signature-key")
	expectOK(t, v2, post("https://webhook.site/webhooks", `{"data":{"type":"webhooks","id":">id<"}}`, epoch, h, "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="), "")
	expectRefused(t, v2, post("https://webhook.site/webhooks", `{"data":{"type":"webhooks","id":"\u003eid\u003c"}}`, epoch, h, "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="), verify.ErrBadSignature)

	m := &verify.Message{URL: notifURL, Body: []byte(body), Time: epoch}
	if got := signWith(t, a, key, m).Header.Values(h); len(got) != 1 || got[0] != sig {
		t.Errorf("Sign(SDK vector) = %q, want %q", got, sig)
	}
}

// TestSquareLegacyHeader checks the legacy x-square-signature, the base64 HMAC-SHA1 of the same
// URL + body (older revisions of developer.squareup.com/docs/webhooks/step3validate; no published
// vector exists): it is read only when x-square-hmacsha256-signature is absent.
func TestSquareLegacyHeader(t *testing.T) {
	const key, u, body = "square-signature-key-0123", "https://hooks.example.net/hooks/square", `{"event_id":"e1","type":"payment.updated"}`
	v := mustVerifier(t, named(t, "square"), key)
	sha1Sig := base64.StdEncoding.EncodeToString(mac(sha1New, key, u+body))
	sha256Sig := base64.StdEncoding.EncodeToString(mac(sha256New, key, u+body))
	expectOK(t, v, post(u, body, epoch, "X-Square-Signature", sha1Sig), "")
	expectOK(t, v, post(u, body, epoch, "X-Square-Hmacsha256-Signature", sha256Sig, "X-Square-Signature", sha1Sig), "")
	// When the SHA-256 header is there, it is the one judged.
	expectRefused(t, v, post(u, body, epoch, "X-Square-Hmacsha256-Signature", sha1Sig, "X-Square-Signature", sha1Sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post(u, body, epoch, "X-Square-Signature", sha256Sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post(u, body+" ", epoch, "X-Square-Signature", sha1Sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post(u, body, epoch), verify.ErrBadSignature, key)
}
