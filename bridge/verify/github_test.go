package verify_test

import (
	"encoding/hex"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestGitHubPublishedVector runs the example of "Validating webhook deliveries",
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries (github/docs
// content/webhooks/using-webhooks/validating-webhook-deliveries.md, commit 0c4564ac): secret
// "It's a Secret to Everybody", payload "Hello, World!".
func TestGitHubPublishedVector(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	a := named(t, "github")
	v := mustVerifier(t, a, secret)
	expectOK(t, v, post("", "Hello, World!", epoch, "X-Hub-Signature-256", sig, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), "")
	expectRefused(t, v, post("", "Hello, World?", epoch, "X-Hub-Signature-256", sig), verify.ErrBadSignature, secret)
	// The legacy SHA-1 header alone is not enough.
	sha1Sig := "sha1=" + hex.EncodeToString(mac(sha1New, secret, "Hello, World!"))
	expectRefused(t, v, post("", "Hello, World!", epoch, "X-Hub-Signature", sha1Sig), verify.ErrBadSignature, secret)
	m := &verify.Message{Body: []byte("Hello, World!"), ID: "72d3162e", Time: epoch}
	r := signWith(t, a, secret, m)
	if got := r.Header.Values("X-Hub-Signature-256"); len(got) != 1 || got[0] != sig {
		t.Errorf("Sign(GitHub's example) = %q, want %q", got, sig)
	}
}

// TestGitHubFormDelivery checks a form delivery (content type application/x-www-form-urlencoded,
// the JSON in payload): the MAC covers the raw form bytes, as sent.
func TestGitHubFormDelivery(t *testing.T) {
	const secret = "github-webhook-secret-0123"
	body := "payload=%7B%22zen%22%3A%22Anything+added+dilutes+everything+else.%22%2C%22hook_id%22%3A109948940%7D"
	sig := "sha256=" + hex.EncodeToString(mac(sha256New, secret, body))
	v := mustVerifier(t, named(t, "github"), secret)
	expectOK(t, v, post("", body, epoch, "X-Hub-Signature-256", sig), "")
	// The same form, encoded differently, is other bytes: refused.
	expectRefused(t, v, post("", "payload=%7b%22zen%22%3a%22Anything+added+dilutes+everything+else.%22%2c%22hook_id%22%3a109948940%7d", epoch,
		"X-Hub-Signature-256", sig), verify.ErrBadSignature, secret)
}
