package verify

import "strings"

// standard-webhooks: Standard Webhooks 1.0.0 (www.standardwebhooks.com; spec/standard-webhooks.md
// in standard-webhooks/standard-webhooks). The signed content is "webhook-id.webhook-timestamp.body";
// webhook-signature is a space-separated list of "version,base64" items. v1 is HMAC-SHA256 keyed by
// the base64 after whsec_; v1a is Ed25519, verified with the sender's public key, whpk_ and the
// base64 of the raw 32 bytes. A vendor's whsec_ secrets check v1 items, its whpk_ keys v1a items:
// a v1a item is never checked against an HMAC key nor the other way round. The signed
// webhook-id keys replays (a retry keeps it and gets a new timestamp).
func standardWebhooksRecipe(mac, key, version string) Recipe {
	return Recipe{
		Signed: "{id}.{timestamp}.{body}",
		MAC:    mac,
		Key:    key,
		Signature: SignatureSpec{Header: "Webhook-Signature", Encoding: "base64",
			List: &ListSpec{Separator: " ", Pair: ",", Keys: []string{version}}},
		Timestamp: &TimestampSpec{Header: "Webhook-Timestamp", Unit: "seconds"},
		ID:        &IDSpec{Header: "Webhook-Id"},
	}
}

func init() {
	kv := &keyVariants{
		variants: []*recipeMethod{
			namedRecipe("standard-webhooks v1", standardWebhooksRecipe("hmac-sha256", "whsec", "v1")),
			namedRecipe("standard-webhooks v1a", standardWebhooksRecipe("ed25519", "whpk", "v1a")),
		},
		// whpk_ public keys verify v1a; to sign v1a, a whsk_ key or a PEM private key.
		pick: func(secret string) int {
			for _, p := range []string{"whpk_", "whsk_", "-----BEGIN"} {
				if strings.HasPrefix(strings.TrimSpace(secret), p) {
					return 1
				}
			}
			return 0
		},
	}
	Register(Scheme{
		Name:    "standard-webhooks",
		Summary: "Standard Webhooks: v1 HMAC-SHA256 (whsec_) or v1a Ed25519 (whpk_) of id.timestamp.body",
		Compile: fixedMethod(kv),
	})
}

// ParseStandardSignatures returns the decoded v1 signatures of a webhook-signature header, as the
// standard-webhooks recipe reads it: a space-separated list of "version,base64". Other versions and
// malformed entries are skipped; at most 8 are kept.
func ParseStandardSignatures(header string) [][]byte {
	sc, _ := Lookup("standard-webhooks")
	m, _ := sc.Compile(nil)
	sigs, _, _ := m.(*keyVariants).variants[0].parseList(header, nil)
	return sigs
}
