package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stripe (docs.stripe.com/webhooks): Stripe-Signature is "t=<unix>,v1=<hex>[,v1=<hex>...]", the
// hex HMAC-SHA256 of "t.body" keyed by the whole whsec_ string. Several v1 entries come during a
// secret rotation.
func init() {
	Register(Scheme{
		Name:    "stripe",
		Summary: "Stripe: Stripe-Signature t=...,v1=..., HMAC-SHA256 of t.body",
		Compile: fixedMethod(stripeMethod{traits: traits{timestamp: true}}),
	})
}

type stripeMethod struct{ traits }

func (stripeMethod) Key(secret string) (Key, error) { return rawSecret.Parse(secret) }

// NewSecret returns a secret in Stripe's own form, whsec_ and base64; its whole text is the key.
func (stripeMethod) NewSecret() (string, error) { return whsecSecret.generate() }

func (stripeMethod) Verifier(keys []Key, tol time.Duration) Verifier {
	return &stripe{macs: newMACs(keys), tolerance: tol}
}

func (stripeMethod) Sign(secret string, m *Message) error {
	k, err := rawSecret.Parse(secret)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	m.Header["Stripe-Signature"] = "t=" + ts + ",v1=" + hex.EncodeToString(hmacSHA256(k.MAC, []byte(ts+"."), m.Body))
	return nil
}

// stripe verifies Stripe-Signature.
type stripe struct {
	macs      macs
	tolerance time.Duration
}

func (v *stripe) Verify(r *Request) (Result, error) {
	sigText, err := single(r.Header, "Stripe-Signature")
	if err != nil {
		return Result{}, err
	}
	tsText, sigs, ok := ParseStripeHeader(sigText)
	if !ok {
		return Result{}, fmt.Errorf("%w: malformed Stripe-Signature", ErrBadSignature)
	}
	ts, _ := parseUnix(tsText)
	if !v.macs.match(sigs, []byte(tsText), []byte{'.'}, r.Body) {
		return Result{}, fmt.Errorf("%w: no v1 signature matches", ErrBadSignature)
	}
	if err := checkTime(time.Unix(ts, 0), r.Now, v.tolerance); err != nil {
		return Result{}, err
	}
	return Result{}, nil
}

// ParseStripeHeader returns the timestamp text and the decoded v1 signatures of a Stripe-Signature
// header. It fails when the timestamp is missing, repeated or not a Unix time, or when no v1
// signature decodes.
func ParseStripeHeader(header string) (ts string, sigs [][]byte, ok bool) {
	seenT := false
	for _, item := range strings.Split(header, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			continue
		}
		switch k {
		case "t":
			if seenT {
				return "", nil, false
			}
			seenT = true
			ts = val
		case "v1":
			if len(val) != 2*sha256.Size || len(sigs) == maxSignatures {
				continue
			}
			if b, err := hex.DecodeString(val); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if _, valid := parseUnix(ts); !valid || len(sigs) == 0 {
		return "", nil, false
	}
	return ts, sigs, true
}
