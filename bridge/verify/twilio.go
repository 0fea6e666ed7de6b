package verify

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
)

// twilio: Twilio's request validation ("Webhooks security", twilio.com/docs/usage/security, and
// the official SDKs' RequestValidator): X-Twilio-Signature is the base64 HMAC-SHA1, keyed by the
// Auth Token's text, of the full URL Twilio was given (public_url + /hooks/twilio + the query as
// sent) followed by the form body's parameters, form-decoded, sorted by name in byte order, each
// written as name and value (a repeated name's values sorted and de-duplicated). A JSON body is not
// written into the string: the URL then carries bodySHA256, the hex SHA-256 of the body, which must
// match. Like the SDKs, the URL is tried as given and with its default port added or removed
// (Twilio signs some callbacks with :443 in them). When a webhook rule switches a URL to a shared
// key, X-Twilio-Webhooks-Signature-Settings says algorithm=HMAC_SHA256 and the same string is signed
// with HMAC-SHA256; any other algorithm there is refused. Nothing time-based is signed: a
// message's Sid and status are in the body, whose digest keys replays.
func init() {
	mk := func(mac, tmpl string) *recipeMethod {
		return namedRecipe("twilio "+mac+" "+tmpl, Recipe{Signed: tmpl, MAC: mac, Key: "raw",
			Signature: SignatureSpec{Header: "X-Twilio-Signature", Encoding: "base64"}, bodyElsewhere: tmpl == "{url}"})
	}
	m := &twilioMethod{traits: traits{url: true}, form: map[string]*recipeMethod{}, json: map[string]*recipeMethod{}}
	for _, mac := range []string{"hmac-sha1", "hmac-sha256"} {
		m.form[mac], m.json[mac] = mk(mac, "{url}{form}"), mk(mac, "{url}")
	}
	Register(Scheme{
		Name:    "twilio",
		Summary: "Twilio: X-Twilio-Signature, base64 HMAC-SHA1 of the URL + sorted form parameters (needs public_url)",
		Compile: fixedMethod(m),
	})
}

// twilioSettingsHeader says which key and algorithm a webhook rule signs with.
const twilioSettingsHeader = "X-Twilio-Webhooks-Signature-Settings"

type twilioMethod struct {
	traits
	form, json map[string]*recipeMethod // by mac: URL + form, and URL alone (bodySHA256)
}

func (twilioMethod) Key(secret string) (Key, error) { return rawSecret.Parse(secret) }

// NewSecret refuses: Twilio issues the Auth Token.
func (twilioMethod) NewSecret() (string, error) { return "", ErrCannotGenerate }

func (t *twilioMethod) Verifier(keys []Key, tol time.Duration) Verifier {
	v := &twilioVerifier{form: map[string]*recipeVerifier{}, json: map[string]*recipeVerifier{}}
	for mac := range t.form {
		v.form[mac] = t.form[mac].Verifier(keys, tol).(*recipeVerifier)
		v.json[mac] = t.json[mac].Verifier(keys, tol).(*recipeVerifier)
	}
	return v
}

// Sign signs as Twilio does with an Auth Token: a form body's parameters after the URL, or, for
// any other body, bodySHA256 added to the URL's query.
func (t *twilioMethod) Sign(secret string, m *Message) error {
	if mt, _, _ := mime.ParseMediaType(m.ContentType); mt == "application/x-www-form-urlencoded" {
		return t.form["hmac-sha1"].Sign(secret, m)
	}
	sep := "?"
	if strings.Contains(m.URL, "?") {
		sep = "&"
	}
	m.URL += sep + "bodySHA256=" + bodyDigestHex(m.Body)
	return t.json["hmac-sha1"].Sign(secret, m)
}

type twilioVerifier struct {
	form, json map[string]*recipeVerifier
}

func (v *twilioVerifier) Verify(r *Request) (Result, error) { return v.judge(r, nil) }

func (v *twilioVerifier) Explain(r *Request) []Check {
	tr := &trace{}
	if _, err := v.judge(r, tr); errors.Is(err, ErrBadSignature) && r.URL != "" {
		if inner, _, err := v.choose(r); err == nil {
			tr.probeURLs(inner, r)
		}
	}
	return tr.checks
}

// choose picks the recipe for a request: the algorithm from the settings header, and URL + form
// or, with bodySHA256 in the query, the URL alone after the body's digest matched.
func (v *twilioVerifier) choose(r *Request) (*recipeVerifier, string, error) {
	mac := "hmac-sha1"
	if vals := r.Header.Values(twilioSettingsHeader); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, "", fmt.Errorf("%w: %s header repeated", ErrBadSignature, twilioSettingsHeader)
		}
		alg := ""
		for item := range strings.SplitSeq(vals[0], ",") {
			if k, val, ok := strings.Cut(strings.TrimSpace(item), "="); ok && strings.EqualFold(k, "algorithm") {
				alg = val
			}
		}
		if !strings.EqualFold(alg, "HMAC_SHA256") {
			return nil, "", fmt.Errorf("%w: %s names an algorithm Twilio does not document (only HMAC_SHA256)", ErrBadSignature, twilioSettingsHeader)
		}
		mac = "hmac-sha256"
	}
	q, err := url.ParseQuery(r.Query)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the query string does not parse", ErrBadSignature)
	}
	sums, ok := q["bodySHA256"]
	if !ok {
		return v.form[mac], mac + " of the URL and the form parameters", nil
	}
	if len(sums) != 1 || !hmac.Equal([]byte(strings.ToLower(sums[0])), []byte(bodyDigestHex(r.Body))) {
		return nil, "", fmt.Errorf("%w: the body does not match the bodySHA256 in the URL", ErrBadSignature)
	}
	return v.json[mac], mac + " of the URL (the body matched bodySHA256)", nil
}

func (v *twilioVerifier) judge(r *Request, tr *trace) (Result, error) {
	inner, what, err := v.choose(r)
	if tr != nil {
		tr.step("signed string", err, what)
	}
	if err != nil {
		return Result{}, err
	}
	if r.URL == "" {
		return inner.judge(r, tr) // reports public_url missing
	}
	var first error
	for i, u := range twilioURLs(r.URL) {
		c := *r
		c.URL = u
		var t *trace
		if i == 0 {
			t = tr
		}
		res, err := inner.judge(&c, t)
		if err == nil || errors.Is(err, ErrTimestamp) {
			if i > 0 && tr != nil {
				tr.note("URL", "matched as "+showURL(&c)+" (Twilio's default-port variant)")
			}
			return res, err
		}
		if first == nil {
			first = err
		}
	}
	return Result{}, first
}

// twilioURLs returns the URL forms Twilio's SDKs accept: without its port, and with the scheme's
// default port (one of them is the URL as given).
func twilioURLs(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	without, with := *u, *u
	without.Host = host
	if u.Port() == "" {
		with.Host = host + ":443"
		if u.Scheme == "http" {
			with.Host = host + ":80"
		}
	}
	out := []string{raw}
	for _, s := range []string{without.String(), with.String()} {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
