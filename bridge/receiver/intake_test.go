package receiver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// The intake vendors: one per capability of issue 15, each with a schema and routes of its own.
const intakeHead = "title: Test\nowner: Tests\ncontact: tests@hookbridge.invalid\nrisk: low\n"

var intakePolicies = map[string]string{
	// A weather station: a path token, form bodies, one type, a URL check, a plain-text answer.
	"station": `auth: {scheme: path-token}
intake: {content: [form], url_check: true}
answer: {status: 200, type: text/plain, body: OK}
event: {type_const: weather}
schema: station/v1.json
routes:
  - when: weather
    topic: weather/{station}
    fields:
      station: {from: /PASSKEY, pseudonymize: true}
      temp: /tempf
      rain: /rain
`,
	// A phone app: HTTP Basic, a JSON array answer, empty bodies ignored.
	"phone": `auth: {scheme: basic}
intake: {ignore_empty: true}
answer: {status: 200, type: application/json, body: "[]"}
event: {type: /_type}
schema: loose/v1.json
routes:
  - when: location
    topic: location/{tid}
    fields:
      tid: {from: /tid, pseudonymize: true}
      lat: /lat
`,
	// A cloud that posts arrays of events, signed as a whole.
	"batcher": `auth: {scheme: hmac-sha256}
intake: {batch: true}
event: {type: /event}
schema: element/v1.json
routes:
  - when: "*"
    topic: things/{thing}
    fields:
      thing: {from: /thing, pseudonymize: true}
      level: /level
`,
	// A signed sender with a URL handshake (Slack's url_verification).
	"chat": `auth: {scheme: hmac-sha256}
intake:
  handshake: {at: /type, equals: url_verification, challenge: /challenge}
event: {id: /event_id, type: /event/type}
schema: loose/v1.json
routes:
  - when: "*"
    topic: chat
    fields:
      kind: /event/type
`,
	// A network server that appends the message type to the URL, with a bearer header.
	"lorawan": `auth: {scheme: bearer}
event: {type_path: true}
schema: loose/v1.json
routes:
  - when: uplink
    topic: uplink
    fields:
      port: /f_port
`,
	// A shop: the type in an unsigned header.
	"shop": `auth: {scheme: hmac-sha256}
event: {type_header: X-Topic}
schema: loose/v1.json
routes:
  - when: orders/create
    topic: orders
    fields:
      total: /total
`,
	// A code host: JSON, or a form with the JSON in payload.
	"code": `auth: {scheme: hmac-sha256}
intake: {content: [json, form], form_json: payload}
event: {type_header: X-Event}
schema: loose/v1.json
routes:
  - when: push
    topic: push
    fields:
      ref: /ref
`,
	// A sender that puts its data in the query string.
	"querier": `auth: {scheme: bearer, header: X-Token}
intake: {content: [query]}
event: {type_const: reading}
schema: station/v1.json
routes:
  - when: reading
    topic: reading
    fields:
      temp: /tempf
`,
}

var intakeSchemas = map[string]string{
	"loose":   `{"type": "object"}`,
	"station": `{"type": "object", "properties": {"PASSKEY": {"type": "string"}, "tempf": {"type": "number"}, "rain": {"type": "integer"}}, "required": ["tempf"]}`,
	"element": `{"type": "object", "properties": {"event": {"type": "string"}, "thing": {"type": "string"}, "level": {"type": "integer"}}, "required": ["event", "thing", "level"], "additionalProperties": false}`,
}

var intakeSecrets = map[string][]string{
	"station": {"station-token-0123456789abcdef", "station-new-token-0123456789"},
	"phone":   {"phone-password-0123456789"},
	"batcher": {"batcher-secret-0123456789ab"},
	"chat":    {"chat-signing-secret-0123456"},
	"lorawan": {"lorawan-bearer-token-012345"},
	"shop":    {"shop-client-secret-01234567"},
	"code":    {"code-webhook-secret-0123456"},
	"querier": {"querier-token-0123456789abc"},
}

// observed keeps the outcomes the receiver hands its observers.
type observed struct {
	mu   sync.Mutex
	outs []outcome.Outcome
}

func (o *observed) Observe(oc *outcome.Outcome) {
	o.mu.Lock()
	o.outs = append(o.outs, *oc)
	o.mu.Unlock()
}

func (o *observed) take() []outcome.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.outs
	o.outs = nil
	return out
}

// intakeHarness serves the intake vendors and acme-locks.
type intakeHarness struct {
	t *testing.T
	served
	obs *observed
}

func startIntake(t *testing.T) *intakeHarness {
	t.Helper()
	policies, schemas := map[string]string{}, map[string]string{}
	for name, body := range intakePolicies {
		policies[name] = "vendor: " + name + "\n" + intakeHead + body
	}
	for name, doc := range intakeSchemas {
		schemas[name+"/v1.json"] = doc
	}
	cat := loadCatalog(t, policies, schemas)
	var cfgs []vendor.Config
	for name, s := range intakeSecrets {
		cfgs = append(cfgs, vendor.Config{Name: name, Enabled: true, Secrets: s, RatePerMinute: 100_000})
	}
	cfgs = append(cfgs, vendor.Config{Name: "acme-locks", Enabled: true, Secrets: []string{secrets["acme-locks"]}, RatePerMinute: 100_000})
	obs := &observed{}
	return &intakeHarness{t: t, obs: obs, served: serve(t, cat, cfgs, receiver.Config{
		MaxBody: 64 << 10, Sources: ratelimit.NewSources(100_000, 10_000), Observers: []receiver.Observer{obs},
	})}
}

// reply is an answer as a sender sees it.
type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("answer %d %q is not a JSON object", r.status, r.body)
	}
	return m
}

// raw sends a request exactly as written (target unchanged by any client) and reads the answer.
func (h *intakeHarness) raw(method, target string, hdr map[string]string, body []byte) reply {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hooks.test\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, len(body))
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := c.Write(b.Bytes()); err != nil {
		h.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signedHeaders are the headers of an hmac-sha256 vendor's request.
func signedHeaders(vendor, contentType string, body []byte, extra ...string) map[string]string {
	h := map[string]string{"Content-Type": contentType, "X-Signature": hmacHex(intakeSecrets[vendor][0], body)}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func basicHeader(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// expectPublished checks the messages published since before.
func (h *intakeHarness) expectPublished(before, n int) []route.Message {
	h.t.Helper()
	msgs := h.pub.messages()
	if got := len(msgs) - before; got != n {
		h.t.Fatalf("published %d messages, want %d: %v", got, n, msgs[before:])
	}
	return msgs[before:]
}

const (
	stationBody  = "PASSKEY=34B7E1A2F0C9&stationtype=GW1000&tempf=70.5&rain=0&dateutc=2021-12-24+11%3A31%3A57"
	canaryPerson = "Jane Q. Canary-Doe"
)

// TestPathToken posts a weather station's form to its tokened URL: accepted with the answer its
// policy sets, under either token of a rotation, and refused 401 when the token is missing, wrong,
// or anywhere but the path. The token appears in no log line and no answer.
func TestPathToken(t *testing.T) {
	h := startIntake(t)
	tok, tok2 := intakeSecrets["station"][0], intakeSecrets["station"][1]
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		body   string
		status int
		body2  string
		pub    int
	}{
		{"token", "/hooks/station/" + tok, form, stationBody, 200, "OK", 1},
		{"same body again: a duplicate", "/hooks/station/" + tok, form, stationBody, 200, "OK", 0},
		{"second token", "/hooks/station/" + tok2, form, stationBody + "&x=1", 200, "OK", 1},
		{"with a query", "/hooks/station/" + tok + "?src=gw", form, stationBody + "&x=2", 200, "OK", 1},
		{"no token", "/hooks/station", form, stationBody + "&x=3", 401, "", 0},
		{"empty token", "/hooks/station/", form, stationBody + "&x=3", 401, "", 0},
		{"wrong token", "/hooks/station/station-token-0123456789abcdeX", form, stationBody + "&x=3", 401, "", 0},
		{"upper-cased token", "/hooks/station/" + strings.ToUpper(tok), form, stationBody + "&x=3", 401, "", 0},
		{"token and more", "/hooks/station/" + tok + "/x", form, stationBody + "&x=3", 401, "", 0},
		{"encoded token", "/hooks/station/" + strings.Replace(tok, "-", "%2D", 1), form, stationBody + "&x=3", 401, "", 0},
		{"encoded slash", "/hooks/station%2F" + tok, form, stationBody + "&x=3", 404, "", 0},
		{"token in the query", "/hooks/station?token=" + tok, form, stationBody + "&x=3", 401, "", 0},
		{"token in a header", "/hooks/station", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Authorization": "Bearer " + tok, "X-Token": tok}, stationBody + "&x=3", 401, "", 0},
		{"token as user info", "/hooks/station", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Authorization": basicHeader(tok, tok)}, stationBody + "&x=3", 401, "", 0},
		{"JSON body", "/hooks/station/" + tok, map[string]string{"Content-Type": "application/json"}, `{"tempf":1}`, 415, "", 0},
		{"schema: a number that is not one", "/hooks/station/" + tok, form, "tempf=warm", 422, "", 0},
		{"repeated field", "/hooks/station/" + tok, form, "tempf=1&tempf=2", 400, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.pub.messages())
			r := h.raw(http.MethodPost, tt.target, tt.hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("POST %s = %d %q, want %d", tt.name, r.status, r.body, tt.status)
			}
			if tt.body2 != "" && (r.body != tt.body2 || r.header.Get("Content-Type") != "text/plain") {
				t.Errorf("POST %s = %q (%s), want the policy's answer %q text/plain", tt.name, r.body, r.header.Get("Content-Type"), tt.body2)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") != "" {
				t.Errorf("POST %s: 401 with WWW-Authenticate %q: a path token has no challenge", tt.name, r.header.Get("WWW-Authenticate"))
			}
			msgs := h.expectPublished(before, tt.pub)
			for _, m := range msgs {
				if strings.Contains(string(m.Payload), "34B7E1A2F0C9") || !strings.Contains(string(m.Payload), `"temp":70.5`) {
					t.Errorf("published %s %s, want the temperature as a number and the station pseudonymized", m.Topic, m.Payload)
				}
			}
			if strings.Contains(r.body, tok) || strings.Contains(r.body, tok2) {
				t.Errorf("answer %q holds the token", r.body)
			}
		})
	}
	logs := h.logs.String()
	for _, s := range []string{tok, tok2, strings.ToUpper(tok), "34B7E1A2F0C9"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	for _, o := range h.obs.take() {
		if o.Status == 401 && o.Reason != outcome.BadSignature {
			t.Errorf("outcome of a 401: reason %s, want bad_signature", o.Reason.Word())
		}
	}
}

// TestURLCheck checks HEAD: 200 with no body once the token passes, 401 without it, 405 for a
// vendor that declares no URL check; other methods stay 405.
func TestURLCheck(t *testing.T) {
	h := startIntake(t)
	tok := intakeSecrets["station"][0]
	tests := []struct {
		method, target string
		status         int
		allow          string
	}{
		{http.MethodHead, "/hooks/station/" + tok, 200, ""},
		{http.MethodHead, "/hooks/station/" + tok + "?appli=1", 200, ""},
		{http.MethodHead, "/hooks/station/wrong-token-0123456789abc", 401, ""},
		{http.MethodHead, "/hooks/station", 401, ""},
		{http.MethodHead, "/hooks/acme-locks", 405, "POST"},
		{http.MethodHead, "/hooks/nobody", 404, ""},
		{http.MethodGet, "/hooks/station/" + tok, 405, "POST, HEAD"},
		{http.MethodPut, "/hooks/station/" + tok, 405, "POST, HEAD"},
		{http.MethodGet, "/hooks/acme-locks", 405, "POST"},
		{http.MethodOptions, "/hooks/station/" + tok, 405, "POST, HEAD"},
	}
	before := len(h.pub.messages())
	for _, tt := range tests {
		r := h.raw(tt.method, tt.target, nil, nil)
		if r.status != tt.status || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d (Allow %q), want %d (Allow %q)", tt.method, tt.target, r.status, r.header.Get("Allow"), tt.status, tt.allow)
		}
		if tt.method == http.MethodHead && r.body != "" {
			t.Errorf("%s %s has a body %q", tt.method, tt.target, r.body)
		}
	}
	h.expectPublished(before, 0)
	var checks int
	for _, o := range h.obs.take() {
		if o.Reason == outcome.Handshake {
			checks++
			if o.Token != "" || len(o.Topics) > 0 || !o.Verified || o.Status != 200 {
				t.Errorf("URL check outcome = %+v, want verified, 200, no event", o)
			}
		}
	}
	if checks != 2 {
		t.Errorf("%d handshake outcomes, want 2", checks)
	}
	if strings.Contains(h.logs.String(), tok) {
		t.Errorf("the log holds the token")
	}
}

// TestBasic checks HTTP Basic: the password is the secret, any user name passes, a 401 challenges
// (Twilio sends credentials only then), the answer is the policy's, an empty body is taken and
// does nothing, and the user name (a person's name) is nowhere.
func TestBasic(t *testing.T) {
	h := startIntake(t)
	pw := intakeSecrets["phone"][0]
	loc := `{"_type":"location","tid":"jq","lat":52.1,"lon":4.3,"tst":1700000000}`
	jsonHdr := func(auth string) map[string]string {
		hdr := map[string]string{"Content-Type": "application/json; charset=utf-8"}
		if auth != "" {
			hdr["Authorization"] = auth
		}
		return hdr
	}
	tests := []struct {
		name   string
		auth   string
		body   string
		status int
		answer string
		pub    int
		reason *outcome.Reason
	}{
		{"a person's name", basicHeader(canaryPerson, pw), loc, 200, "[]", 1, outcome.Accepted},
		{"again: a duplicate, same answer", basicHeader("someone else", pw), loc, 200, "[]", 0, outcome.Duplicate},
		{"empty body", basicHeader(canaryPerson, pw), "", 200, "[]", 0, outcome.Ignored},
		{"empty body, wrong password", basicHeader(canaryPerson, "nope-nope-nope-nope"), "", 401, "", 0, outcome.BadSignature},
		{"wrong password", basicHeader(canaryPerson, "phone-password-012345678X"), loc, 401, "", 0, outcome.BadSignature},
		{"no credentials", "", loc, 401, "", 0, outcome.BadSignature},
		{"huge user name", basicHeader(strings.Repeat("J", 20<<10), pw), strings.Replace(loc, "jq", "jr", 1), 200, "[]", 1, outcome.Accepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.pub.messages())
			r := h.raw(http.MethodPost, "/hooks/phone", jsonHdr(tt.auth), []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("POST = %d %q, want %d", r.status, r.body, tt.status)
			}
			if tt.answer != "" && (r.body != tt.answer || r.header.Get("Content-Type") != "application/json") {
				t.Errorf("POST = %q %s, want %q application/json", r.body, r.header.Get("Content-Type"), tt.answer)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="hookbridge", charset="UTF-8"` {
				t.Errorf("401 WWW-Authenticate = %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
			}
			h.expectPublished(before, tt.pub)
			outs := h.obs.take()
			if len(outs) != 1 || outs[0].Reason != tt.reason {
				t.Errorf("outcomes = %+v, want one %s", outs, tt.reason.Word())
			}
		})
	}
	logs := h.logs.String()
	for _, s := range []string{canaryPerson, "Canary", pw, strings.Repeat("J", 64), base64.StdEncoding.EncodeToString([]byte(canaryPerson))} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}

// TestBatch posts arrays of events: each element an event with its own replay key, all new ones
// published together, one answer; an invalid element refuses the whole request.
func TestBatch(t *testing.T) {
	h := startIntake(t)
	el := func(thing string, level int) string {
		return fmt.Sprintf(`{"event":"thing:updated","thing":%q,"level":%d}`, thing, level)
	}
	post := func(body string) reply {
		return h.raw(http.MethodPost, "/hooks/batcher", signedHeaders("batcher", "application/json", []byte(body)), []byte(body))
	}
	tests := []struct {
		name       string
		body       string
		status     int
		answer     string
		pub        int
		accepted   int
		duplicates int
	}{
		{"three", "[" + el("a", 1) + "," + el("b", 2) + "," + el("c", 3) + "]", 202, `{"status":"accepted","events":3,"duplicates":0}`, 3, 3, 0},
		{"the same again", "[" + el("a", 1) + "," + el("b", 2) + "," + el("c", 3) + "]", 200, `{"status":"duplicate","events":3,"duplicates":3}`, 0, 0, 3},
		{"one new among old ones, other whitespace", "[ " + el("a", 1) + ",\n" + el("d", 4) + "\t, " + el("c", 3) + " ]", 202, `{"status":"accepted","events":3,"duplicates":2}`, 1, 1, 2},
		{"the same element twice", "[" + el("e", 5) + "," + el("e", 5) + "]", 202, `{"status":"accepted","events":2,"duplicates":1}`, 1, 1, 1},
		{"one invalid: nothing published", "[" + el("f", 6) + `,{"event":"x","thing":"g","level":"high"}]`, 422, "", 0, 0, 0},
		{"the valid one alone afterwards", "[" + el("f", 6) + "]", 202, `{"status":"accepted","events":1,"duplicates":0}`, 1, 1, 0},
		{"an object: one event", el("h", 8), 202, "", 1, 1, 0},
		{"empty array", "[]", 400, "", 0, 0, 0},
		{"an array in the array", "[[" + el("i", 9) + "]]", 400, "", 0, 0, 0},
		{"over the batch limit", "[" + strings.TrimSuffix(strings.Repeat(el("j", 1)+",", 201), ",") + "]", 400, "", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.pub.messages())
			r := post(tt.body)
			if r.status != tt.status {
				t.Fatalf("POST = %d %q, want %d", r.status, r.body, tt.status)
			}
			if tt.answer != "" && strings.TrimSpace(r.body) != tt.answer {
				t.Errorf("POST = %s, want %s", r.body, tt.answer)
			}
			if tt.status == 422 {
				if p := r.json(t)["path"]; p != "/1/level" {
					t.Errorf("422 path = %v, want /1/level (into the body)", p)
				}
			}
			h.expectPublished(before, tt.pub)
			outs := h.obs.take()
			acc, dup := 0, 0
			tokens := map[string]bool{}
			for _, o := range outs {
				switch o.Reason {
				case outcome.Accepted:
					acc++
					if len(o.Topics) != 1 {
						t.Errorf("accepted element's outcome has topics %v, want one", o.Topics)
					}
				case outcome.Duplicate:
					dup++
				}
				if o.Token != "" {
					tokens[o.Token] = true
				}
			}
			if acc != tt.accepted || dup != tt.duplicates {
				t.Errorf("outcomes: %d accepted, %d duplicates, want %d and %d (%+v)", acc, dup, tt.accepted, tt.duplicates, outs)
			}
		})
	}
}

// TestBatchesShareIDs posts, from many goroutines at once, batches holding the same events in
// opposite orders: none waits forever for another, and each event is published exactly once.
func TestBatchesShareIDs(t *testing.T) {
	h := startIntake(t)
	const rounds = 20
	for i := range rounds {
		a := fmt.Sprintf(`{"event":"e","thing":"x%d","level":1}`, i)
		b := fmt.Sprintf(`{"event":"e","thing":"y%d","level":2}`, i)
		bodies := []string{"[" + a + "," + b + "]", "[" + b + "," + a + "]"}
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		for j := range statuses {
			wg.Go(func() {
				body := bodies[j%2]
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.url+"/hooks/batcher", strings.NewReader(body))
				for k, v := range signedHeaders("batcher", "application/json", []byte(body)) {
					req.Header.Set(k, v)
				}
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Errorf("POST: %v", err)
					return
				}
				resp.Body.Close()
				statuses[j] = resp.StatusCode
			})
		}
		wg.Wait()
		for _, s := range statuses {
			if s != 200 && s != 202 {
				t.Fatalf("round %d: statuses %v, want 200 or 202", i, statuses)
			}
		}
	}
	if got := len(h.pub.messages()); got != 2*rounds {
		t.Errorf("published %d messages, want %d (each event once)", got, 2*rounds)
	}
}

// TestHandshake answers a signed url_verification with its challenge and nothing else; unsigned
// it is a 401, and a challenge that is not a short token is refused, never echoed.
func TestHandshake(t *testing.T) {
	h := startIntake(t)
	const challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
	hs := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"` + challenge + `","type":"url_verification"}`
	tests := []struct {
		name   string
		body   string
		signed bool
		status int
		answer string
	}{
		{"signed", hs, true, 200, `{"challenge":"` + challenge + `"}`},
		{"again: answered again", hs, true, 200, `{"challenge":"` + challenge + `"}`},
		{"unsigned", hs, false, 401, ""},
		{"odd challenge", `{"challenge":"<script>alert(1)</script>","type":"url_verification"}`, true, 400, ""},
		{"long challenge", `{"challenge":"` + strings.Repeat("a", 257) + `","type":"url_verification"}`, true, 400, ""},
		{"no challenge", `{"type":"url_verification"}`, true, 400, ""},
		{"challenge not a string", `{"challenge":12345,"type":"url_verification"}`, true, 400, ""},
		{"an event", `{"type":"event_callback","event_id":"Ev1","event":{"type":"reaction_added"}}`, true, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.pub.messages())
			hdr := map[string]string{"Content-Type": "application/json"}
			if tt.signed {
				hdr = signedHeaders("chat", "application/json", []byte(tt.body))
			}
			r := h.raw(http.MethodPost, "/hooks/chat", hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("POST = %d %q, want %d", r.status, r.body, tt.status)
			}
			if tt.answer != "" && strings.TrimSpace(r.body) != tt.answer {
				t.Errorf("POST = %s, want %s", r.body, tt.answer)
			}
			if tt.status == 400 && (strings.Contains(r.body, "script") || strings.Contains(r.body, "aaaa")) {
				t.Errorf("refusal %q echoes the challenge", r.body)
			}
			pub := 0
			if tt.status == 202 {
				pub = 1
			}
			h.expectPublished(before, pub)
			for _, o := range h.obs.take() {
				if tt.status == 200 && (o.Reason != outcome.Handshake || o.Token != "") {
					t.Errorf("handshake outcome = %s %q, want handshake without an event", o.Reason.Word(), o.Token)
				}
			}
		})
	}
}

// TestEventTypeSources routes by a path segment, a header and a constant.
func TestEventTypeSources(t *testing.T) {
	h := startIntake(t)
	bearer := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + intakeSecrets["lorawan"][0]}
	order := `{"total":"12.50","id":1}`
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		body   string
		status int
		topics int
	}{
		{"path type", "/hooks/lorawan/uplink", bearer, `{"f_port":1}`, 202, 1},
		{"another path type", "/hooks/lorawan/join", bearer, `{"f_port":2}`, 202, 0},
		{"no path: no type", "/hooks/lorawan", bearer, `{"f_port":3}`, 202, 0},
		{"encoded path type", "/hooks/lorawan/up%6Cink", bearer, `{"f_port":4}`, 404, 0},
		{"two segments", "/hooks/lorawan/uplink/x", bearer, `{"f_port":5}`, 404, 0},
		{"dot dot", "/hooks/lorawan/..", bearer, `{"f_port":6}`, 404, 0},
		{"long segment", "/hooks/lorawan/" + strings.Repeat("u", 65), bearer, `{"f_port":7}`, 404, 0},
		{"a segment for a vendor without one", "/hooks/acme-locks/uplink", bearer, `{}`, 404, 0},
		{"header type", "/hooks/shop", signedHeaders("shop", "application/json", []byte(order), "X-Topic", "orders/create"), order, 202, 1},
		{"header type, captured body with another topic: a duplicate", "/hooks/shop",
			signedHeaders("shop", "application/json", []byte(order), "X-Topic", "orders/delete"), order, 200, 0},
		{"no header type", "/hooks/shop", signedHeaders("shop", "application/json", []byte(`{"total":1}`)), `{"total":1}`, 202, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.pub.messages())
			r := h.raw(http.MethodPost, tt.target, tt.hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("POST %s = %d %q, want %d", tt.target, r.status, r.body, tt.status)
			}
			h.expectPublished(before, tt.topics)
		})
	}
}

// TestContentTypes checks the per-vendor content types: the 415 says what the vendor takes, and a
// form with the JSON in payload is the JSON document.
func TestContentTypes(t *testing.T) {
	h := startIntake(t)
	push := `{"ref":"refs/heads/main","repository":{"full_name":"o/r"}}`
	form := "payload=" + url.QueryEscape(push)
	tests := []struct {
		name, target string
		hdr          map[string]string
		body         string
		status       int
		text         string
	}{
		{"form to a JSON vendor", "/hooks/acme-locks", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=1", 415,
			"unsupported content type: send application/json"},
		{"JSON to a form vendor", "/hooks/station/" + intakeSecrets["station"][0], map[string]string{"Content-Type": "application/json"}, "{}", 415,
			"unsupported content type: send application/x-www-form-urlencoded"},
		{"multipart", "/hooks/code", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "--x--", 415,
			"unsupported content type: send application/json or application/x-www-form-urlencoded"},
		{"two content types", "/hooks/code", map[string]string{"Content-Type": "application/json, application/x-www-form-urlencoded"}, "{}", 415, ""},
		{"code as JSON", "/hooks/code", signedHeaders("code", "application/json", []byte(push), "X-Event", "push"), push, 202, ""},
		{"code as a form", "/hooks/code", signedHeaders("code", "application/x-www-form-urlencoded; charset=utf-8", []byte(form+"&x=1"), "X-Event", "push"), form + "&x=1", 400, "invalid form data"},
		{"code as a form, alone", "/hooks/code", signedHeaders("code", "application/x-www-form-urlencoded", []byte(form), "X-Event", "push"), form, 202, ""},
		{"query vendor without a body", "/hooks/querier?tempf=71.5&station=x", map[string]string{"X-Token": intakeSecrets["querier"][0]}, "", 202, ""},
		{"query vendor, same query: a duplicate", "/hooks/querier?tempf=71.5&station=x", map[string]string{"X-Token": intakeSecrets["querier"][0]}, "", 200, ""},
		{"query vendor with a body", "/hooks/querier?tempf=72", map[string]string{"X-Token": intakeSecrets["querier"][0], "Content-Type": "application/json"}, "{}", 415,
			"unsupported content type: send no body with the data in the query string"},
		{"query vendor, bad query", "/hooks/querier?tempf=1&tempf=2", map[string]string{"X-Token": intakeSecrets["querier"][0]}, "", 400, "invalid form data: repeated name in the query string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.raw(http.MethodPost, tt.target, tt.hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("POST %s = %d %q, want %d", tt.target, r.status, r.body, tt.status)
			}
			if tt.text != "" {
				if e, _ := r.json(t)["error"].(string); !strings.HasPrefix(e, tt.text) {
					t.Errorf("error = %q, want %q", e, tt.text)
				}
			}
		})
	}
	msgs := h.pub.messages()
	var sawPush, sawQuery bool
	for _, m := range msgs {
		sawPush = sawPush || m.Topic == "hookbridge/code/push" && string(m.Payload) == `{"ref":"refs/heads/main"}`
		sawQuery = sawQuery || m.Topic == "hookbridge/querier/reading" && string(m.Payload) == `{"temp":71.5}`
	}
	if !sawPush || !sawQuery {
		t.Errorf("published %v, want the push (from JSON or the form) and the reading typed as a number", msgs)
	}
}
