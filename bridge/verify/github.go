package verify

// github: GitHub's webhooks ("Validating webhook deliveries", docs.github.com): X-Hub-Signature-256
// is "sha256=" and the hex HMAC-SHA256 of the raw body (JSON, or the form with the JSON in
// payload), keyed by the secret's bytes. The legacy SHA-1 X-Hub-Signature is ignored.
// X-GitHub-Delivery is not signed (and stays the same on a redelivery), so it never keys
// replays: a digest of the body does.
var gitHubRecipe = Recipe{
	Signed:           "{body}",
	MAC:              "hmac-sha256",
	Key:              "raw",
	Signature:        SignatureSpec{Header: "X-Hub-Signature-256", Encoding: "hex", Prefix: "sha256="},
	unsignedIDHeader: "X-GitHub-Delivery",
}

func init() {
	registerRecipe("github", "GitHub: X-Hub-Signature-256, sha256= and the hex HMAC-SHA256 of the body", gitHubRecipe)
}

// ParseGitHubSignature decodes "sha256=<64 hex digits>", as the github recipe reads it.
func ParseGitHubSignature(header string) ([]byte, bool) {
	cands, err := lookupRecipe("github").parseSingle("X-Hub-Signature-256", header, nil)
	if err != nil {
		return nil, false
	}
	return cands[0], true
}

// lookupRecipe returns a registered named recipe's method.
func lookupRecipe(name string) *recipeMethod {
	sc, _ := Lookup(name)
	m, _ := sc.Compile(nil)
	return m.(*recipeMethod)
}
