package verify

// NewForVector builds a verifier like New, but takes secrets shorter than MinSecretLen: some
// senders' published examples use short ones (Twilio's "12345", Enode's "example-secret"). Only
// the length check differs; every MAC is computed by the same code as in production.
func NewForVector(a Auth, secrets []string) (Verifier, error) {
	minSecretLen = 1
	defer func() { minSecretLen = MinSecretLen }()
	return New(a, secrets)
}

// SignForVector signs like Signer, with a short secret (see NewForVector).
func SignForVector(a Auth, secret string, m *Message) error {
	minSecretLen = 1
	defer func() { minSecretLen = MinSecretLen }()
	return Signer{Auth: a, Secret: secret}.SignMessage(m)
}
