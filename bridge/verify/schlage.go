package verify

// schlage: Schlage Home API V2 webhooks (Allegion's example repository
// Yonomi/schlage-home-api-webhook-signature): WebHook-Signature is the base64 RSASSA-PSS SHA-256
// signature of the raw body, made with Allegion's RSA-2048 key; the vendor's secret is Allegion's
// published public key (PEM). Nothing else is signed; the body's eventId keys replays.
func init() {
	registerRecipe("schlage", "Schlage Home: WebHook-Signature, base64 RSA-PSS SHA-256 of the body (public key)", Recipe{
		Signed:    "{body}",
		MAC:       "rsa-pss-sha256",
		Key:       "pem",
		Signature: SignatureSpec{Header: "WebHook-Signature", Encoding: "base64"},
	})
}
