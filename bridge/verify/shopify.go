package verify

// shopify: Shopify's webhooks ("Verify webhook deliveries", shopify.dev): the base64 HMAC-SHA256
// of the raw body keyed by the app's client secret, in X-Shopify-Hmac-Sha256; Events deliveries
// (developer preview) send Shopify-Hmac-Sha256 without the X- prefix, so that one is read when the
// first is absent. Nothing else is signed: X-Shopify-Webhook-Id and X-Shopify-Event-Id are headers
// outside the signature and never key replays (a digest of the body does; Shopify retries with
// the original payload).
func init() {
	registerRecipe("shopify", "Shopify: X-Shopify-Hmac-Sha256, base64 HMAC-SHA256 of the body", Recipe{
		Signed:       "{body}",
		MAC:          "hmac-sha256",
		Key:          "raw",
		Signature:    SignatureSpec{Header: "X-Shopify-Hmac-Sha256", Encoding: "base64"},
		altHeaders:   []string{"Shopify-Hmac-Sha256"},
		senderIssued: true,
	})
}
