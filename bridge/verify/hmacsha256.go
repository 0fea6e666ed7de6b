package verify

import "strings"

// hmac-sha256: the HMAC-SHA256 of the raw body in a header of the policy's choosing, hex or
// base64 (either alphabet, padded or not), after an optional literal prefix; the key is the
// secret's bytes. A recipe with fixed keys: {body}, hmac-sha256, raw.
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
			if !printable(hp.Prefix) || len(hp.Prefix) > 64 {
				problems = append(problems, KeyProblem{"prefix", "must be printable text of at most 64 characters"})
			}
			if len(problems) > 0 {
				return nil, problems
			}
			rc, kps := compileRecipe(Recipe{
				Signed:    "{body}",
				MAC:       "hmac-sha256",
				Key:       "raw",
				Signature: SignatureSpec{Header: hp.Header, Encoding: hp.Encoding, Prefix: hp.Prefix},
				anyBase64: true,
			}, "")
			return rc, kps
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
