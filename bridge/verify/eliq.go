package verify

// eliq: Eliq's webhooks, as API Evangelist's transcription of developer.eliq.com/doc/webhooks
// states them (the page itself could not be read; see eliq_test.go): X-Eliq-Signature is
// "t=<unix>,sha256=<hex>", the hex HMAC-SHA256 of "t.body" keyed by the shared secret's bytes.
// Retries are re-signed with a new t; the body's id (/id) keys replays.
func init() {
	registerRecipe("eliq", "Eliq: X-Eliq-Signature t=...,sha256=..., hex HMAC-SHA256 of t.body", Recipe{
		Signed:       "{timestamp}.{body}",
		MAC:          "hmac-sha256",
		Key:          "raw",
		senderIssued: true,
		Signature: SignatureSpec{Header: "X-Eliq-Signature", Encoding: "hex",
			List: &ListSpec{Separator: ",", Pair: "=", Keys: []string{"sha256"}}},
		Timestamp: &TimestampSpec{ListKey: "t", Unit: "seconds"},
	})
}
