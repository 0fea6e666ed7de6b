package verify

import (
	"fmt"
	"strings"
	"time"
)

// bearer: the secret itself in a header, Authorization: Bearer {secret} by default. It signs
// nothing: the replay key comes from the body.
func init() {
	Register(Scheme{
		Name:    "bearer",
		Summary: "a token in a header (Authorization: Bearer by default); signs nothing",
		Params:  func() any { return &BearerParams{} },
		Compile: func(p any) (Method, []KeyProblem) {
			bp := p.(*BearerParams)
			if bp.Header == "" {
				bp.Header = "Authorization"
			} else if !headerNameRE.MatchString(bp.Header) {
				return nil, []KeyProblem{{"header", "must be an HTTP header name"}}
			}
			return bearerMethod{header: bp.Header}, nil
		},
	})
}

// BearerParams are the keys of the bearer scheme.
type BearerParams struct {
	// Header carries the token; default Authorization, where it follows "Bearer ".
	Header string `yaml:"header"`
}

type bearerMethod struct {
	traits
	header string
}

func (bearerMethod) Key(secret string) (Key, error) { return rawSecret.Parse(secret) }
func (bearerMethod) NewSecret() (string, error)     { return rawSecret.generate() }

func (m bearerMethod) Verifier(keys []Key, _ time.Duration) Verifier {
	return &bearer{header: m.header, digests: tokenDigests(keys)}
}

func (m bearerMethod) Sign(secret string, msg *Message) error {
	if _, err := rawSecret.Parse(secret); err != nil {
		return err
	}
	if m.authorization() {
		msg.Header[m.header] = "Bearer " + secret
	} else {
		msg.Header[m.header] = secret
	}
	return nil
}

func (m bearerMethod) authorization() bool { return strings.EqualFold(m.header, "Authorization") }

// bearer compares a token in a header with the secrets; digests first, so the comparison takes the
// same time whatever the token's length.
type bearer struct {
	digests [][]byte
	header  string
}

func (v *bearer) Verify(r *Request) (Result, error) {
	text, err := single(r.Header, v.header)
	if err != nil {
		return Result{}, err
	}
	if strings.EqualFold(v.header, "Authorization") {
		scheme, token, ok := strings.Cut(text, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return Result{}, fmt.Errorf("%w: not a Bearer authorization", ErrBadSignature)
		}
		text = token
	}
	return matchToken([]byte(text), v.digests, "token") // a token signs nothing: the id, if any, comes from the body
}
