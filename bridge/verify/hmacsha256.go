package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// hmac-sha256: the HMAC-SHA256 of the raw body in a header of the policy's choosing, hex or
// base64, after an optional literal prefix; the key is the secret's bytes.
func init() {
	Register(Scheme{
		Name:    "hmac-sha256",
		Summary: "HMAC-SHA256 of the body in a configurable header (header, encoding, prefix)",
		Params:  func() any { return &HMACParams{} },
		Compile: func(p any) (Method, []KeyProblem) {
			hp := p.(*HMACParams)
			var problems []KeyProblem
			if hp.Header == "" {
				hp.Header = "X-Signature"
			} else if !headerNameRE.MatchString(hp.Header) {
				problems = append(problems, KeyProblem{"header", "must be an HTTP header name"})
			}
			switch hp.Encoding {
			case "":
				hp.Encoding = "hex"
			case "hex", "base64":
			default:
				problems = append(problems, KeyProblem{"encoding", "must be hex or base64"})
			}
			if !printable(hp.Prefix) {
				problems = append(problems, KeyProblem{"prefix", "must be printable text"})
			}
			if len(problems) > 0 {
				return nil, problems
			}
			return hmacSHA256Method{p: *hp}, nil
		},
	})
}

// HMACParams are the keys of the hmac-sha256 scheme.
type HMACParams struct {
	// Header carries the signature; default X-Signature.
	Header string `yaml:"header"`
	// Encoding is hex (default) or base64 (standard or URL-safe, padded or not).
	Encoding string `yaml:"encoding"`
	// Prefix is an optional literal before the MAC, such as "sha256=".
	Prefix string `yaml:"prefix"`
}

// printable reports whether s has no control characters (it must travel in a header).
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

type hmacSHA256Method struct {
	traits
	p HMACParams
}

func (hmacSHA256Method) Key(secret string) (Key, error) { return rawSecret.Parse(secret) }
func (hmacSHA256Method) NewSecret() (string, error)     { return rawSecret.generate() }

func (m hmacSHA256Method) Verifier(keys []Key, _ time.Duration) Verifier {
	return &genericHMAC{macs: newMACs(keys), header: m.p.Header, base64: m.p.Encoding == "base64", prefix: m.p.Prefix}
}

func (m hmacSHA256Method) Sign(secret string, msg *Message) error {
	k, err := rawSecret.Parse(secret)
	if err != nil {
		return err
	}
	sum := hmacSHA256(k.MAC, msg.Body)
	enc := hex.EncodeToString(sum)
	if m.p.Encoding == "base64" {
		enc = base64.StdEncoding.EncodeToString(sum)
	}
	msg.Header[m.p.Header] = m.p.Prefix + enc
	return nil
}

// genericHMAC verifies an HMAC-SHA256 of the body in a configurable header.
type genericHMAC struct {
	macs   macs
	header string
	base64 bool
	prefix string
}

func (v *genericHMAC) Verify(r *Request) (Result, error) {
	text, err := single(r.Header, v.header)
	if err != nil {
		return Result{}, err
	}
	text, ok := strings.CutPrefix(text, v.prefix)
	if !ok {
		return Result{}, fmt.Errorf("%w: %s lacks its prefix", ErrBadSignature, v.header)
	}
	var sig []byte
	if v.base64 {
		sig, err = decodeBase64(text)
	} else {
		sig, err = hex.DecodeString(text)
	}
	if err != nil || len(sig) != sha256.Size {
		return Result{}, fmt.Errorf("%w: malformed %s", ErrBadSignature, v.header)
	}
	if !v.macs.match([][]byte{sig}, r.Body) {
		return Result{}, fmt.Errorf("%w: %s does not match", ErrBadSignature, v.header)
	}
	return Result{}, nil // the MAC covers the body only; a policy's id_header is not signed
}
