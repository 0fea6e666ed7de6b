package verify_test

import (
	"encoding/base64"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestShopifyFreshRequests signs requests as "Verify webhook deliveries"
// (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries) says: the base64 HMAC-SHA256
// of the raw body keyed by the app's client secret. Shopify publishes no vector (its docs and
// shopify-app-js compute one at test time). Events deliveries ("Verify Events deliveries",
// shopify.dev/docs/apps/build/events/verify-deliveries) use Shopify-Hmac-Sha256 without the X-.
func TestShopifyFreshRequests(t *testing.T) {
	const secret = "shpss_0123456789abcdef0123456789ab"
	body := `{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2025-04-22T14:30:00-05:00"}`
	sig := base64.StdEncoding.EncodeToString(mac(sha256New, secret, body))
	v := mustVerifier(t, named(t, "shopify"), secret)
	expectOK(t, v, post("", body, epoch, "X-Shopify-Hmac-Sha256", sig, "X-Shopify-Topic", "products/update",
		"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5"), "")
	expectOK(t, v, post("", body, epoch, "Shopify-Hmac-Sha256", sig), "")
	expectOK(t, v, post("", body, epoch, "X-Shopify-Hmac-Sha256", sig, "Shopify-Hmac-Sha256", sig), "")
	// The id headers are not signed: changing them changes nothing, and no id comes back.
	expectOK(t, v, post("", body, epoch, "X-Shopify-Hmac-Sha256", sig, "X-Shopify-Event-Id", "another"), "")
	expectRefused(t, v, post("", body+"\n", epoch, "X-Shopify-Hmac-Sha256", sig), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, epoch, "X-Shopify-Hmac-Sha256", sig[:43]+"A"), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, epoch, "X-Shopify-Hmac-Sha256", "deadbeef"+sig[8:], "Shopify-Hmac-Sha256", sig), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, epoch), verify.ErrBadSignature, secret)
	m := &verify.Message{Body: []byte(body), Time: epoch}
	if got := signWith(t, named(t, "shopify"), secret, m).Header.Values("X-Shopify-Hmac-Sha256"); len(got) != 1 || got[0] != sig {
		t.Errorf("Sign = %q, want %q", got, sig)
	}
}
