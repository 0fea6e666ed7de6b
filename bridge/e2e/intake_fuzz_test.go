package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// intakeFuzzEnv is an in-process app with the intake catalog, driven through its handler, with
// every message published under the prefix recorded.
type intakeFuzzEnv struct {
	*hostileEnv
	handler   http.Handler
	mu        sync.Mutex
	published []packets.Packet
	secrets   []string
}

func newIntakeFuzzEnv(f *testing.F) *intakeFuzzEnv {
	h := hostileIntakeLaunch(f, nil)
	e := &intakeFuzzEnv{hostileEnv: h, handler: h.Handler()}
	// Events only: the topics under the prefix that start with '_' (alerts, status) are not.
	for i, v := range h.Options.Vendors {
		err := h.Broker().Server().Subscribe(bridgetest.TopicPrefix+"/"+v.Name+"/#", 9500+i, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			e.mu.Lock()
			e.published = append(e.published, pk)
			e.mu.Unlock()
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	e.secrets = []string{bridgetest.PseudonymKey, intakeStationToken2, intakePerson, bridgetest.AcmeSecret}
	for _, s := range intakeSecrets {
		e.secrets = append(e.secrets, s)
	}
	return e
}

// serve sends a raw request to the handler as the server would, from peer, and returns the
// answer, the messages it published and the log it wrote; ok is false when Go's parser refuses
// the request (the handler never sees it).
func (e *intakeFuzzEnv) serve(raw []byte) (rec *httptest.ResponseRecorder, msgs []packets.Packet, log string, seen int64, ok bool) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, nil, "", 0, false
	}
	req.RemoteAddr = "203.0.113.9:40000"
	e.mu.Lock()
	before := len(e.published)
	e.mu.Unlock()
	s0 := e.StoreStats().Seen
	e.Logs.Take()
	rec = httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	e.mu.Lock()
	msgs = append([]packets.Packet(nil), e.published[before:]...)
	e.mu.Unlock()
	return rec, msgs, e.Logs.Take(), e.StoreStats().Seen - s0, true
}

// policyAnswers are the intake vendors' own success answers, by vendor.
var policyAnswers = map[string]string{"intake-health": "", "intake-phone": "[]", "intake-particle": "", "intake-sms": "<Response/>"}

// checkFuzzAnswer checks an answer's status and body against the contract and the vendor's
// policy answer, and that it holds none of the values.
func checkFuzzAnswer(t *testing.T, method, vendor string, rec *httptest.ResponseRecorder, values []string) {
	t.Helper()
	status, body := rec.Code, rec.Body.String()
	switch status {
	case 200, 202, 400, 401, 403, 404, 405, 413, 415, 422, 429, 503:
	default:
		t.Fatalf("status %d is not in the contract; body %q", status, body)
	}
	pa, hasAnswer := policyAnswers[vendor]
	switch {
	case method == http.MethodHead:
		if body != "" {
			t.Fatalf("HEAD answered with a body %q", body)
		}
	case status < 300 && hasAnswer:
		if body != pa {
			t.Fatalf("%s's success answer %q, want its policy's %q", vendor, body, pa)
		}
	case status < 300:
		var a map[string]any
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("body %q is not JSON", body)
		}
		switch a["status"] {
		case "accepted", "duplicate":
		default:
			if _, ok := a["challenge"]; !ok {
				t.Fatalf("%d body %q", status, body)
			}
		}
	default:
		var a map[string]any
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("body %q is not JSON", body)
		}
		msg, _ := a["error"].(string)
		ok := false
		for _, re := range hostileErrorTexts {
			ok = ok || re.MatchString(msg)
		}
		if !ok {
			t.Fatalf("error text %q is not one of the fixed texts", msg)
		}
	}
	var head strings.Builder
	rec.Header().Write(&head)
	out := head.String() + body
	for _, v := range values {
		if len(v) >= 6 && strings.Contains(out, v) {
			t.Fatalf("the answer holds a value it must not (%s): %q", hostileClip(v), hostileClip(out))
		}
	}
}

// checkFuzzEffects checks what a request changed: only a taken request publishes, only on its
// vendor's topics, with pseudonymized fields as tokens; the log holds none of the values.
func checkFuzzEffects(t *testing.T, vendor string, status int, msgs []packets.Packet, grew int64, log string, values []string) {
	t.Helper()
	if status >= 300 && (len(msgs) > 0 || grew != 0) {
		t.Fatalf("status %d, yet %d messages published and %d replay records added", status, len(msgs), grew)
	}
	if int64(len(msgs)) > 0 && grew == 0 {
		t.Fatalf("%d messages published without a replay record", len(msgs))
	}
	for _, m := range msgs {
		fields := hostileCheckPublished(t, vendor, m, []string{"station", "user", "tid", "device", "vehicle", "message"})
		for _, name := range []string{"temp_f", "humidity", "rain_today_in"} {
			if v, ok := fields[name]; ok {
				if _, isNum := v.(float64); !isNum {
					t.Fatalf("field %s = %v on %s, want a number (the schema types it)", name, v, m.TopicName)
				}
			}
		}
	}
	for _, v := range values {
		if len(v) >= 6 && hostileHolds(log, v) {
			t.Fatalf("the log holds a value it must not (%s): %q", hostileClip(v), hostileClip(log))
		}
	}
}

// FuzzIntakePath drives the handler with request targets: path segments after /hooks/{vendor}/
// (tokens, types, junk), queries, methods. The inputs are the method, the target, credentials
// bits and a body: bit 0 adds the bearer header of intake-lorawan and intake-particle, bit 1
// intake-phone's Basic credentials, bit 2 intake-query's X-Token, bit 3 a form Content-Type
// (else JSON), bit 4 appends a canary segment made by the harness, which must never be
// answered or logged. Invariants: a status of the contract with a fixed error text or the
// vendor's own success answer, nothing published or recorded but for a taken request, and no
// secret, token, user name or canary in the answer or the log.
func FuzzIntakePath(f *testing.F) {
	e := newIntakeFuzzEnv(f)
	seeds := []struct {
		method, target string
		bits           uint8
		body           string
	}{
		{"POST", "/hooks/intake-station/" + intakeStationToken, 8, "PASSKEY=" + intakePasskey + "&tempf=1"},
		{"POST", "/hooks/intake-station/" + intakeStationToken + "/x", 8, "tempf=1"},
		{"POST", "/hooks/intake-station", 8 | 16, "tempf=1"},
		{"POST", "/hooks/intake-station/%2F" + intakeStationToken, 8, "tempf=1"},
		{"HEAD", "/hooks/intake-health/" + intakeHealthToken, 0, ""},
		{"HEAD", "/hooks/intake-health/" + intakeHealthToken[1:], 0, ""},
		{"HEAD", "/hooks/intake-health", 16, ""},
		{"GET", "/hooks/intake-health/" + intakeHealthToken, 0, ""},
		{"POST", "/hooks/intake-lorawan/uplink", 1, `{"end_device_ids":{"device_id":"d1"}}`},
		{"POST", "/hooks/intake-lorawan/up%6Cink", 1, `{"end_device_ids":{"device_id":"d1"}}`},
		{"POST", "/hooks/intake-lorawan/..", 1, `{}`},
		{"POST", "/hooks/intake-phone", 2, `{"_type":"location","tid":"jq","lat":1}`},
		{"POST", "/hooks/intake-phone", 2, ``},
		{"POST", "/hooks/intake-query?tempf=7&x=%00", 4, ``},
		{"POST", "/hooks/intake-query?tempf=7", 4, ``},
		{"POST", "/hooks/intake-particle", 1 | 8, "event=demo&coreid=c1&data=d"},
		{"POST", "/hooks/acme-locks/x", 0, `{}`},
		{"OPTIONS", "*", 0, ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.bits, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target string, bits uint8, body []byte) {
		sum := sha256.Sum256(append([]byte(method+"\x00"+target+"\x00"), body...))
		canary := "cz" + hex.EncodeToString(sum[:10])
		if bits&16 != 0 {
			target = strings.TrimRight(target, "/") + "/" + canary
		}
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: hookbridge.test\r\nContent-Length: %d\r\n", method, target, len(body))
		if bits&8 != 0 {
			raw.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
		} else {
			raw.WriteString("Content-Type: application/json\r\n")
		}
		switch {
		case bits&1 != 0 && strings.Contains(target, "particle"):
			raw.WriteString("Authorization: Bearer " + intakeParticleToken + "\r\n")
		case bits&1 != 0:
			raw.WriteString("Authorization: Bearer " + intakeLoraToken + "\r\n")
		case bits&2 != 0:
			raw.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(intakePerson+":"+intakePhonePassword)) + "\r\n")
		}
		if bits&4 != 0 {
			raw.WriteString("X-Token: " + intakeQueryToken + "\r\n")
		}
		raw.WriteString("\r\n")
		raw.Write(body)
		rec, msgs, log, grew, ok := e.serve(raw.Bytes())
		if !ok {
			return
		}
		vendor := ""
		if rest, ok := strings.CutPrefix(target, "/hooks/"); ok {
			vendor, _, _ = strings.Cut(rest, "/")
			vendor, _, _ = strings.Cut(vendor, "?")
		}
		values := append([]string{canary}, e.secrets...)
		checkFuzzAnswer(t, method, vendor, rec, values)
		checkFuzzEffects(t, vendor, rec.Code, msgs, grew, log, values)
	})
}

// FuzzIntakeForm drives the form and query intake with bodies and query strings, each request
// properly authenticated as its vendor's sender (a path token, a bearer header, a signature over
// the body, or over the URL and the form): the parser, the schema's typing and the routes see
// every input. Invariants as FuzzIntakePath's, and fields the schema types are published as
// numbers.
func FuzzIntakeForm(f *testing.F) {
	e := newIntakeFuzzEnv(f)
	vendors := []string{"intake-station", "intake-health", "intake-particle", "intake-code", "intake-sms", "intake-query"}
	seeds := []struct {
		vendor uint8
		body   string
		query  string
	}{
		{0, "PASSKEY=" + intakePasskey + "&tempf=47.8&humidity=91&dailyrainin=0.012", ""},
		{0, "PASSKEY=" + intakePasskey + "&tempf=1e2&humidity=91.0", ""},
		{0, "PASSKEY=" + intakePasskey + "&tempf=%2B1&humidity=01", ""},
		{0, "tempf=1&tempf=2", ""},
		{0, strings.Repeat("&", 5000), ""},
		{0, "a=%C0%AF", ""},
		{1, "userid=12345&appli=1&startdate=1530576000&enddate=1530698753", ""},
		{1, "userid=12345&appli=1.0&startdate=1e3", ""},
		{2, "event=demo&data=mydata&published_at=2017-02-01T21%3A08%3A05.763Z&coreid=3f002b000000000000000000", ""},
		{3, "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D", ""},
		{3, "payload=%7B%22ref%22%3A1%7D&x=1", ""},
		{4, "MessageSid=SM1&MessageStatus=delivered&To=%2B14155550100", "route=status"},
		{5, "", "tempf=71.5&dateutc=2000-01-01+10%3A32%3A35"},
		{5, "", "tempf=NaN"},
	}
	for _, s := range seeds {
		f.Add(s.vendor, []byte(s.body), s.query)
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte, query string) {
		vendor := vendors[int(sel)%len(vendors)]
		if strings.ContainsAny(query, " #\r\n\x00") || len(query) > 4096 {
			return // not a request target Go's parser takes
		}
		target := "/hooks/" + vendor
		hs := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		switch vendor {
		case "intake-station":
			target += "/" + intakeStationToken
		case "intake-health":
			target += "/" + intakeHealthToken
		case "intake-particle":
			hs["Authorization"] = "Bearer " + intakeParticleToken
		case "intake-query":
			hs = map[string]string{"X-Token": intakeQueryToken}
			body = nil
		case "intake-code", "intake-sms":
			if _, err := url.ParseQuery(query); err != nil && vendor == "intake-sms" {
				return // Twilio's verifier refuses a query that does not parse: no sender sends one
			}
			cv, _ := e.Catalog.Vendor(vendor)
			u := intakePublicURL + target
			if query != "" {
				u += "?" + query
			}
			m := &verify.Message{URL: u, ContentType: hs["Content-Type"], Body: body, Time: time.Now()}
			if err := (verify.Signer{Auth: cv.Policy.Auth, Secret: intakeSecrets[vendor]}).SignMessage(m); err != nil {
				return // a body the sender could not sign (Twilio signs the form's fields)
			}
			for k, v := range m.Header {
				hs[k] = v
			}
			hs["X-GitHub-Event"] = "push"
		}
		if query != "" {
			target += "?" + query
		}
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "POST %s HTTP/1.1\r\nHost: hookbridge.test\r\nContent-Length: %d\r\n", target, len(body))
		for k, v := range hs {
			fmt.Fprintf(&raw, "%s: %s\r\n", k, v)
		}
		raw.WriteString("\r\n")
		raw.Write(body)
		rec, msgs, log, grew, ok := e.serve(raw.Bytes())
		if !ok {
			return
		}
		if rec.Code == http.StatusUnauthorized {
			t.Fatalf("an authenticated request to %s got 401: %s", vendor, rec.Body.String())
		}
		checkFuzzAnswer(t, http.MethodPost, vendor, rec, e.secrets)
		checkFuzzEffects(t, vendor, rec.Code, msgs, grew, log, e.secrets)
	})
}
