package verify

// enode: Enode's webhooks ("Webhooks", developers.enode.com/docs/webhooks): x-enode-signature is
// "sha1=" and the hex HMAC-SHA1 of the raw body (a JSON array of events), keyed by the secret the
// user gave Enode when creating the webhook (its text, not decoded). No timestamp or id is signed;
// x-enode-delivery is outside the signature.
func init() {
	registerRecipe("enode", "Enode: x-enode-signature sha1= hex HMAC-SHA1 of the body", Recipe{
		Signed:    "{body}",
		MAC:       "hmac-sha1",
		Key:       "raw",
		Signature: SignatureSpec{Header: "X-Enode-Signature", Encoding: "hex", Prefix: "sha1="},
	})
}
