package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// recipe: a policy states what its sender signs. See Recipe; DOCS.md "Writing a recipe for a
// sender that is not listed" walks through one.
func init() {
	Register(Scheme{
		Name:    "recipe",
		Summary: "what the sender signs, stated in the policy (auth.recipe)",
		Params:  func() any { return &RecipeParams{} },
		Compile: func(p any) (Method, []KeyProblem) {
			rp := p.(*RecipeParams)
			if rp.Recipe == nil {
				return nil, []KeyProblem{{"recipe", "is required for scheme recipe"}}
			}
			rc, problems := compileRecipe(*rp.Recipe, "recipe.")
			if len(problems) > 0 {
				return nil, problems
			}
			return rc, nil
		},
	})
}

// RecipeParams are the keys of the recipe scheme.
type RecipeParams struct {
	Recipe *Recipe `yaml:"recipe"`
}

// Recipe states what a sender signs and how its signature travels.
type Recipe struct {
	// Signed is the template of the signed bytes: text with {body}, {timestamp}, {id}, {url},
	// {form} (the form body's parameters sorted, name+value each, as Twilio signs them) and
	// {header:Name}; "{{" and "}}" are literal braces. It must cover the body ({body} or {form}).
	Signed string `yaml:"signed"`
	// MAC is hmac-sha1, hmac-sha256, hmac-sha512, ed25519, rsa-pkcs1v15-sha256, rsa-pss-sha256
	// or ecdsa-p256-sha256.
	MAC string `yaml:"mac"`
	// Key is the secret's format: raw (its bytes, the default for an HMAC), base64, hex, whsec
	// (base64 after whsec_), pem (a public key; the default for RSA and ECDSA) or whpk (base64
	// of a raw Ed25519 public key after whpk_; the default for ed25519).
	Key string `yaml:"key"`
	// Signature says where the signature is and how it is written.
	Signature SignatureSpec `yaml:"signature"`
	// Timestamp, when set, is the signed timestamp ({timestamp}); its window is auth.tolerance.
	Timestamp *TimestampSpec `yaml:"timestamp"`
	// ID, when set, is the signed event id ({id}), which then keys replays.
	ID *IDSpec `yaml:"id"`

	// The fields below are for named recipes, written in Go.

	// altHeaders are further signature headers, tried in order when Signature.Header is absent
	// (Shopify's newer deliveries drop the X- prefix).
	altHeaders []string
	// bodyElsewhere lets a named recipe leave the body out of the template because its own code
	// checks it (Twilio's bodySHA256).
	bodyElsewhere bool
	// secret, when set, replaces the key format's parsing and generation (Stripe's secrets look
	// like whsec_ ones, and are used whole).
	secret *SecretFormat
	// anyBase64 makes base64 decoding take either alphabet, padded or not (the 0.1 hmac-sha256
	// scheme, whose users may not know which one their sender uses).
	anyBase64 bool
	// unsignedIDHeader is a header in which the sender sends an id the signature does not cover
	// (X-GitHub-Delivery): Sign sets it as the sender does, and it never keys replays.
	unsignedIDHeader string
	// senderIssued says the sender issues the secret (Slack's signing secret, Shopify's client
	// secret): NewSecret refuses to make one up, and first-run options leave the vendor off.
	senderIssued bool
}

// SignatureSpec is where a signature travels and how it is written.
type SignatureSpec struct {
	// Header carries the signature.
	Header string `yaml:"header"`
	// Encoding is hex (the default; either case), base64 (the standard alphabet, padded) or
	// base64url (the URL-safe alphabet, padded or not).
	Encoding string `yaml:"encoding"`
	// Prefix is a literal before a single signature ("v0=", "sha1=").
	Prefix string `yaml:"prefix"`
	// List, when set, reads the header as a list of key/value items, such as Stripe's
	// "t=123,v1=abc,v1=def" or Standard Webhooks' "v1,abc v1,def".
	List *ListSpec `yaml:"list"`
}

// ListSpec reads a signature header that is a list of key/value items.
type ListSpec struct {
	// Separator is between items; " " means any run of white space.
	Separator string `yaml:"separator"`
	// Pair is between an item's key and its value (the first one counts).
	Pair string `yaml:"pair"`
	// Keys are the keys whose values are signatures; several items may carry one (a rotation),
	// and any one matching is enough. At most 8 are tried.
	Keys []string `yaml:"keys"`
}

// TimestampSpec is where the signed timestamp is.
type TimestampSpec struct {
	// Header carries the timestamp; or
	Header string `yaml:"header"`
	// ListKey names the signature list's item that does ("t").
	ListKey string `yaml:"list_key"`
	// Unit is seconds (the default), milliseconds or rfc3339.
	Unit string `yaml:"unit"`
}

// IDSpec is where the signed event id is.
type IDSpec struct {
	// Header carries the id.
	Header string `yaml:"header"`
}

// maxSignatures bounds how many candidate signatures one header may offer.
const maxSignatures = 8

// recipeMethod is a compiled recipe.
type recipeMethod struct {
	parts        []part
	alg          *algorithm
	format       SecretFormat
	sigHeaders   []string
	encoding     string
	prefix       string
	list         *ListSpec
	space        bool // the list's separator is whitespace
	listKeys     map[string]bool
	ts           *TimestampSpec
	idHeader     string
	hasForm      bool
	hasURL       bool
	anyBase64    bool
	unsignedID   string
	senderIssued bool
}

var encodings = []string{"hex", "base64", "base64url"}

// compileRecipe checks a recipe and fills its defaults. at prefixes keys in problems.
func compileRecipe(r Recipe, at string) (*recipeMethod, []KeyProblem) {
	var problems []KeyProblem
	add := func(key, format string, args ...any) {
		problems = append(problems, KeyProblem{Key: at + key, Message: fmt.Sprintf(format, args...)})
	}
	rc := &recipeMethod{}
	parts, err := parseTemplate(r.Signed)
	if err != nil {
		add("signed", "%v", err)
	}
	rc.parts = parts
	rc.hasForm, rc.hasURL = has(parts, partForm), has(parts, partURL)
	if err == nil {
		if !r.bodyElsewhere && !has(parts, partBody) && !rc.hasForm {
			add("signed", "must cover the body: {body} or {form}")
		}
		if has(parts, partTimestamp) != (r.Timestamp != nil) {
			add("signed", "{timestamp} and a timestamp: section go together (a timestamp the template does not sign proves nothing)")
		}
		if has(parts, partID) != (r.ID != nil) {
			add("signed", "{id} and an id: section go together (only an id the template signs may key replays)")
		}
	}

	alg, ok := algorithms[r.MAC]
	switch {
	case r.MAC == "":
		add("mac", "is required (one of %s)", strings.Join(algorithmNames, ", "))
	case !ok:
		add("mac", "must be one of %s", strings.Join(algorithmNames, ", "))
	}
	rc.alg = alg
	if alg != nil {
		if r.Key == "" {
			r.Key = alg.formats[0]
		}
		f, ok := secretFormats[r.Key]
		switch {
		case !ok:
			add("key", "must be one of %s", strings.Join(secretFormatNames, ", "))
		case !slices.Contains(alg.formats, r.Key):
			add("key", "%s does not fit mac %s (use %s)", r.Key, alg.name, strings.Join(alg.formats, " or "))
		}
		rc.format = f
		if r.secret != nil {
			rc.format = *r.secret
		}
	}
	rc.anyBase64, rc.unsignedID, rc.senderIssued = r.anyBase64, r.unsignedIDHeader, r.senderIssued

	sig := r.Signature
	if sig.Header == "" {
		add("signature.header", "is required")
	} else if !headerNameRE.MatchString(sig.Header) {
		add("signature.header", "must be an HTTP header name")
	}
	rc.sigHeaders = append([]string{sig.Header}, r.altHeaders...)
	if sig.Encoding == "" {
		sig.Encoding = "hex"
	}
	if !slices.Contains(encodings, sig.Encoding) {
		add("signature.encoding", "must be one of %s", strings.Join(encodings, ", "))
	}
	rc.encoding, rc.prefix = sig.Encoding, sig.Prefix
	if !printable(sig.Prefix) || len(sig.Prefix) > 64 {
		add("signature.prefix", "must be printable text of at most 64 characters")
	}
	if l := sig.List; l != nil {
		if sig.Prefix != "" {
			add("signature.prefix", "does not go with a list: name the signatures' keys in list.keys")
		}
		switch {
		case l.Separator == "" || len(l.Separator) > 4 || !printable(l.Separator):
			add("signature.list.separator", "is required: one to four printable characters")
		case l.Pair == "" || len(l.Pair) > 4 || !printable(l.Pair):
			add("signature.list.pair", "is required: one to four printable characters")
		case strings.Contains(l.Separator, l.Pair) || strings.Contains(l.Pair, l.Separator):
			add("signature.list", "separator and pair must differ")
		case strings.ContainsFunc(l.Separator, func(c rune) bool { return inValues(c, sig.Encoding, r.Timestamp) }):
			add("signature.list.separator", "%q can appear in a %s signature or a timestamp: use a character neither has, such as , or ;", l.Separator, sig.Encoding)
		}
		if len(l.Keys) == 0 {
			add("signature.list.keys", "is required: the keys whose values are signatures")
		}
		rc.listKeys = map[string]bool{}
		for _, k := range l.Keys {
			if k == "" || !printable(k) || (l.Separator != "" && strings.Contains(k, l.Separator)) || (l.Pair != "" && strings.Contains(k, l.Pair)) {
				add("signature.list.keys", "%q is not a usable key", k)
			}
			rc.listKeys[k] = true
		}
		rc.list = l
		rc.space = strings.TrimSpace(l.Separator) == ""
	}

	if ts := r.Timestamp; ts != nil {
		switch {
		case (ts.Header == "") == (ts.ListKey == ""):
			add("timestamp", "needs exactly one of header and list_key")
		case ts.Header != "" && !headerNameRE.MatchString(ts.Header):
			add("timestamp.header", "must be an HTTP header name")
		case ts.ListKey != "" && sig.List == nil:
			add("timestamp.list_key", "needs signature.list")
		case ts.ListKey != "" && rc.listKeys[ts.ListKey]:
			add("timestamp.list_key", "is also a signature key")
		case ts.ListKey != "" && !printable(ts.ListKey):
			add("timestamp.list_key", "%q is not a usable key", ts.ListKey)
		case ts.ListKey != "" && sig.List.Separator != "" && strings.Contains(ts.ListKey, sig.List.Separator),
			ts.ListKey != "" && sig.List.Pair != "" && strings.Contains(ts.ListKey, sig.List.Pair):
			add("timestamp.list_key", "%q holds the list's separator or pair", ts.ListKey)
		}
		if ts.Unit == "" {
			ts.Unit = "seconds"
		}
		if !slices.Contains([]string{"seconds", "milliseconds", "rfc3339"}, ts.Unit) {
			add("timestamp.unit", "must be seconds, milliseconds or rfc3339")
		}
		c := *ts
		rc.ts = &c
	}
	if id := r.ID; id != nil {
		if !headerNameRE.MatchString(id.Header) {
			add("id.header", "is required: an HTTP header name")
		}
		rc.idHeader = id.Header
	}
	// Each header carries one thing: a timestamp or id header that is also the signature's (HTTP
	// names ignore case) would have to hold two values, and a template that signs the signature's
	// header would sign itself.
	named := []struct{ key, header string }{{"signature.header", sig.Header}}
	if ts := r.Timestamp; ts != nil && ts.Header != "" {
		named = append(named, struct{ key, header string }{"timestamp.header", ts.Header})
	}
	if r.ID != nil && r.ID.Header != "" {
		named = append(named, struct{ key, header string }{"id.header", r.ID.Header})
	}
	for i, a := range named {
		for _, b := range named[:i] {
			if a.header != "" && strings.EqualFold(a.header, b.header) {
				add(a.key, "is %s's header too: give each its own", b.key)
			}
		}
	}
	for _, p := range parts {
		if p.kind == partHeader && sig.Header != "" && strings.EqualFold(p.text, sig.Header) {
			add("signed", "signs the signature's own header %s", sig.Header)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return rc, nil
}

// inValues reports whether c can appear in a signature of the encoding or in the recipe's
// timestamp: a list separator must not, or the list could not be split.
func inValues(c rune, encoding string, ts *TimestampSpec) bool {
	if c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c)) {
		return true
	}
	extra := map[string]string{"base64": "+/=", "base64url": "-_="}[encoding]
	if ts != nil && ts.Unit == "rfc3339" {
		extra += "-:+.TZ"
	}
	return strings.ContainsRune(extra, c)
}

func (rc *recipeMethod) SignsTimestamp() bool { return rc.ts != nil }
func (rc *recipeMethod) SignsID() bool        { return rc.idHeader != "" }
func (rc *recipeMethod) SignsURL() bool       { return rc.hasURL }

func (rc *recipeMethod) Key(secret string) (Key, error) {
	k, err := rc.format.Parse(secret)
	if err != nil {
		return Key{}, err
	}
	if !rc.alg.hmac {
		if k.Public == nil {
			return Key{}, fmt.Errorf("%w: mac %s needs the sender's public key", ErrNoSecret, rc.alg.name)
		}
		if err := rc.alg.checkKey(k.Public); err != nil {
			return Key{}, err
		}
	}
	return k, nil
}

func (rc *recipeMethod) NewSecret() (string, error) {
	if rc.senderIssued {
		return "", ErrCannotGenerate
	}
	return rc.format.generate()
}

func (rc *recipeMethod) Verifier(keys []Key, tol time.Duration) Verifier {
	v := &recipeVerifier{rc: rc, keys: keys, tolerance: tol}
	if rc.alg.hmac {
		v.macs = make([]sync.Pool, len(keys))
		for i, k := range keys {
			v.macs[i].New = func() any { return hmac.New(rc.alg.hash, k.MAC) }
		}
	}
	return v
}

// recipeVerifier checks requests against a compiled recipe.
type recipeVerifier struct {
	rc        *recipeMethod
	keys      []Key
	tolerance time.Duration
	// macs holds, per key, HMAC states keyed and ready to Reset: a new one costs five allocations
	// and two hashed pad blocks.
	macs []sync.Pool
}

// signedInput is what one request fills into a recipe's template.
type signedInput struct {
	body    []byte
	ts      string
	id      string
	url     string
	form    string
	headers []string // the values of the template's {header:Name} parts, in order
}

// writeString writes s without copying it when w can take a string (a bytes.Buffer).
func writeString(w io.Writer, s string) {
	if sw, ok := w.(io.StringWriter); ok {
		sw.WriteString(s)
		return
	}
	w.Write([]byte(s))
}

// writeSigned writes the signed bytes.
func (rc *recipeMethod) writeSigned(w io.Writer, in *signedInput) {
	hi := 0
	for _, p := range rc.parts {
		switch p.kind {
		case partLiteral:
			w.Write(p.lit)
		case partBody:
			w.Write(in.body)
		case partTimestamp:
			writeString(w, in.ts)
		case partID:
			writeString(w, in.id)
		case partURL:
			writeString(w, in.url)
		case partForm:
			writeString(w, in.form)
		case partHeader:
			writeString(w, in.headers[hi])
			hi++
		}
	}
}

func (v *recipeVerifier) Verify(r *Request) (Result, error) { return v.judge(r, nil) }

// Explain runs the recipe's checks one by one and says how each went.
func (v *recipeVerifier) Explain(r *Request) []Check {
	tr := &trace{}
	_, err := v.judge(r, tr)
	if err != nil && errors.Is(err, ErrBadSignature) && v.rc.hasURL && r.URL != "" {
		tr.probeURLs(v, r)
	}
	return tr.checks
}

// judge runs the checks; tr, when set, records each.
func (v *recipeVerifier) judge(r *Request, tr *trace) (Result, error) {
	rc := v.rc
	sigHeader, sigText, err := firstHeader(r.Header, rc.sigHeaders)
	if tr != nil {
		tr.step("signature header "+sigHeader, err, "present")
	}
	if err != nil {
		return Result{}, err
	}
	var store [maxSignatures][]byte
	cands := store[:0]
	in := signedInput{body: r.Body}
	if rc.list != nil {
		cands, in.ts, err = rc.parseList(sigText, cands)
	} else {
		cands, err = rc.parseSingle(sigHeader, sigText, cands)
	}
	if tr != nil {
		tr.step("signature format", err, fmt.Sprintf("%d candidate signature(s), %s", len(cands), rc.encoding))
	}
	if err != nil {
		return Result{}, err
	}
	var at time.Time
	if rc.ts != nil {
		at, in.ts, err = rc.timestamp(r.Header, in.ts)
		if tr != nil {
			tr.step("timestamp", err, "a "+rc.ts.Unit+" timestamp")
		}
		if err != nil {
			return Result{}, err
		}
	}
	if rc.idHeader != "" {
		in.id, err = single(r.Header, rc.idHeader)
		if tr != nil {
			tr.step("event id header "+rc.idHeader, err, "present")
		}
		if err != nil {
			return Result{}, err
		}
	}
	for _, p := range rc.parts {
		if p.kind != partHeader {
			continue
		}
		val, err := single(r.Header, p.text)
		if tr != nil {
			tr.step("signed header "+p.text, err, "present")
		}
		if err != nil {
			return Result{}, err
		}
		in.headers = append(in.headers, val)
	}
	if rc.hasForm {
		in.form, err = formString(r.Body)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		if tr != nil {
			tr.step("form body", err, "parameters read")
		}
		if err != nil {
			return Result{}, err
		}
	}
	if rc.hasURL {
		in.url = r.URL
		if r.URL == "" {
			err = fmt.Errorf("%w: the sender signs its URL and public_url is not set", ErrBadSignature)
		}
		if tr != nil {
			tr.step("URL", err, "signed as "+showURL(r))
		}
		if err != nil {
			return Result{}, err
		}
	}
	which := v.match(&in, cands)
	if which < 0 {
		err = fmt.Errorf("%w: no signature in %s matches", ErrBadSignature, sigHeader)
	}
	if tr != nil {
		detail := ""
		if which >= 0 {
			detail = fmt.Sprintf("matches secrets[%d]", v.keys[which].index)
		}
		tr.step("signature", err, detail)
	}
	if err != nil {
		return Result{}, err
	}
	if rc.ts != nil {
		err = checkTime(at, r.Now, v.tolerance)
		if tr != nil {
			tr.step("timestamp window", err, "within "+v.tolerance.String()+" of "+r.Now.UTC().Format(time.RFC3339))
		}
		if err != nil {
			return Result{}, err
		}
	}
	return Result{ID: in.id, Key: v.keys[which].index}, nil
}

// match returns the index of the first key under which a candidate verifies, or -1. Every key
// and every candidate is tried: how long it takes says nothing about which one matched.
func (v *recipeVerifier) match(in *signedInput, cands [][]byte) int {
	rc := v.rc
	found := -1
	if rc.alg.hmac {
		var buf [64]byte
		for i := range v.keys {
			h := v.macs[i].Get().(hash.Hash)
			h.Reset()
			rc.writeSigned(h, in)
			eq := 0
			if anyEqual(h.Sum(buf[:0]), cands) {
				eq = 1
			}
			found = firstMatch(found, i, eq)
			v.macs[i].Put(h)
		}
		return found
	}
	msg, digest := rc.signedMessage(in)
	for i, k := range v.keys {
		for _, c := range cands {
			eq := 0
			if rc.alg.verify(k.Public, msg, digest, c) {
				eq = 1
			}
			found = firstMatch(found, i, eq)
		}
	}
	return found
}

// firstHeader returns the first of names the request carries, with its only value.
func firstHeader(h Header, names []string) (string, string, error) {
	for _, n := range names {
		if len(h.Values(n)) > 0 {
			v, err := single(h, n)
			return n, v, err
		}
	}
	return names[0], "", fmt.Errorf("%w: missing %s header", ErrBadSignature, strings.Join(names, " or "))
}

// parseSingle reads a header holding one signature after the recipe's prefix.
func (rc *recipeMethod) parseSingle(header, text string, cands [][]byte) ([][]byte, error) {
	rest, ok := strings.CutPrefix(text, rc.prefix)
	if !ok {
		return nil, fmt.Errorf("%w: %s does not start with %q", ErrBadSignature, header, rc.prefix)
	}
	b, ok := rc.decode(rest)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a %s signature of the right length", ErrBadSignature, header, rc.encoding)
	}
	return append(cands, b), nil
}

// parseList reads a list header: its signatures (the listed keys; undecodable ones are skipped,
// at most maxSignatures kept) and, when the recipe takes the timestamp from it, the timestamp.
func (rc *recipeMethod) parseList(text string, cands [][]byte) ([][]byte, string, error) {
	l := rc.list
	var ts string
	seenTS := false
	rest := text
	for rest != "" {
		var item string
		if rc.space {
			rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			item, rest = rest[:end], rest[end:]
		} else {
			var found bool
			item, rest, found = strings.Cut(rest, l.Separator)
			if !found {
				rest = ""
			}
			item = strings.TrimSpace(item)
		}
		k, val, ok := strings.Cut(item, l.Pair)
		if !ok {
			continue
		}
		switch {
		case rc.ts != nil && k == rc.ts.ListKey:
			if seenTS {
				return nil, "", fmt.Errorf("%w: %s given twice in the signature header", ErrBadSignature, k)
			}
			seenTS, ts = true, val
		case rc.listKeys[k] && len(cands) < maxSignatures:
			if b, ok := rc.decode(val); ok {
				cands = append(cands, b)
			}
		}
	}
	if rc.ts != nil && rc.ts.ListKey != "" && !seenTS {
		return nil, "", fmt.Errorf("%w: no %s in the signature header", ErrBadSignature, rc.ts.ListKey)
	}
	if len(cands) == 0 {
		return nil, "", fmt.Errorf("%w: no %s signature in the signature header", ErrBadSignature, strings.Join(l.Keys, " or "))
	}
	return cands, ts, nil
}

// decode decodes one signature; it must have the MAC's length.
func (rc *recipeMethod) decode(s string) ([]byte, bool) {
	if len(s) > 2*maxSignatureLen {
		return nil, false
	}
	var b []byte
	var err error
	switch {
	case rc.encoding == "hex":
		b, err = hex.DecodeString(s)
	case rc.anyBase64:
		b, err = decodeBase64(s)
	case rc.encoding == "base64":
		b, err = base64.StdEncoding.DecodeString(s)
	default:
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil || len(b) == 0 || (rc.alg.size > 0 && len(b) != rc.alg.size) {
		return nil, false
	}
	return b, true
}

// timestamp reads the signed timestamp: from its header, or the list's text already found.
func (rc *recipeMethod) timestamp(h Header, fromList string) (time.Time, string, error) {
	text := fromList
	if rc.ts.Header != "" {
		var err error
		if text, err = single(h, rc.ts.Header); err != nil {
			return time.Time{}, "", err
		}
	}
	t, ok := parseTimestamp(text, rc.ts.Unit)
	if !ok {
		return time.Time{}, "", fmt.Errorf("%w: the timestamp is not a time in %s", ErrBadSignature, rc.ts.Unit)
	}
	return t, text, nil
}

// parseTimestamp parses a timestamp strictly: decimal digits only for seconds and milliseconds.
func parseTimestamp(s, unit string) (time.Time, bool) {
	switch unit {
	case "seconds":
		n, ok := parseUnix(s)
		return time.Unix(n, 0), ok
	case "milliseconds":
		n, ok := parseDigits(s, 15)
		return time.UnixMilli(n), ok
	case "rfc3339":
		if len(s) > 64 {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	return time.Time{}, false
}

func formatTimestamp(t time.Time, unit string) string {
	switch unit {
	case "milliseconds":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "rfc3339":
		return t.UTC().Format(time.RFC3339)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// Sign signs a message as the recipe's sender would: an HMAC with the vendor's secret, or a
// signature with the sender's private key.
func (rc *recipeMethod) Sign(secret string, m *Message) error {
	in := signedInput{body: m.Body, id: m.ID, url: m.URL}
	if rc.ts != nil {
		in.ts = formatTimestamp(m.Time, rc.ts.Unit)
	}
	if rc.hasURL && m.URL == "" {
		return fmt.Errorf("%w: the recipe signs the URL: give the message one", ErrCannotSign)
	}
	if rc.hasForm {
		f, err := formString(m.Body)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCannotSign, err)
		}
		in.form = f
	}
	for _, p := range rc.parts {
		if p.kind == partHeader {
			val, ok := headerValue(m.Header, p.text)
			if !ok {
				return fmt.Errorf("%w: the recipe signs header %s: set it in the message first", ErrCannotSign, p.text)
			}
			in.headers = append(in.headers, val)
		}
	}
	sig, err := rc.signature(secret, &in)
	if err != nil {
		return err
	}
	enc := rc.encode(sig)
	if l := rc.list; l != nil {
		sep := l.Separator
		var items []string
		if rc.ts != nil && rc.ts.ListKey != "" {
			items = append(items, rc.ts.ListKey+l.Pair+in.ts)
		}
		items = append(items, l.Keys[0]+l.Pair+enc)
		m.Header[rc.sigHeaders[0]] = strings.Join(items, sep)
	} else {
		m.Header[rc.sigHeaders[0]] = rc.prefix + enc
	}
	if rc.ts != nil && rc.ts.Header != "" {
		m.Header[rc.ts.Header] = in.ts
	}
	if rc.idHeader != "" {
		m.Header[rc.idHeader] = m.ID
	}
	if rc.unsignedID != "" && m.ID != "" {
		m.Header[rc.unsignedID] = m.ID
	}
	return nil
}

// namedRecipe compiles a recipe written in Go for a named scheme; a mistake in it is a
// programming error, found at start.
func namedRecipe(name string, r Recipe) *recipeMethod {
	rc, problems := compileRecipe(r, "")
	if len(problems) > 0 {
		panic(fmt.Sprintf("verify: named recipe %s: %v", name, problems))
	}
	return rc
}

// registerRecipe registers a named recipe: a scheme that takes no keys, whose method is the
// recipe.
func registerRecipe(name, summary string, r Recipe) {
	Register(Scheme{Name: name, Summary: summary, Compile: fixedMethod(namedRecipe(name, r))})
}

// signature computes the raw signature over the input.
func (rc *recipeMethod) signature(secret string, in *signedInput) ([]byte, error) {
	if rc.alg.hmac {
		k, err := rc.Key(secret)
		if err != nil {
			return nil, err
		}
		h := hmac.New(rc.alg.hash, k.MAC)
		rc.writeSigned(h, in)
		return h.Sum(nil), nil
	}
	priv, err := parseSigningKey(secret)
	if err != nil {
		return nil, err
	}
	if err := rc.alg.checkKey(priv.Public()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCannotSign, err)
	}
	msg, digest := rc.signedMessage(in)
	return rc.alg.sign(priv, msg, digest)
}

// signedMessage returns what a public-key algorithm signs for in: the digest of the signed
// bytes when the algorithm hashes them first, else the bytes themselves.
func (rc *recipeMethod) signedMessage(in *signedInput) (msg, digest []byte) {
	if rc.alg.hash != nil {
		d := rc.alg.hash()
		rc.writeSigned(d, in)
		return nil, d.Sum(nil)
	}
	var b bytes.Buffer
	rc.writeSigned(&b, in)
	return b.Bytes(), nil
}

func (rc *recipeMethod) encode(sig []byte) string {
	switch rc.encoding {
	case "base64":
		return base64.StdEncoding.EncodeToString(sig)
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(sig)
	}
	return hex.EncodeToString(sig)
}

// headerValue finds a header in a message's map, ignoring the name's case.
func headerValue(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// bodyDigestHex returns the hex SHA-256 of a body, as Twilio's bodySHA256 parameter holds it.
func bodyDigestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
