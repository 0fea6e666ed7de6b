package verify

// stripe: Stripe's webhooks (docs.stripe.com/webhooks): Stripe-Signature is
// "t=<unix>,v1=<hex>[,v1=<hex>...]" (plus a v0 in test mode, ignored), the hex HMAC-SHA256 of
// "t.body" keyed by the whole whsec_ secret string (not decoded, unlike Standard Webhooks).
// Several v1 entries come while a secret is rolled. Retries are re-signed with a new t, so the
// replay key is the body's id at event.id (/id), never the header.
var stripeRecipe = Recipe{
	Signed: "{timestamp}.{body}",
	MAC:    "hmac-sha256",
	Key:    "raw",
	Signature: SignatureSpec{Header: "Stripe-Signature", Encoding: "hex",
		List: &ListSpec{Separator: ",", Pair: "=", Keys: []string{"v1"}}},
	Timestamp: &TimestampSpec{ListKey: "t", Unit: "seconds"},
	secret:    &stripeSecret,
}

// stripeSecret is a Stripe endpoint secret: its whole text is the key, and a fresh one looks
// like Stripe's own (whsec_ and base64).
var stripeSecret = SecretFormat{Name: "raw", Parse: rawSecret.Parse, Generate: whsecSecret.Generate}

func init() {
	registerRecipe("stripe", "Stripe: Stripe-Signature t=...,v1=..., hex HMAC-SHA256 of t.body", stripeRecipe)
}

// ParseStripeHeader returns the timestamp text and the decoded v1 signatures of a Stripe-Signature
// header, as the stripe recipe reads it. It fails when the timestamp is missing, repeated or not
// a Unix time, or when no v1 signature decodes.
func ParseStripeHeader(header string) (ts string, sigs [][]byte, ok bool) {
	rc := lookupRecipe("stripe")
	sigs, ts, err := rc.parseList(header, nil)
	if err != nil {
		return "", nil, false
	}
	if _, ok := parseTimestamp(ts, "seconds"); !ok {
		return "", nil, false
	}
	return ts, sigs, true
}
