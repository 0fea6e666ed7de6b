package payload_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/payload"
)

var formValid = []struct {
	name string
	in   string
	want map[string]any
}{
	{"empty", ``, map[string]any{}},
	{"one field", `a=1`, map[string]any{"a": "1"}},
	{"two fields", `a=1&b=2`, map[string]any{"a": "1", "b": "2"}},
	{"empty value", `a=`, map[string]any{"a": ""}},
	{"name only", `a`, map[string]any{"a": ""}},
	{"name only among others", `a=1&b&c=3`, map[string]any{"a": "1", "b": "", "c": "3"}},
	{"trailing ampersand", `a=1&`, map[string]any{"a": "1"}},
	{"leading ampersand", `&a=1`, map[string]any{"a": "1"}},
	{"empty fields between", `a=1&&&b=2`, map[string]any{"a": "1", "b": "2"}},
	{"only ampersands", `&&&`, map[string]any{}},
	{"equals in value", `a=b=c`, map[string]any{"a": "b=c"}},
	{"value of equals only", `a==`, map[string]any{"a": "="}},
	{"plus is a space", `a=x+y`, map[string]any{"a": "x y"}},
	{"plus in a name", `a+b=1`, map[string]any{"a b": "1"}},
	{"encoded plus", `a=%2B1`, map[string]any{"a": "+1"}},
	{"encoded space", `a=x%20y`, map[string]any{"a": "x y"}},
	{"encoded separators", `a=%26%3D%3B%25`, map[string]any{"a": "&=;%"}},
	{"encoded name", `%61%62=1`, map[string]any{"ab": "1"}},
	{"lower-case hex", `a=%e2%82%ac`, map[string]any{"a": "€"}},
	{"upper-case hex", `a=%E2%82%AC`, map[string]any{"a": "€"}},
	{"encoded UTF-8", `a=caf%C3%A9`, map[string]any{"a": "café"}},
	{"raw UTF-8", `a=grüße&名前=世界😀`, map[string]any{"a": "grüße", "名前": "世界😀"}},
	{"raw replacement character", "a=\xef\xbf\xbd", map[string]any{"a": "\ufffd"}},
	// Bytes are decoded first, then read as UTF-8 (WHATWG, net/url).
	{"half raw half encoded", "a=\xe2%82%AC", map[string]any{"a": "€"}},
	{"encoded newline in a value", `text=line+1%0Aline+2%0D%0A%09tab`, map[string]any{"text": "line 1\nline 2\r\n\ttab"}},
	{"raw DEL", "a=\x7f", map[string]any{"a": "\x7f"}},
	{"encoded DEL", `a=%7F`, map[string]any{"a": "\x7f"}},
	{"raw reserved characters", `a=1:2/3?4@5!$'()*,[]`, map[string]any{"a": "1:2/3?4@5!$'()*,[]"}},
	{"brackets in a name", `a[]=1&a[x]=2`, map[string]any{"a[]": "1", "a[x]": "2"}},
	{"names are case-sensitive", `A=1&a=2`, map[string]any{"A": "1", "a": "2"}},
	{"hash is text in a body", `a=#1`, map[string]any{"a": "#1"}},
	{"question mark first", `?a=1`, map[string]any{"?a": "1"}},
	// Ecowitt writes a space as '+' and leaves ':' unencoded (third-party capture,
	// https://www.pa3hcm.nl/?p=2095).
	{"ecowitt dateutc", `dateutc=2021-12-24+11:31:57`, map[string]any{"dateutc": "2021-12-24 11:31:57"}},
	// Twilio's worked example (https://www.twilio.com/docs/usage/security) with its parameters
	// form-encoded as Twilio sends them: a plus as %2B (the body is derived: the page prints only
	// the decoded parameters).
	{"twilio", `CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212`,
		map[string]any{"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
			"From": "+14158675310", "To": "+18005551212"}},
	{"twilio with a raw plus", `Caller=+14158675310`, map[string]any{"Caller": " 14158675310"}},
}

var formRefused = []struct {
	name   string
	in     string
	reason string
	offset int
	limit  bool
	lim    *payload.Limits
}{
	// Ambiguous: parsers disagree on which value wins.
	{name: "repeated name", in: `Zq9xW=1&Zq9xW=2`, reason: "repeated name", offset: 8},
	{name: "repeated name through an escape", in: `ab=Zq9xW&%61b=2`, reason: "repeated name", offset: 9},
	{name: "repeated name through a plus", in: `a b=Zq9xW&a+b=2`, reason: "unencoded space", offset: 1},
	{name: "repeated encoded space", in: `a%20b=Zq9xW&a+b=2`, reason: "repeated name", offset: 12},
	{name: "repeated empty values", in: `Zq9xW&Zq9xW=`, reason: "repeated name", offset: 6},
	{name: "repeated far apart", in: `Zq9xW=1&b=2&c=3&Zq9xW=4`, reason: "repeated name", offset: 16},
	{name: "php array syntax repeated", in: `a[]=Zq9xW&a[]=2`, reason: "repeated name", offset: 10},
	// Names.
	{name: "empty name", in: `=Zq9xW`, reason: "empty name", offset: 0},
	{name: "empty name and value", in: `a=Zq9xW&=`, reason: "empty name", offset: 8},
	{name: "empty name after decoding", in: `%=Zq9xW`, reason: "invalid percent escape", offset: 0},
	// Percent escapes.
	{name: "percent at end", in: `a=Zq9xW%`, reason: "invalid percent escape", offset: 7},
	{name: "one hex digit at end", in: `a=Zq9xW%4`, reason: "invalid percent escape", offset: 7},
	{name: "bad second digit", in: `a=Zq9xW%4G`, reason: "invalid percent escape", offset: 7},
	{name: "bad first digit", in: `a=Zq9xW%G4`, reason: "invalid percent escape", offset: 7},
	{name: "double percent", in: `a=Zq9xW%%41`, reason: "invalid percent escape", offset: 7},
	{name: "percent before ampersand", in: `a=Zq9xW%&b=1`, reason: "invalid percent escape", offset: 7},
	{name: "percent in name", in: `Zq9xW%zz=1`, reason: "invalid percent escape", offset: 5},
	{name: "percent u escape", in: `a=Zq9xW%u0041`, reason: "invalid percent escape", offset: 7},
	// UTF-8.
	{name: "raw invalid byte", in: "a=Zq9xW\xff", reason: "invalid UTF-8", offset: 7},
	{name: "raw invalid byte in name", in: "Zq9xW\xfe=1", reason: "invalid UTF-8", offset: 5},
	{name: "encoded invalid byte", in: `a=Zq9xW%FF`, reason: "invalid UTF-8", offset: 2},
	{name: "encoded overlong", in: `a=Zq9xW%C0%AF`, reason: "invalid UTF-8", offset: 2},
	{name: "encoded surrogate", in: `a=Zq9xW%ED%A0%80`, reason: "invalid UTF-8", offset: 2},
	{name: "encoded truncated", in: `a=Zq9xW%E2%82`, reason: "invalid UTF-8", offset: 2},
	{name: "raw truncated", in: "a=Zq9xW\xe2\x82", reason: "invalid UTF-8", offset: 7},
	{name: "raw surrogate", in: "a=Zq9xW\xed\xa0\x80", reason: "invalid UTF-8", offset: 7},
	{name: "encoded invalid in name", in: `Zq9xW%FF=1`, reason: "invalid UTF-8", offset: 0},
	// Control characters.
	{name: "raw newline", in: "a=Zq9xW\nb=1", reason: "control character", offset: 7},
	{name: "trailing newline", in: "a=Zq9xW\n", reason: "control character", offset: 7},
	{name: "raw carriage return", in: "a=Zq9xW\r\n", reason: "control character", offset: 7},
	{name: "raw tab", in: "a=Zq9xW\t", reason: "control character", offset: 7},
	{name: "raw nul", in: "a=Zq9xW\x00", reason: "control character", offset: 7},
	{name: "raw control in name", in: "Zq9xW\x01=1", reason: "control character", offset: 5},
	{name: "raw control after an escape", in: "a=Zq9xW%41\x02", reason: "control character", offset: 10},
	{name: "encoded nul", in: `a=Zq9xW%00`, reason: "control character", offset: 7},
	{name: "encoded unit separator", in: `a=Zq9xW%1F`, reason: "control character", offset: 7},
	{name: "encoded escape", in: `a=Zq9xW%1b`, reason: "control character", offset: 7},
	{name: "encoded newline in name", in: `Zq9xW%0A=1`, reason: "control character", offset: 5},
	{name: "encoded tab in name", in: `Zq9xW%09=1`, reason: "control character", offset: 5},
	// Characters an encoder always escapes, which lax ones leave.
	{name: "unencoded space", in: `a=Zq9xW 1`, reason: "unencoded space", offset: 7},
	{name: "unencoded space in name", in: ` Zq9xW=1`, reason: "unencoded space", offset: 0},
	{name: "unencoded space after an escape", in: `a=%41Zq9xW 1`, reason: "unencoded space", offset: 10},
	{name: "unencoded semicolon", in: `a=Zq9xW;b=2`, reason: "unencoded semicolon", offset: 7},
	{name: "unencoded semicolon in name", in: `Zq9xW;a=1`, reason: "unencoded semicolon", offset: 5},
	{name: "unencoded semicolon after a plus", in: `a=Zq9xW+;`, reason: "unencoded semicolon", offset: 8},
	// Limits.
	{name: "fields over limit", in: `a=1&b=2&c=3&Zq9xW=4`, reason: "more than 3 fields", offset: 12, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "empty fields count", in: `a=Zq9xW&&&`, reason: "more than 3 fields", offset: 10, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "10,000 fields", in: strings.Repeat("Zq9xW=1&", 9999) + "Zq9xW=1", reason: "more than 4096 fields", offset: 4096 * 8, limit: true},
	{name: "10,000 distinct fields", in: distinctFields(10000), reason: "more than 4096 fields", offset: len(distinctFields(4096)) + 1, limit: true},
}

// distinctFields returns a form of n fields with distinct names.
func distinctFields(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "f%d=%d", i, i)
	}
	return b.String()
}

var formReasonRE = regexp.MustCompile(`^[a-zA-Z0-9 -]+ at byte [0-9]+$`)

func TestParseForm(t *testing.T) {
	for _, tt := range formValid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := payload.ParseForm([]byte(tt.in), payload.DefaultLimits)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseForm(%q) = %#v, %v, want %#v", tt.in, got, err, tt.want)
			}
			got, err = payload.ParseQuery(tt.in, payload.DefaultLimits)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseQuery(%q) = %#v, %v, want %#v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseFormRefuses(t *testing.T) {
	for _, tt := range formRefused {
		t.Run(tt.name, func(t *testing.T) {
			lim := payload.DefaultLimits
			if tt.lim != nil {
				lim = *tt.lim
			}
			doc, err := payload.ParseForm([]byte(tt.in), lim)
			checkFormError(t, "ParseForm", tt.in, doc, err, tt.reason, tt.offset, tt.limit)
			doc, err = payload.ParseQuery(tt.in, lim)
			checkFormError(t, "ParseQuery", tt.in, doc, err, tt.reason+" in the query string", tt.offset, tt.limit)
		})
	}
}

func checkFormError(t *testing.T, fn, in string, doc map[string]any, err error, reason string, offset int, limit bool) {
	t.Helper()
	short := in
	if len(short) > 40 {
		short = short[:40] + "…"
	}
	if err == nil {
		t.Fatalf("%s(%q) = %#v, nil, want an error", fn, short, doc)
	}
	if doc != nil {
		t.Errorf("%s(%q) document = %#v, want nil", fn, short, doc)
	}
	want, other := payload.ErrForm, payload.ErrFormLimit
	if limit {
		want, other = other, want
	}
	if !errors.Is(err, want) || errors.Is(err, other) || errors.Is(err, payload.ErrSyntax) || errors.Is(err, payload.ErrLimit) {
		t.Errorf("%s(%q) = %v, want %v only", fn, short, err, want)
	}
	if r := outcome.Of(err); r != outcome.BadForm {
		t.Errorf("%s(%q) reason = %s, want %s", fn, short, r.Word(), outcome.BadForm.Word())
	}
	var se *payload.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%s(%q) = %T, want *SyntaxError", fn, short, err)
	}
	if se.Reason != reason || se.Offset != offset {
		t.Errorf("%s(%q) = %q at %d, want %q at %d", fn, short, se.Reason, se.Offset, reason, offset)
	}
	if text := err.Error(); strings.Contains(text, marker) || !formReasonRE.MatchString(text) {
		t.Errorf("%s(%q) error %q, want a fixed reason and an offset, never the body", fn, short, text)
	}
}

// TestParseFormSenders parses the senders' documented bodies (sources in testdata/senders/README.md).
func TestParseFormSenders(t *testing.T) {
	tests := []struct {
		file   string
		fields int
		want   map[string]any // some of the fields
	}{
		{"ecowitt-wh2650.form", 33, map[string]any{
			"PASSKEY": "307826236D0133E06009CE7FAFBBAFC4", "stationtype": "WH2650A_V1.6.8",
			"dateutc": "2021-12-24 11:31:57", "tempf": "47.8", "humidity": "91", "baromrelin": "29.565",
			"rainratein": "0.000", "maxdailygust": "21.70", "freq": "868M", "model": "WH2650"}},
		{"withings-appli1.form", 4, map[string]any{
			"userid": "12345", "appli": "1", "startdate": "1530576000", "enddate": "1530698753"}},
		{"particle-default.form", 4, map[string]any{
			"event": "demo", "data": "mydata", "published_at": "2017-02-01T21:08:05.763Z",
			"coreid": "3f002b000000000000000000"}},
		{"slack-slash-command.form", 11, map[string]any{
			"command": "/webhook-collect", "text": "", "user_name": "roadrunner",
			"response_url": "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readSender(t, tt.file)
			doc, err := payload.ParseForm(body, payload.DefaultLimits)
			if err != nil {
				t.Fatalf("ParseForm(%s) = %v", tt.file, err)
			}
			if len(doc) != tt.fields {
				t.Errorf("ParseForm(%s) has %d fields, want %d", tt.file, len(doc), tt.fields)
			}
			for k, v := range tt.want {
				if doc[k] != v {
					t.Errorf("ParseForm(%s)[%q] = %#v, want %#v", tt.file, k, doc[k], v)
				}
			}
			// net/url reads every field alike.
			std, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range std {
				if len(vs) != 1 || doc[k] != vs[0] {
					t.Errorf("ParseForm(%s)[%q] = %#v, net/url %q", tt.file, k, doc[k], vs)
				}
			}
		})
	}
}

// TestParseFormSendersRefused checks documented examples that are not what a sender puts on the
// wire: each is a clear 400 that says where.
func TestParseFormSendersRefused(t *testing.T) {
	// Withings' page shows the fields one per line; the wire form joins them with '&'.
	lines := readSender(t, "withings-appli1-doc-lines.txt")
	_, err := payload.ParseForm(lines, payload.DefaultLimits)
	var se *payload.SyntaxError
	if !errors.As(err, &se) || se.Reason != "control character" || se.Offset != 12 {
		t.Errorf("ParseForm(withings lines) = %v, want control character at byte 12", err)
	}

	// Ambient Weather's FAQ example has a space before humidityin (a defect of the page): net/url
	// would make a field " humidityin" of it.
	q := string(readSender(t, "ambient-faq-1857.query"))
	at := strings.Index(q, " humidityin")
	_, err = payload.ParseQuery(q, payload.DefaultLimits)
	if !errors.As(err, &se) || se.Reason != "unencoded space in the query string" || se.Offset != at {
		t.Errorf("ParseQuery(ambient FAQ) = %v, want unencoded space in the query string at byte %d", err, at)
	}
	// Without the space it is a plain query string, with the dateutc spelled as a form would.
	doc, err := payload.ParseQuery(strings.Replace(q, "& humidityin", "&humidityin", 1), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("ParseQuery(ambient FAQ without the space) = %v", err)
	}
	for k, v := range map[string]any{"MAC": "XX.XX.XX.XX.XX", "dateutc": "2000-01-01 10:32:35", "humidityin": "32", "tempinf": "77.2"} {
		if doc[k] != v {
			t.Errorf("ParseQuery(ambient)[%q] = %#v, want %#v", k, doc[k], v)
		}
	}
	if len(doc) != 19 {
		t.Errorf("ParseQuery(ambient) has %d fields, want 19", len(doc))
	}
}

func readSender(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/senders/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseFormLimitsBoundaries(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  payload.Limits
	}{
		{"fields at limit", `a=1&b=2&c=3`, payload.Limits{MaxKeys: 3}},
		{"4096 fields", distinctFields(4096), payload.DefaultLimits},
		{"zero limits mean none", distinctFields(5000), payload.Limits{}},
		{"number length does not bound text", `a=` + strings.Repeat("1", 100), payload.DefaultLimits},
		{"depth does not apply", `a[b][c][d]=1`, payload.Limits{MaxDepth: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := payload.ParseForm([]byte(tt.in), tt.lim); err != nil {
				t.Errorf("ParseForm(%.40q, %+v) = %v, want nil", tt.in, tt.lim, err)
			}
		})
	}
}

// TestParseFormAllocs checks that names and values that need no decoding share the body's one
// copy, and that a form bomb is refused before anything is decoded.
func TestParseFormAllocs(t *testing.T) {
	body := readSender(t, "ecowitt-wh2650.form")
	n := testing.AllocsPerRun(100, func() {
		if _, err := payload.ParseForm(body, payload.DefaultLimits); err != nil {
			t.Fatal(err)
		}
	})
	// The copy of the body, the map (4 today), one value holder per field, and the one decoded
	// value (dateutc's '+').
	if max := 1 + 5 + 33 + 1; n > float64(max) {
		t.Errorf("ParseForm(ecowitt) allocates %v times, want at most %d", n, max)
	}
	bomb := []byte(strings.Repeat("a=1&", 10000))
	n = testing.AllocsPerRun(100, func() {
		if _, err := payload.ParseForm(bomb, payload.DefaultLimits); err == nil {
			t.Fatal("ParseForm(bomb) = nil error")
		}
	})
	if n > 3 {
		t.Errorf("ParseForm(10,000 fields) allocates %v times, want at most 3 (the error)", n)
	}
}

func TestFormJSON(t *testing.T) {
	// GitHub's form content type: "will send the JSON payload as a form parameter called payload"
	// (https://docs.github.com/en/webhooks/webhook-events-and-payloads). The JSON is a ping as GitHub
	// documents it, shortened; url.QueryEscape writes its spaces as '+'.
	ping := `{"zen":"Keep it logically awesome.","hook_id":12345678,"hook":{"type":"Repository","active":true}}`
	body := "payload=" + url.QueryEscape(ping)
	doc, err := payload.FormJSON([]byte(body), "payload", payload.DefaultLimits)
	if err != nil {
		t.Fatalf("FormJSON(ping) = %v", err)
	}
	want, _ := payload.Parse([]byte(ping), payload.DefaultLimits)
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("FormJSON(ping) = %#v, want %#v", doc, want)
	}

	refused := []struct {
		name   string
		body   string
		is     error
		reason string
	}{
		{"no field", `other=1`, payload.ErrForm, "no JSON field"},
		{"empty body", ``, payload.ErrForm, "no JSON field"},
		{"another field too", `payload=%7B%7D&other=1`, payload.ErrForm, "fields besides the JSON field"},
		{"bad form", `payload=%ZZ`, payload.ErrForm, "invalid percent escape"},
		{"repeated field", `payload=%7B%7D&payload=%7B%7D`, payload.ErrForm, "repeated name"},
		{"not JSON", `payload=Zq9xW`, payload.ErrSyntax, "unexpected character"},
		{"empty JSON", `payload=`, payload.ErrSyntax, "unexpected end of input"},
		{"duplicate key", `payload=` + url.QueryEscape(`{"a":"Zq9xW","a":2}`), payload.ErrSyntax, "duplicate key"},
		{"JSON over limits", `payload=` + url.QueryEscape(strings.Repeat("[", 40)+strings.Repeat("]", 40)), payload.ErrLimit, "nested deeper than 32"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := payload.FormJSON([]byte(tt.body), "payload", payload.DefaultLimits)
			var se *payload.SyntaxError
			if !errors.Is(err, tt.is) || !errors.As(err, &se) || se.Reason != tt.reason {
				t.Fatalf("FormJSON(%q) = %#v, %v, want %v: %s", tt.body, doc, err, tt.is, tt.reason)
			}
			if strings.Contains(err.Error(), marker) {
				t.Errorf("FormJSON(%q) error %q quotes the body", tt.body, err)
			}
		})
	}
}

// formStrictReasons are the reasons ParseForm may refuse a body that net/url takes.
var formStrictReasons = map[string]bool{
	"repeated name": true, "empty name": true, "invalid UTF-8": true, "control character": true,
	"unencoded space": true,
}

func FuzzParseForm(f *testing.F) {
	for _, tt := range formValid {
		f.Add([]byte(tt.in))
	}
	for _, tt := range formRefused {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	for _, name := range []string{"ecowitt-wh2650.form", "withings-appli1.form", "particle-default.form", "slack-slash-command.form", "ambient-faq-1857.query"} {
		f.Add(readSender(f, name))
	}
	lim := payload.DefaultLimits
	lim.MaxKeys = 64 // reachable by the fuzzer
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := payload.ParseForm(data, lim)
		std, stdErr := url.ParseQuery(string(data))
		if err != nil {
			var se *payload.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
				t.Fatalf("ParseForm(%q) = %#v, want a *SyntaxError with an offset inside the input", data, err)
			}
			if errors.Is(err, payload.ErrForm) == errors.Is(err, payload.ErrFormLimit) {
				t.Fatalf("ParseForm(%q) = %v, want exactly one of ErrForm, ErrFormLimit", data, err)
			}
			if stdErr == nil && errors.Is(err, payload.ErrForm) && !formStrictReasons[se.Reason] {
				t.Fatalf("ParseForm(%q) = %v, but net/url takes it", data, err)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("ParseForm(%q) took what net/url refuses: %v", data, stdErr)
		}
		if len(std) != len(doc) {
			t.Fatalf("ParseForm(%q) = %d fields, net/url %d", data, len(doc), len(std))
		}
		for k, vs := range std {
			if len(vs) != 1 || doc[k] != vs[0] {
				t.Fatalf("ParseForm(%q)[%q] = %#v, net/url %q", data, k, doc[k], vs)
			}
		}
		values := url.Values{}
		for k, v := range doc {
			s := v.(string)
			checkFormText(t, data, k, true)
			checkFormText(t, data, s, false)
			values.Set(k, s)
		}
		// What it takes survives encoding again.
		again, err := payload.ParseForm([]byte(values.Encode()), lim)
		if err != nil || !reflect.DeepEqual(again, doc) {
			t.Fatalf("ParseForm(Encode(ParseForm(%q))) = %#v, %v, want %#v", data, again, err, doc)
		}
		// A query string reads the same.
		q, err := payload.ParseQuery(string(data), lim)
		if err != nil || !reflect.DeepEqual(q, doc) {
			t.Fatalf("ParseQuery(%q) = %#v, %v, want %#v", data, q, err, doc)
		}
	})
}

func checkFormText(t *testing.T, data []byte, s string, name bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("ParseForm(%q) holds invalid UTF-8 %q", data, s)
	}
	for _, r := range s {
		if r < 0x20 && (name || (r != '\t' && r != '\n' && r != '\r')) {
			t.Fatalf("ParseForm(%q) holds control character %q in %q", data, r, s)
		}
	}
	if name && s == "" {
		t.Fatalf("ParseForm(%q) holds an empty name", data)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, tt := range formValid {
		f.Add(tt.in)
	}
	for _, tt := range formRefused {
		if len(tt.in) < 1000 {
			f.Add(tt.in)
		}
	}
	f.Add(string(readSender(f, "ambient-faq-1857.query")))
	lim := payload.DefaultLimits
	lim.MaxKeys = 64
	f.Fuzz(func(t *testing.T, raw string) {
		doc, err := payload.ParseQuery(raw, lim)
		form, formErr := payload.ParseForm([]byte(raw), lim)
		if (err == nil) != (formErr == nil) || !reflect.DeepEqual(doc, form) {
			t.Fatalf("ParseQuery(%q) = %#v, %v; ParseForm = %#v, %v", raw, doc, err, form, formErr)
		}
		if err == nil {
			return
		}
		var qe, fe *payload.SyntaxError
		if !errors.As(err, &qe) || !errors.As(formErr, &fe) {
			t.Fatalf("ParseQuery(%q) = %v, ParseForm = %v, want *SyntaxError", raw, err, formErr)
		}
		if qe.Offset != fe.Offset || qe.Reason != fe.Reason+" in the query string" ||
			errors.Is(err, payload.ErrFormLimit) != errors.Is(formErr, payload.ErrFormLimit) {
			t.Fatalf("ParseQuery(%q) = %v, ParseForm = %v, want the same error in the query string", raw, err, formErr)
		}
	})
}
