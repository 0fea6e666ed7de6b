package verify

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// basic: HTTP Basic authentication (RFC 7617), for senders that offer nothing else (OwnTracks'
// HTTP mode, Particle's and The Things Stack's "auth" settings). The vendor's secret is the
// password. The user name is whatever the sender's user typed, often a person's name: it is not
// checked, and never leaves Verify (not in an error, a result or a log). It signs nothing: the
// replay key comes from the body.
func init() {
	Register(Scheme{
		Name:    "basic",
		Summary: "HTTP Basic authentication: the secret is the password, the user name is not checked; signs nothing",
		Compile: fixedMethod(basicMethod{}),
	})
}

// BasicChallenge is the WWW-Authenticate value a 401 of a basic vendor carries (RFC 9110 section
// 11.6.1 asks every 401 for one). Some senders send credentials only once challenged: Twilio
// "will make the same request with an Authorization header" after "a 401 Unauthorized status
// code, a WWW-Authenticate header and a realm".
const BasicChallenge = `Basic realm="hookbridge", charset="UTF-8"`

// basicUser is the user name `hookbridge send` and tests send.
const basicUser = "hookbridge"

type basicMethod struct{ traits }

func (basicMethod) Key(secret string) (Key, error) {
	k, err := rawSecret.Parse(secret)
	if err == nil && strings.ContainsAny(secret, "\x00\r\n") {
		return Key{}, fmt.Errorf("%w: a password holds no NUL or line break", ErrNoSecret)
	}
	return k, err
}

func (basicMethod) NewSecret() (string, error) { return rawSecret.generate() }

func (basicMethod) Verifier(keys []Key, _ time.Duration) Verifier {
	return &basic{digests: tokenDigests(keys)}
}

func (m basicMethod) Sign(secret string, msg *Message) error {
	if _, err := m.Key(secret); err != nil {
		return err
	}
	msg.Header["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(basicUser+":"+secret))
	return nil
}

// basic compares the password of a Basic authorization with the secrets; digests first, so the
// comparison takes the same time whatever the password's length.
type basic struct {
	digests [][]byte
}

// Challenge returns the WWW-Authenticate value for a 401.
func (*basic) Challenge() string { return BasicChallenge }

func (v *basic) Verify(r *Request) (Result, error) {
	text, err := single(r.Header, "Authorization")
	if err != nil {
		return Result{}, err
	}
	scheme, creds, _ := strings.Cut(text, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return Result{}, fmt.Errorf("%w: not a Basic authorization", ErrBadSignature)
	}
	creds = strings.Trim(creds, " ")
	enc := base64.StdEncoding
	if !strings.HasSuffix(creds, "=") {
		enc = base64.RawStdEncoding // some clients leave out the padding
	}
	raw, err := enc.DecodeString(creds)
	if err != nil {
		return Result{}, fmt.Errorf("%w: Basic credentials are not base64", ErrBadSignature)
	}
	// The user name is before the first colon (RFC 7617 section 2: it cannot hold one); it is
	// dropped here and nowhere kept.
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		clear(raw)
		return Result{}, fmt.Errorf("%w: Basic credentials without a password", ErrBadSignature)
	}
	res, err := matchToken(raw[i+1:], v.digests, "password")
	clear(raw)
	return res, err
}
