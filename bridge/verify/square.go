package verify

// square: Square's webhooks ("Verify and Validate an Event Notification",
// developer.squareup.com/docs/webhooks/step3validate, and square/square-python-sdk's
// webhooks_helper): x-square-hmacsha256-signature is the base64 HMAC-SHA256 of the notification URL
// (as configured in the subscription, so public_url + /hooks/square) followed by the raw body,
// keyed by the subscription's signature key as text. Older subscriptions send the legacy
// x-square-signature, the base64 HMAC-SHA1 of the same; it is read only when the SHA-256 header is
// absent. Nothing time-based is signed; the body's event_id keys replays.
func init() {
	sq := func(mac, header string) *recipeMethod {
		return namedRecipe("square "+mac, Recipe{
			Signed:       "{url}{body}",
			MAC:          mac,
			Key:          "raw",
			senderIssued: true,
			Signature:    SignatureSpec{Header: header, Encoding: "base64"},
		})
	}
	Register(Scheme{
		Name:    "square",
		Summary: "Square: x-square-hmacsha256-signature, base64 HMAC-SHA256 of URL + body (needs public_url)",
		Compile: fixedMethod(&headerVariants{variants: []*recipeMethod{
			sq("hmac-sha256", "X-Square-Hmacsha256-Signature"),
			sq("hmac-sha1", "X-Square-Signature"),
		}}),
	})
}
