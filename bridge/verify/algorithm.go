package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what Twilio, Enode and Square's legacy header use; HMAC-SHA1 is not broken
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// algorithm is a recipe's mac: an HMAC, or a signature checked with the sender's public key.
type algorithm struct {
	name string
	// hash is the HMAC's hash, or the digest a public-key signature covers (nil for Ed25519,
	// which signs the message itself).
	hash func() hash.Hash
	// hmac reports an HMAC; else a public-key signature.
	hmac bool
	// size is the exact signature length in bytes, 0 when it varies (RSA: the key's size; ECDSA:
	// DER or r||s).
	size int
	// formats are the key formats the algorithm takes.
	formats []string
	// verify checks a public-key signature over msg (Ed25519) or digest (the others).
	verify func(pub crypto.PublicKey, msg, digest, sig []byte) bool
	// sign makes a public-key signature, for Signer.
	sign func(priv crypto.Signer, msg, digest []byte) ([]byte, error)
	// checkKey reports a public key of the wrong type or size.
	checkKey func(pub crypto.PublicKey) error
}

// maxSignatureLen bounds a decoded signature (an RSA-8192 signature is 1,024 bytes).
const maxSignatureLen = 1024

var hmacFormats = []string{"raw", "base64", "hex", "whsec"}

var algorithms = map[string]*algorithm{
	"hmac-sha1":   {name: "hmac-sha1", hash: sha1.New, hmac: true, size: sha1.Size, formats: hmacFormats},
	"hmac-sha256": {name: "hmac-sha256", hash: sha256.New, hmac: true, size: sha256.Size, formats: hmacFormats},
	"hmac-sha512": {name: "hmac-sha512", hash: sha512.New, hmac: true, size: sha512.Size, formats: hmacFormats},
	"ed25519": {
		name: "ed25519", size: ed25519.SignatureSize, formats: []string{"whpk", "pem"},
		verify: func(pub crypto.PublicKey, msg, _, sig []byte) bool {
			return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
		},
		sign: func(priv crypto.Signer, msg, _ []byte) ([]byte, error) {
			return priv.Sign(nil, msg, crypto.Hash(0))
		},
		checkKey: func(pub crypto.PublicKey) error {
			if _, ok := pub.(ed25519.PublicKey); !ok {
				return fmt.Errorf("%w: not an Ed25519 public key", ErrNoSecret)
			}
			return nil
		},
	},
	"rsa-pkcs1v15-sha256": {
		name: "rsa-pkcs1v15-sha256", hash: sha256.New, formats: []string{"pem"},
		verify: func(pub crypto.PublicKey, _, digest, sig []byte) bool {
			return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest, sig) == nil
		},
		sign: func(priv crypto.Signer, _, digest []byte) ([]byte, error) {
			return priv.Sign(rand.Reader, digest, crypto.SHA256)
		},
		checkKey: checkRSA,
	},
	"rsa-pss-sha256": {
		name: "rsa-pss-sha256", hash: sha256.New, formats: []string{"pem"},
		verify: func(pub crypto.PublicKey, _, digest, sig []byte) bool {
			// Any salt length: Schlage's signer (AWS KMS RSASSA_PSS_SHA_256) uses 32, others
			// the maximum; the salt adds nothing an attacker could choose.
			return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		},
		sign: func(priv crypto.Signer, _, digest []byte) ([]byte, error) {
			return priv.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
		},
		checkKey: checkRSA,
	},
	"ecdsa-p256-sha256": {
		name: "ecdsa-p256-sha256", hash: sha256.New, formats: []string{"pem"},
		verify: func(pub crypto.PublicKey, _, digest, sig []byte) bool {
			k := pub.(*ecdsa.PublicKey)
			if len(sig) == 64 { // r||s, as JOSE writes it
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				return ecdsa.Verify(k, digest, r, s)
			}
			return ecdsa.VerifyASN1(k, digest, sig)
		},
		sign: func(priv crypto.Signer, _, digest []byte) ([]byte, error) {
			return priv.Sign(rand.Reader, digest, crypto.SHA256)
		},
		checkKey: func(pub crypto.PublicKey) error {
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok || k.Curve != elliptic.P256() {
				return fmt.Errorf("%w: not an ECDSA P-256 public key", ErrNoSecret)
			}
			return nil
		},
	},
}

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

func checkRSA(pub crypto.PublicKey) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: not an RSA public key", ErrNoSecret)
	}
	if k.N.BitLen() < minRSABits {
		return fmt.Errorf("%w: an RSA key of %d bits, fewer than %d", ErrNoSecret, k.N.BitLen(), minRSABits)
	}
	return nil
}

// algorithmNames lists the macs a recipe may name, sorted as the docs list them.
var algorithmNames = []string{"hmac-sha1", "hmac-sha256", "hmac-sha512", "ed25519", "rsa-pkcs1v15-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"}

// secretFormats are the recipe key formats. A public-key format parses the sender's public key.
var secretFormats = map[string]SecretFormat{
	"raw":    rawSecret,
	"base64": base64Secret,
	"hex":    hexSecret,
	"whsec":  whsecSecret,
	"pem":    {Name: "pem", Parse: parsePEMPublic},
	"whpk":   {Name: "whpk", Parse: parseWHPK},
}

var secretFormatNames = []string{"raw", "base64", "hex", "whsec", "pem", "whpk"}

// parseWHPK parses Standard Webhooks' public key: "whpk_" and the base64 of the raw 32-byte
// Ed25519 key.
func parseWHPK(s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, "whpk_")
	if !ok {
		return Key{}, fmt.Errorf("%w: a Standard Webhooks public key starts with whpk_", ErrNoSecret)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Key{}, fmt.Errorf("%w: the part after whpk_ is not base64", ErrNoSecret)
	}
	if len(b) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("%w: the part after whpk_ is %d bytes, an Ed25519 public key is %d", ErrNoSecret, len(b), ed25519.PublicKeySize)
	}
	return Key{Public: ed25519.PublicKey(b)}, nil
}

// pemBody returns the DER inside a PEM block of the given types, tolerating what pasting a PEM
// into a one-line field does to it: its line breaks turned into spaces, or gone.
func pemBody(s string, types ...string) ([]byte, string, bool) {
	s = strings.TrimSpace(s)
	for _, typ := range types {
		begin, end := "-----BEGIN "+typ+"-----", "-----END "+typ+"-----"
		rest, ok := strings.CutPrefix(s, begin)
		if !ok {
			continue
		}
		inner, ok := strings.CutSuffix(rest, end)
		if !ok {
			return nil, typ, false
		}
		inner = strings.Join(strings.Fields(inner), "")
		der, err := base64.StdEncoding.DecodeString(inner)
		if err != nil {
			return nil, typ, false
		}
		return der, typ, true
	}
	return nil, "", false
}

// parsePEMPublic parses a sender's public key: a PEM "PUBLIC KEY" (SPKI) or "CERTIFICATE", or
// the bare base64 of an SPKI.
func parsePEMPublic(s string) (Key, error) {
	der, typ, ok := pemBody(s, "PUBLIC KEY", "CERTIFICATE")
	switch {
	case ok && typ == "CERTIFICATE":
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return Key{}, fmt.Errorf("%w: the certificate does not parse", ErrNoSecret)
		}
		return Key{Public: cert.PublicKey}, nil
	case !ok && typ != "":
		return Key{}, fmt.Errorf("%w: a malformed PEM %s", ErrNoSecret, typ)
	case !ok:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return Key{}, fmt.Errorf("%w: not a PEM public key (-----BEGIN PUBLIC KEY-----)", ErrNoSecret)
		}
		der = b
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("%w: the public key does not parse", ErrNoSecret)
	}
	return Key{Public: pub}, nil
}

// parseSigningKey parses a sender's private key, for Signer: a PEM "PRIVATE KEY" (PKCS#8),
// "RSA PRIVATE KEY" or "EC PRIVATE KEY", or whsk_ and the base64 of an Ed25519 seed (32 bytes)
// or of seed and public key (64 bytes).
func parseSigningKey(s string) (crypto.Signer, error) {
	if rest, ok := strings.CutPrefix(s, "whsk_"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: the part after whsk_ is not base64", ErrCannotSign)
		}
		switch len(b) {
		case ed25519.SeedSize:
			return ed25519.NewKeyFromSeed(b), nil
		case ed25519.PrivateKeySize:
			k := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
			if !k.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(b[ed25519.SeedSize:])) {
				return nil, fmt.Errorf("%w: the whsk_ key's two halves do not belong together", ErrCannotSign)
			}
			return k, nil
		}
		return nil, fmt.Errorf("%w: a whsk_ key is a 32-byte seed or 64 bytes", ErrCannotSign)
	}
	der, typ, ok := pemBody(s, "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
	if !ok {
		return nil, fmt.Errorf("%w: need the sender's private key (PEM, or whsk_ for Ed25519)", ErrCannotSign)
	}
	var k any
	var err error
	switch typ {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	default:
		k, err = x509.ParseECPrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the private key does not parse", ErrCannotSign)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: not a signing key", ErrCannotSign)
	}
	return signer, nil
}
