package verify

import (
	"errors"
	"time"
)

// keyVariants is a named scheme whose secrets come in several kinds, each verified by its own
// recipe: Standard Webhooks' whsec_ secrets verify v1 (HMAC-SHA256), its whpk_ public keys v1a
// (Ed25519). A request is judged by the recipes of the kinds of secrets the vendor has.
type keyVariants struct {
	variants []*recipeMethod
	// pick returns the variant a secret (or, for signing, a private key) belongs to.
	pick func(secret string) int
}

func (kv *keyVariants) SignsTimestamp() bool { return kv.variants[0].SignsTimestamp() }
func (kv *keyVariants) SignsID() bool        { return kv.variants[0].SignsID() }
func (kv *keyVariants) SignsURL() bool       { return kv.variants[0].SignsURL() }

func (kv *keyVariants) Key(secret string) (Key, error) {
	i := kv.pick(secret)
	k, err := kv.variants[i].Key(secret)
	k.variant = i
	return k, err
}

func (kv *keyVariants) NewSecret() (string, error) { return kv.variants[0].NewSecret() }

func (kv *keyVariants) Sign(secret string, m *Message) error {
	return kv.variants[kv.pick(secret)].Sign(secret, m)
}

func (kv *keyVariants) Verifier(keys []Key, tol time.Duration) Verifier {
	out := &variantVerifier{}
	for i, rc := range kv.variants {
		var mine []Key
		for _, k := range keys {
			if k.variant == i {
				mine = append(mine, k)
			}
		}
		if len(mine) > 0 {
			out.verifiers = append(out.verifiers, rc.Verifier(mine, tol).(*recipeVerifier))
		}
	}
	return out
}

// variantVerifier tries each kind's recipe in turn.
type variantVerifier struct {
	verifiers []*recipeVerifier
}

func (v *variantVerifier) Verify(r *Request) (Result, error) {
	var first error
	for _, rv := range v.verifiers {
		res, err := rv.Verify(r)
		if err == nil || errors.Is(err, ErrTimestamp) {
			return res, err // the signature matched: its timestamp decides
		}
		if first == nil {
			first = err
		}
	}
	return Result{}, first
}

func (v *variantVerifier) Explain(r *Request) []Check {
	var out []Check
	for _, rv := range v.verifiers {
		checks := rv.Explain(r)
		out = append(out, checks...)
		if last := checks[len(checks)-1]; last.OK {
			break
		}
	}
	return out
}

// headerVariants is a named scheme whose sender signs differently depending on the header it
// sends the signature in (Square: x-square-hmacsha256-signature is HMAC-SHA256, the legacy
// x-square-signature HMAC-SHA1). The first variant whose header the request carries judges it.
type headerVariants struct {
	variants []*recipeMethod
}

func (hv *headerVariants) SignsTimestamp() bool           { return hv.variants[0].SignsTimestamp() }
func (hv *headerVariants) SignsID() bool                  { return hv.variants[0].SignsID() }
func (hv *headerVariants) SignsURL() bool                 { return hv.variants[0].SignsURL() }
func (hv *headerVariants) Key(secret string) (Key, error) { return hv.variants[0].Key(secret) }
func (hv *headerVariants) NewSecret() (string, error)     { return hv.variants[0].NewSecret() }

func (hv *headerVariants) Sign(secret string, m *Message) error {
	return hv.variants[0].Sign(secret, m)
}

func (hv *headerVariants) Verifier(keys []Key, tol time.Duration) Verifier {
	out := &headerVerifier{}
	for _, rc := range hv.variants {
		out.verifiers = append(out.verifiers, rc.Verifier(keys, tol).(*recipeVerifier))
	}
	return out
}

type headerVerifier struct {
	verifiers []*recipeVerifier
}

// choose returns the verifier of the first variant whose signature header the request carries,
// else the first (which reports the header missing).
func (v *headerVerifier) choose(r *Request) *recipeVerifier {
	for _, rv := range v.verifiers {
		for _, h := range rv.rc.sigHeaders {
			if len(r.Header.Values(h)) > 0 {
				return rv
			}
		}
	}
	return v.verifiers[0]
}

func (v *headerVerifier) Verify(r *Request) (Result, error) { return v.choose(r).Verify(r) }
func (v *headerVerifier) Explain(r *Request) []Check        { return v.choose(r).Explain(r) }
