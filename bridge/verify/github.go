package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// GitHub (docs.github.com, "Validating webhook deliveries"): X-Hub-Signature-256 is "sha256=" and
// the hex HMAC-SHA256 of the raw body, keyed by the secret's bytes. X-GitHub-Delivery is not
// signed, so it never keys replays.
func init() {
	Register(Scheme{
		Name:    "github",
		Summary: "GitHub: X-Hub-Signature-256, HMAC-SHA256 of the body",
		Compile: fixedMethod(gitHubMethod{}),
	})
}

type gitHubMethod struct{ traits }

func (gitHubMethod) Key(secret string) (Key, error) { return rawSecret.Parse(secret) }
func (gitHubMethod) NewSecret() (string, error)     { return rawSecret.generate() }

func (gitHubMethod) Verifier(keys []Key, _ time.Duration) Verifier {
	return &gitHub{macs: newMACs(keys)}
}

func (gitHubMethod) Sign(secret string, m *Message) error {
	k, err := rawSecret.Parse(secret)
	if err != nil {
		return err
	}
	m.Header["X-Hub-Signature-256"] = "sha256=" + hex.EncodeToString(hmacSHA256(k.MAC, m.Body))
	if m.ID != "" {
		m.Header["X-GitHub-Delivery"] = m.ID
	}
	return nil
}

// gitHub verifies X-Hub-Signature-256.
type gitHub struct {
	macs macs
}

func (v *gitHub) Verify(r *Request) (Result, error) {
	sigText, err := single(r.Header, "X-Hub-Signature-256")
	if err != nil {
		return Result{}, err
	}
	sig, ok := ParseGitHubSignature(sigText)
	if !ok {
		return Result{}, fmt.Errorf("%w: malformed X-Hub-Signature-256", ErrBadSignature)
	}
	if !v.macs.match([][]byte{sig}, r.Body) {
		return Result{}, fmt.Errorf("%w: X-Hub-Signature-256 does not match", ErrBadSignature)
	}
	// X-GitHub-Delivery is not signed: it is not an id this signature vouches for.
	return Result{}, nil
}

// ParseGitHubSignature decodes "sha256=<64 hex digits>".
func ParseGitHubSignature(header string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(hexSig)
	return b, err == nil
}
