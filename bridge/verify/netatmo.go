package verify

// netatmo: Netatmo's webhooks, as Netatmo's own PHP SDK checks them (Netatmo/Netatmo-API-PHP,
// Examples/Webhook_Server_Example.php): X-Netatmo-secret is the lowercase hex HMAC-SHA256 of the raw
// body keyed by the app's client secret, with no prefix, timestamp or id.
func init() {
	registerRecipe("netatmo", "Netatmo: X-Netatmo-secret, hex HMAC-SHA256 of the body", Recipe{
		Signed:       "{body}",
		MAC:          "hmac-sha256",
		Key:          "raw",
		senderIssued: true,
		Signature:    SignatureSpec{Header: "X-Netatmo-Secret", Encoding: "hex"},
	})
}
