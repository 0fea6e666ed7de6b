package verify

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// MinSecretLen is the shortest secret accepted, in bytes of key material.
const MinSecretLen = 16

// minSecretLen is MinSecretLen, but for the tests of published vectors whose example secrets
// are shorter (Twilio's "12345"): they lift it (export_test.go).
var minSecretLen = MinSecretLen

// Key is the key material one secret stands for.
type Key struct {
	// MAC is the key of an HMAC (or a bearer token's bytes); nil for a public key.
	MAC []byte
	// Public is the sender's public key (ed25519.PublicKey, *rsa.PublicKey or *ecdsa.PublicKey);
	// nil for a MAC key.
	Public crypto.PublicKey

	variant int // which of a scheme's kinds of secret (keyVariants)
	index   int // the secret's place in the vendor's list, for Explain
}

// SecretFormat turns a vendor's secret, as the user pastes it, into key material.
type SecretFormat struct {
	// Name is the format's name in a recipe's key: ("raw", "whsec", ...).
	Name string
	// Parse validates one secret and returns its key material. Its errors wrap ErrNoSecret and
	// never hold the secret.
	Parse func(secret string) (Key, error)
	// Generate returns a fresh random secret; nil when the sender makes the secret (a public key).
	Generate func() (string, error)
}

// rawSecret is a secret whose bytes are the MAC key (GitHub, Stripe, Slack, ...).
var rawSecret = SecretFormat{
	Name: "raw",
	Parse: func(s string) (Key, error) {
		if len(s) < minSecretLen {
			return Key{}, fmt.Errorf("%w: shorter than %d characters", ErrNoSecret, MinSecretLen)
		}
		return Key{MAC: []byte(s)}, nil
	},
	Generate: func() (string, error) { return randomText(24, hex.EncodeToString) },
}

// whsecSecret is Standard Webhooks' symmetric secret: "whsec_" and the base64 of the key.
var whsecSecret = SecretFormat{
	Name: "whsec",
	Parse: func(s string) (Key, error) {
		rest, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			return Key{}, fmt.Errorf("%w: a standard-webhooks secret starts with whsec_", ErrNoSecret)
		}
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Key{}, fmt.Errorf("%w: the part after whsec_ is not base64", ErrNoSecret)
		}
		if len(k) < minSecretLen {
			return Key{}, fmt.Errorf("%w: shorter than %d bytes", ErrNoSecret, MinSecretLen)
		}
		return Key{MAC: k}, nil
	},
	Generate: func() (string, error) {
		return randomText(24, func(b []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(b) })
	},
}

// base64Secret is a MAC key written in standard base64.
var base64Secret = encodedSecret("base64", base64.StdEncoding.DecodeString, base64.StdEncoding.EncodeToString)

// hexSecret is a MAC key written in hex.
var hexSecret = encodedSecret("hex", hex.DecodeString, hex.EncodeToString)

// encodedSecret returns the format of a MAC key written in the encoding called name, which also
// names the format and the error for a secret that does not decode. A generated secret is 32
// random bytes.
func encodedSecret(name string, decode func(string) ([]byte, error), encode func([]byte) string) SecretFormat {
	return SecretFormat{
		Name: name,
		Parse: func(s string) (Key, error) {
			k, err := decode(s)
			if err != nil {
				return Key{}, fmt.Errorf("%w: not %s", ErrNoSecret, name)
			}
			if len(k) < minSecretLen {
				return Key{}, fmt.Errorf("%w: shorter than %d bytes", ErrNoSecret, MinSecretLen)
			}
			return Key{MAC: k}, nil
		},
		Generate: func() (string, error) { return randomText(32, encode) },
	}
}

func randomText(n int, enc func([]byte) string) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return enc(b), nil
}

// generate returns a fresh secret of the format, or ErrCannotGenerate.
func (f SecretFormat) generate() (string, error) {
	if f.Generate == nil {
		return "", ErrCannotGenerate
	}
	return f.Generate()
}
