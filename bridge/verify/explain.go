package verify

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// Check is one step of judging a request, for `hookbridge verify`: what was checked, whether it
// passed, and in general terms what was found. A Detail never holds a secret, a key or an
// expected MAC.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Explainer is a verifier that can say, check by check, how it judged a request.
type Explainer interface {
	Explain(r *Request) []Check
}

// Explain returns the checks a verifier made of a request. A verifier that cannot explain
// itself gives one check: its verdict.
func Explain(v Verifier, r *Request) []Check {
	if e, ok := v.(Explainer); ok {
		return e.Explain(r)
	}
	res, err := v.Verify(r)
	c := Check{Name: "signature", OK: err == nil, Detail: "valid"}
	if err != nil {
		c.Detail = err.Error()
	} else if res.ID != "" {
		c.Detail = "valid; the signed event id keys replays"
	}
	return []Check{c}
}

// trace records checks; a nil trace records nothing (the fast path of Verify).
type trace struct {
	checks []Check
}

// step records a check that passed with okDetail, or failed with err's text, and returns err.
func (t *trace) step(name string, err error, okDetail string) error {
	if t == nil {
		return err
	}
	c := Check{Name: name, OK: err == nil, Detail: okDetail}
	if err != nil {
		c.Detail = err.Error()
	}
	t.checks = append(t.checks, c)
	return err
}

// note records a finding that is not a check of its own.
func (t *trace) note(name, detail string) {
	if t != nil {
		t.checks = append(t.checks, Check{Name: name, Detail: detail})
	}
}

// showURL is the request's URL as a user may see it: the path after /hooks/{vendor}/ may be a
// token, so it is hidden.
func showURL(r *Request) string {
	u := r.URL
	if u == "" {
		return "(none: public_url is not set)"
	}
	if r.Rest != "" {
		u = strings.Replace(u, "/"+r.Rest, "/…", 1)
	}
	return u
}

// probeURLs looks for the URL a signature was made for, when it is not the one public_url
// gives: the other scheme, a trailing slash, a default port, no query. A match is a hint at
// public_url or at the URL configured at the sender, and holds nothing secret.
func (t *trace) probeURLs(v *recipeVerifier, r *Request) {
	for _, alt := range urlVariants(r.URL) {
		c := *r
		c.URL = alt
		if _, err := v.judge(&c, nil); err == nil || !isBadSignature(err) {
			shown := c
			t.note("URL probe", "the signature matches the URL "+showURL(&shown)+
				": the sender was given that URL; make public_url (or the URL at the sender) agree")
			return
		}
	}
	t.note("URL probe", "no variant of the URL (scheme, trailing slash, port, query) matches either: check the secret")
}

func isBadSignature(err error) bool { return errors.Is(err, ErrBadSignature) }

// urlVariants returns plausible other forms of a URL a sender may have been given.
func urlVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	var out []string
	add := func(v *url.URL) {
		s := v.String()
		if s != raw && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, scheme := range []string{"https", "http"} {
		for _, slash := range []bool{false, true} {
			for _, port := range []string{"", "default"} {
				for _, query := range []bool{true, false} {
					v := *u
					v.Scheme = scheme
					if slash && !strings.HasSuffix(v.Path, "/") {
						v.Path += "/"
						v.RawPath = ""
					}
					host := v.Hostname()
					if strings.Contains(host, ":") {
						host = "[" + host + "]"
					}
					switch {
					case port == "default" && scheme == "https":
						v.Host = host + ":443"
					case port == "default":
						v.Host = host + ":80"
					case v.Port() == "443" || v.Port() == "80":
						v.Host = host
					}
					if !query {
						v.RawQuery = ""
					}
					add(&v)
				}
			}
		}
	}
	return out
}
