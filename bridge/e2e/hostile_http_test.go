package e2e_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// hostileCase is one hostile request to the partner listener and what it must get.
type hostileCase struct {
	category string
	name     string
	build    func(s hostileSigner, id string) bridgetest.RawRequest
	status   int
	// goAnswers marks requests that Go's http.Server refuses itself, before Hookbridge's handler
	// runs: the answer is Go's own text body, not JSON, and there is no clean way to change that.
	goAnswers bool
	// publishes is how many messages an accepted request publishes.
	publishes int
	// resend names the vendor the same id is sent to afterwards, properly, which must be accepted:
	// proof that the refusal recorded nothing.
	resend string
	// prepare runs before the request: it sends the original of a replay.
	prepare func(t *testing.T, h *hostileEnv, id string)
	// check checks more of the answer.
	check func(t *testing.T, r bridgetest.RawResponse)
	// canaries are values of the request, beyond its id and signatures, that must never be echoed
	// or logged.
	canaries func(id string) []string
}

// hostileMaxBodyKB is max_body_kb in the hostile HTTP tests: room for the deep-nesting bodies.
const hostileMaxBodyKB = 16

// Bodies of the vendors the table uses. The device and meter ids contain the event id, so the
// canary checks on the id cover them too.
func hostileAcme(id string) []byte { return bridgetest.AcmeEvent(id, "dev-"+id, 80) }

func hostileGridwise(deliveryID any) []byte {
	doc := map[string]any{
		"event":   "demand_response.started",
		"account": map[string]any{"id": "acct-1", "meter_serial": fmt.Sprintf("MTR-%v", deliveryID)},
		"demand_response": map[string]any{
			"level": "high", "start": "2026-11-25T17:00:00Z", "end": "2026-11-25T19:00:00Z", "target_kw": 2.5,
		},
	}
	if deliveryID != nil {
		doc["delivery_id"] = deliveryID
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func hostilePorchlight(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":"motion.detected","created":1764058443,"data":{"object":{"camera_id":"cam-%s","zone":"front_door","confidence":0.5}}}`, id, id))
}

// hostileBBody returns a bearer-vendor body (acme-locks' schema, id at /id).
func hostileBearerBody(id string) []byte { return hostileAcme(id) }

// Header list helpers.
func hostileSet(hs []bridgetest.Header, key, value string) []bridgetest.Header {
	out := make([]bridgetest.Header, 0, len(hs)+1)
	found := false
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			if !found {
				out = append(out, bridgetest.Header{Key: h.Key, Value: value})
			}
			found = true
			continue
		}
		out = append(out, h)
	}
	if !found {
		out = append(out, bridgetest.Header{Key: key, Value: value})
	}
	return out
}

func hostileDel(hs []bridgetest.Header, key string) []bridgetest.Header {
	var out []bridgetest.Header
	for _, h := range hs {
		if !strings.EqualFold(h.Key, key) {
			out = append(out, h)
		}
	}
	return out
}

func hostileGet(hs []bridgetest.Header, key string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// hostileAcmeReq is acme-locks' properly signed request for id, changed by edit.
func hostileAcmeReq(s hostileSigner, id string, edit func(r *bridgetest.RawRequest)) bridgetest.RawRequest {
	body := hostileAcme(id)
	r := bridgetest.RawRequest{Header: s.signed("acme-locks", id, body), Body: body}
	if edit != nil {
		edit(&r)
	}
	return r
}

// hostileSignedBody is acme-locks' request for id with a body of our choosing, properly signed.
func hostileSignedBody(s hostileSigner, id string, body []byte) bridgetest.RawRequest {
	return bridgetest.RawRequest{Header: s.signed("acme-locks", id, body), Body: body}
}

// hostileAcmeAt signs acme-locks' body for id with the Webhook-Timestamp text ts, which need not be
// a time the signer could produce.
func hostileAcmeAt(s hostileSigner, id, ts string) bridgetest.RawRequest {
	body := hostileAcme(id)
	a, err := verify.CompileAuth("standard-webhooks", 0, nil)
	if err != nil {
		panic(err)
	}
	key, err := a.Key(bridgetest.AcmeSecret)
	if err != nil {
		panic(err)
	}
	mac := hostileHMAC(key.MAC, []byte(id+"."+ts+"."), body)
	return bridgetest.RawRequest{Body: body, Header: []bridgetest.Header{
		{Key: "Content-Type", Value: "application/json"}, {Key: "Webhook-Id", Value: id}, {Key: "Webhook-Timestamp", Value: ts},
		{Key: "Webhook-Signature", Value: "v1," + base64.StdEncoding.EncodeToString(mac)},
	}}
}

// hostileCases is the table. Seeds of FuzzHandler come from it too.
func hostileCases() []hostileCase {
	acme := func(edit func(r *bridgetest.RawRequest)) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest { return hostileAcmeReq(s, id, edit) }
	}
	method := func(m string) func(r *bridgetest.RawRequest) { return func(r *bridgetest.RawRequest) { r.Method = m } }
	target := func(p string) func(r *bridgetest.RawRequest) { return func(r *bridgetest.RawRequest) { r.Target = p } }
	json400 := func(t *testing.T, r bridgetest.RawResponse) {
		t.Helper()
		if e, _ := r.Body["error"].(string); !strings.HasPrefix(e, "invalid JSON") && !strings.HasPrefix(e, "JSON exceeds limits") {
			t.Errorf("error = %q, want an invalid JSON or JSON limits error", e)
		}
	}
	eventID400 := func(t *testing.T, r bridgetest.RawResponse) {
		t.Helper()
		if e, _ := r.Body["error"].(string); !strings.HasPrefix(e, "invalid event id") && e != "no event id" {
			t.Errorf("error = %q, want an event id error", e)
		}
	}
	allowPost := func(t *testing.T, r bridgetest.RawResponse) {
		t.Helper()
		if got := r.Header.Get("Allow"); got != http.MethodPost {
			t.Errorf("Allow = %q, want POST", got)
		}
	}
	stripeTS := func(ts string) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostilePorchlight(id)
			mac := hostileHMAC([]byte(bridgetest.PorchlightSecret), []byte(ts+"."), body)
			return bridgetest.RawRequest{Target: "/hooks/porchlight-cams", Body: body, Header: []bridgetest.Header{
				{Key: "Content-Type", Value: "application/json"}, {Key: "Stripe-Signature", Value: fmt.Sprintf("t=%s,v1=%x", ts, mac)},
			}}
		}
	}
	gridwise := func(edit func(s hostileSigner, id string, r *bridgetest.RawRequest)) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostileGridwise(id)
			r := bridgetest.RawRequest{Target: "/hooks/gridwise-energy", Body: body, Header: s.signed("gridwise-energy", id, body)}
			if edit != nil {
				edit(s, id, &r)
			}
			return r
		}
	}
	// gridwiseBodyID signs a gridwise body whose delivery_id is given as raw JSON, with no
	// X-GitHub-Delivery header, so the id comes from the body.
	gridwiseBodyID := func(rawID string) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest {
			var body []byte
			if rawID == "" {
				body = hostileGridwise(nil)
			} else {
				body = bytes.Replace(hostileGridwise("@ID@"), []byte(`"@ID@"`), []byte(rawID), 1)
			}
			return bridgetest.RawRequest{Target: "/hooks/gridwise-energy", Body: body, Header: s.signed("gridwise-energy", "", body)}
		}
	}
	bearer := func(token string) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest {
			return bridgetest.RawRequest{Target: "/hooks/bearer-vendor", Body: hostileBearerBody(id), Header: []bridgetest.Header{
				{Key: "Content-Type", Value: "application/json"}, {Key: "Authorization", Value: token},
			}}
		}
	}
	body := func(b func(id string) string) func(s hostileSigner, id string) bridgetest.RawRequest {
		return func(s hostileSigner, id string) bridgetest.RawRequest { return hostileSignedBody(s, id, []byte(b(id))) }
	}
	// acmeJSON is an acme-locks body with raw JSON spliced into data.
	acmeJSON := func(extra string) func(id string) string {
		return func(id string) string {
			return strings.Replace(string(hostileAcme(id)), `"data":{`, `"data":{`+extra+`,`, 1)
		}
	}

	var cs []hostileCase
	add := func(category string, list ...hostileCase) {
		for _, c := range list {
			c.category = category
			cs = append(cs, c)
		}
	}

	add("method, path and vendor",
		hostileCase{name: "GET", status: 405, build: acme(method("GET")), check: allowPost},
		hostileCase{name: "PUT with a valid signature", status: 405, resend: "acme-locks", build: acme(method("PUT")), check: allowPost},
		hostileCase{name: "DELETE", status: 405, build: acme(method("DELETE"))},
		hostileCase{name: "PATCH", status: 405, build: acme(method("PATCH"))},
		hostileCase{name: "OPTIONS", status: 405, build: acme(method("OPTIONS"))},
		hostileCase{name: "HEAD", status: 405, build: acme(method("HEAD")), check: allowPost},
		hostileCase{name: "TRACE", status: 405, build: acme(method("TRACE"))},
		hostileCase{name: "lowercase post", status: 405, resend: "acme-locks", build: acme(method("post"))},
		hostileCase{name: "GET of an unknown vendor: method is checked first", status: 405, build: acme(func(r *bridgetest.RawRequest) { r.Method, r.Target = "GET", "/hooks/nobody" })},
		hostileCase{name: "OPTIONS asterisk", status: 404, build: acme(func(r *bridgetest.RawRequest) { r.Method, r.Target = "OPTIONS", "*" })},
		hostileCase{name: "CONNECT to an inside address", status: 404, build: acme(func(r *bridgetest.RawRequest) { r.Method, r.Target = "CONNECT", "10.0.0.1:443" })},
		hostileCase{name: "HTTP/2 preface", status: 404, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return bridgetest.RawRequest{Method: "PRI", Target: "*", NoLength: true}
		}},
		hostileCase{name: "unknown vendor", status: 404, resend: "acme-locks", build: acme(target("/hooks/nobody"))},
		hostileCase{name: "empty vendor", status: 404, build: acme(target("/hooks/"))},
		hostileCase{name: "uppercase vendor", status: 404, resend: "acme-locks", build: acme(target("/hooks/ACME-LOCKS"))},
		hostileCase{name: "underscore in vendor", status: 404, build: acme(target("/hooks/acme_locks"))},
		hostileCase{name: "vendor of 64 characters", status: 404, build: acme(target("/hooks/" + strings.Repeat("a", 64)))},
		hostileCase{name: "trailing slash", status: 404, resend: "acme-locks", build: acme(target("/hooks/acme-locks/"))},
		hostileCase{name: "double slash", status: 404, build: acme(target("//hooks/acme-locks"))},
		hostileCase{name: "dot-dot before the vendor", status: 404, build: acme(target("/hooks/../hooks/acme-locks"))},
		hostileCase{name: "dot-dot from another vendor", status: 404, resend: "acme-locks", build: acme(target("/hooks/porchlight-cams/../acme-locks"))},
		hostileCase{name: "percent-encoded dash", status: 404, resend: "acme-locks", build: acme(target("/hooks/acme%2Dlocks"))},
		hostileCase{name: "encoded slash and dot-dot", status: 404, build: acme(target("/hooks/acme-locks%2F..%2Fgridwise-energy"))},
		hostileCase{name: "encoded dot-dot to the admin API", status: 404, build: acme(target("/hooks/%2e%2e%2fapi%2fvendors"))},
		hostileCase{name: "encoded NUL after the vendor", status: 404, build: acme(target("/hooks/acme-locks%00"))},
		hostileCase{name: "invalid percent-encoding", status: 400, goAnswers: true, build: acme(target("/hooks/acme%zz"))},
		hostileCase{name: "admin kill switch on the partner port", status: 404, resend: "acme-locks", build: acme(target("/api/vendors/acme-locks/disable"))},
		hostileCase{name: "metrics on the partner port", status: 404, build: acme(func(r *bridgetest.RawRequest) { r.Method, r.Target = "GET", "/metrics" })},
		hostileCase{name: "absolute-form target naming a metadata host: served locally", status: 202, publishes: 1,
			build: acme(target("http://169.254.169.254/hooks/acme-locks"))},
		hostileCase{name: "query string with a callback URL: ignored", status: 202, publishes: 1,
			build: acme(target("/hooks/acme-locks?callback=http%3A%2F%2F127.0.0.1%3A8099%2Fapi%2Fvendors"))},
	)

	add("headers",
		hostileCase{name: "text/plain", status: 415, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) { r.Header = hostileSet(r.Header, "Content-Type", "text/plain") })},
		hostileCase{name: "no Content-Type", status: 415, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) { r.Header = hostileDel(r.Header, "Content-Type") })},
		hostileCase{name: "Content-Type twice", status: 415, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Type", Value: "application/json"})
		})},
		hostileCase{name: "Content-Type list", status: 415, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Content-Type", "application/json, text/html")
		})},
		hostileCase{name: "Content-Type lookalike", status: 415, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Content-Type", "application/jsonp")
		})},
		hostileCase{name: "Webhook-Signature repeated, both valid", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Webhook-Signature", Value: hostileGet(r.Header, "Webhook-Signature")})
		})},
		hostileCase{name: "Webhook-Id repeated", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Webhook-Id", Value: "evt_other"})
		})},
		hostileCase{name: "Webhook-Timestamp repeated", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Webhook-Timestamp", Value: hostileGet(r.Header, "Webhook-Timestamp")})
		})},
		hostileCase{name: "Webhook-Signature of 20 KiB", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Signature", strings.Repeat("v1,"+strings.Repeat("A", 43)+"= ", 430))
		})},
		hostileCase{name: "folded Webhook-Id (obs-fold)", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Id", hostileGet(r.Header, "Webhook-Id")+"\r\n x")
		})},
		hostileCase{name: "one header of 40 KiB", status: 431, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "X-Padding", Value: strings.Repeat("p", 40<<10)})
		})},
		hostileCase{name: "5000 headers", status: 431, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			for i := 0; i < 5000; i++ {
				r.Header = append(r.Header, bridgetest.Header{Key: "X-Junk-" + strconv.Itoa(i), Value: "x"})
			}
		})},
		hostileCase{name: "space in a header name", status: 400, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Webhook Signature", Value: "v1,x"})
		})},
		hostileCase{name: "NUL in the Webhook-Id header", status: 400, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Id", hostileGet(r.Header, "Webhook-Id")+"\x00x")
		})},
	)

	add("body size and framing",
		hostileCase{name: "body over max_body_kb", status: 413, resend: "acme-locks", build: body(func(id string) string {
			return strings.Replace(string(hostileAcme(id)), `"created_at"`, `"pad":"`+strings.Repeat("x", hostileMaxBodyKB<<10)+`","created_at"`, 1)
		})},
		hostileCase{name: "Content-Length of 10 GB, no body sent", status: 413, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: "10000000000"})
			r.Body = nil
		})},
		hostileCase{name: "Content-Length beyond int64", status: 400, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: "99999999999999999999999"})
		})},
		hostileCase{name: "negative Content-Length", status: 400, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: "-1"})
		})},
		hostileCase{name: "two different Content-Lengths", status: 400, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: strconv.Itoa(len(r.Body))}, bridgetest.Header{Key: "Content-Length", Value: "5"})
		})},
		hostileCase{name: "chunked body over the cap", status: 413, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Transfer-Encoding", Value: "chunked"})
			var b bytes.Buffer
			chunk := strings.Repeat("x", 4096)
			for i := 0; i < 2*hostileMaxBodyKB/4+2; i++ {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
			}
			b.WriteString("0\r\n\r\n")
			r.Body = b.Bytes()
		})},
		hostileCase{name: "chunked body with a bad chunk size", status: 400, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Transfer-Encoding", Value: "chunked"})
			r.Body = []byte("zz\r\n{}\r\n0\r\n\r\n")
		})},
		hostileCase{name: "chunk extension of 8 KiB", status: 400, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Transfer-Encoding", Value: "chunked"})
			r.Body = []byte(fmt.Sprintf("%x;%s\r\n%s\r\n0\r\n\r\n", len(r.Body), strings.Repeat("e", 8<<10), r.Body))
		})},
		hostileCase{name: "Content-Length longer than the body, then the client gives up", status: 400, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: strconv.Itoa(len(r.Body) + 100)})
			r.HalfClose = true
		}), check: func(t *testing.T, r bridgetest.RawResponse) {
			if e, _ := r.Body["error"].(string); e != "could not read body" {
				t.Errorf("error = %q, want could not read body", e)
			}
		}},
		hostileCase{name: "Content-Length shorter than the body", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: strconv.Itoa(len(r.Body) - 10)})
		})},
		hostileCase{name: "Content-Length and chunked together: chunked wins, connection closed", status: 202, publishes: 1, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Length", Value: "5"}, bridgetest.Header{Key: "Transfer-Encoding", Value: "chunked"})
			r.Body = []byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(r.Body), r.Body))
			r.KeepAlive = true
		}), check: func(t *testing.T, r bridgetest.RawResponse) {
			if !r.Closed {
				t.Errorf("connection left open after a request with both Content-Length and Transfer-Encoding")
			}
		}},
		hostileCase{name: "Transfer-Encoding gzip", status: 501, goAnswers: true, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Transfer-Encoding", Value: "gzip"})
		})},
		hostileCase{name: "Expect 100-continue over the cap: refused before the body", status: 413, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = append(r.Header, bridgetest.Header{Key: "Expect", Value: "100-continue"}, bridgetest.Header{Key: "Content-Length", Value: "1000000"})
			r.Body = nil
		}), check: func(t *testing.T, r bridgetest.RawResponse) {
			if strings.Contains(r.Raw, "100 Continue") {
				t.Errorf("server asked for a body it will refuse: %q", r.Raw)
			}
		}},
		hostileCase{name: "empty body", status: 400, resend: "acme-locks", build: body(func(string) string { return "" }), check: json400},
		hostileCase{name: "gzip Content-Encoding is refused, not decompressed", status: 415, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(hostileAcme(id))
			zw.Close()
			r := hostileSignedBody(s, id, b.Bytes())
			r.Header = append(r.Header, bridgetest.Header{Key: "Content-Encoding", Value: "gzip"})
			return r
		}, check: func(t *testing.T, r bridgetest.RawResponse) {
			t.Helper()
			if e, _ := r.Body["error"].(string); !strings.HasPrefix(e, "content encoding must be identity") {
				t.Errorf("error = %q, want the content encoding error", e)
			}
		}},
	)

	deep := func(n int) func(string) string {
		return func(id string) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	}
	add("JSON",
		hostileCase{name: "arrays nested 5000 deep", status: 400, resend: "acme-locks", build: body(deep(5000)), check: json400},
		hostileCase{name: "objects nested 33 deep", status: 400, resend: "acme-locks", build: body(acmeJSON(`"location":` + strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33))), check: json400},
		hostileCase{name: "number with a huge exponent", status: 400, resend: "acme-locks", build: body(acmeJSON(`"battery_pct":1e999999999`)), check: json400},
		hostileCase{name: "number of 41 digits", status: 400, build: body(acmeJSON(`"battery_pct":` + strings.Repeat("9", 41))), check: json400},
		hostileCase{name: "4097 array elements", status: 400, build: body(func(string) string { return "[" + strings.Repeat("0,", 4096) + "0]" }), check: json400},
		hostileCase{name: "duplicate id key", status: 400, resend: "acme-locks", build: body(func(id string) string {
			return strings.Replace(string(hostileAcme(id)), `{"id":`, `{"id":"evt_decoy","id":`, 1)
		}), check: json400},
		hostileCase{name: "duplicate nested key", status: 400, build: body(acmeJSON(`"device_id":"dev-decoy"`)), check: json400},
		hostileCase{name: "invalid UTF-8 in a string", status: 400, resend: "acme-locks", build: body(acmeJSON("\"method\":\"app\xff\"")), check: json400},
		hostileCase{name: "overlong UTF-8 for '/'", status: 400, build: body(acmeJSON("\"method\":\"a\xc0\xafb\"")), check: json400},
		hostileCase{name: "lone surrogate escape", status: 400, build: body(acmeJSON(`"method":"\ud800"`)), check: json400},
		hostileCase{name: "byte order mark", status: 400, build: body(func(id string) string { return "\xef\xbb\xbf" + string(hostileAcme(id)) }), check: json400},
		hostileCase{name: "data after the JSON value", status: 400, build: body(func(id string) string { return string(hostileAcme(id)) + `{"id":"evt_second"}` }), check: json400},
		hostileCase{name: "top-level array", status: 422, resend: "acme-locks", build: body(func(string) string { return `[1,2,3]` })},
		hostileCase{name: "unknown key whose name is personal data", status: 422, resend: "acme-locks",
			build: body(func(id string) string {
				return acmeJSON(`"jane-doe-` + id + `@example.com":true`)(id)
			}), check: func(t *testing.T, r bridgetest.RawResponse) {
				if r.Body["path"] != "/data" {
					t.Errorf("422 path = %v, want /data (the parent of the unknown key)", r.Body["path"])
				}
			}},
		hostileCase{name: "value outside the enum", status: 422, resend: "acme-locks",
			build: body(func(id string) string {
				return strings.Replace(string(hostileAcme(id)), `"state":"locked"`, `"state":"open-sesame-`+id+`"`, 1)
			}), check: func(t *testing.T, r bridgetest.RawResponse) {
				if r.Body["path"] != "/data/state" || r.Body["keyword"] != "enum" {
					t.Errorf("422 body = %s, want path /data/state and keyword enum", r.Text)
				}
			}},
	)

	add("event ids",
		hostileCase{name: "NUL in the body id", status: 400, build: gridwiseBodyID(`"evt_nul\u0000x"`), check: eventID400},
		hostileCase{name: "escape character in the body id", status: 400, build: gridwiseBodyID(`"evt_esc\u001b[2J"`), check: eventID400},
		hostileCase{name: "DEL in the body id", status: 400, build: gridwiseBodyID(`"evt_del\u007f"`), check: eventID400},
		hostileCase{name: "newline in the body id", status: 400, build: gridwiseBodyID(`"evt_nl\nforged log line"`), check: eventID400},
		hostileCase{name: "body id of 300 bytes", status: 400, build: gridwiseBodyID(`"` + strings.Repeat("i", 300) + `"`), check: eventID400},
		hostileCase{name: "body id is an object", status: 400, build: gridwiseBodyID(`{"nested":"evt"}`), check: eventID400},
		hostileCase{name: "no id in header nor body", status: 400, build: gridwiseBodyID(""), check: eventID400},
		hostileCase{name: "tab inside the Webhook-Id header", status: 400, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return hostileAcmeReq(s, id+"\tx", nil)
		}, check: eventID400},
		hostileCase{name: "Webhook-Id of 10 KiB", status: 400, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostileAcme(id)
			return bridgetest.RawRequest{Body: body, Header: s.signed("acme-locks", id+strings.Repeat("L", 10<<10), body)}
		}, check: eventID400},
		hostileCase{name: "Webhook-Id with / + # $ is accepted", status: 202, publishes: 1, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return hostileAcmeReq(s, id+"/+#$/$SYS/#", nil)
		}, canaries: func(id string) []string { return []string{id + "/+#$/$SYS/#"} }},
		hostileCase{name: "body id with / + # $ is accepted", status: 202, publishes: 1, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return gridwiseBodyID(`"`+id+`/+#$/../"`)(s, id)
		}, canaries: func(id string) []string { return []string{id + "/+#$/../"} }},
		hostileCase{name: "device id with / + # $ and a template", status: 202, publishes: 1, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			b := bridgetest.AcmeEvent(id, "dev/+/#/$SYS/{device}/"+id, 80)
			return hostileSignedBody(s, id, b)
		}},
	)

	add("signatures and timestamps",
		hostileCase{name: "standard signature of 31 bytes", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31)))
		})},
		hostileCase{name: "standard signature of 33 bytes", status: 401, build: acme(func(r *bridgetest.RawRequest) {
			sig := hostileGet(r.Header, "Webhook-Signature")
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
			r.Header = hostileSet(r.Header, "Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(append(raw, 0)))
		})},
		hostileCase{name: "standard signature not base64", status: 401, build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Signature", "v1,"+strings.Repeat("!", 44))
		})},
		hostileCase{name: "standard signature with version v2", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "Webhook-Signature", strings.Replace(hostileGet(r.Header, "Webhook-Signature"), "v1,", "v2,", 1))
		})},
		hostileCase{name: "valid signature as the 9th candidate", status: 401, resend: "acme-locks", build: acme(func(r *bridgetest.RawRequest) {
			junk := strings.Repeat("v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))+" ", 8)
			r.Header = hostileSet(r.Header, "Webhook-Signature", junk+hostileGet(r.Header, "Webhook-Signature"))
		})},
		hostileCase{name: "GitHub signature of 63 hex digits", status: 401, resend: "gridwise-energy", build: gridwise(func(_ hostileSigner, _ string, r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "X-Hub-Signature-256", hostileGet(r.Header, "X-Hub-Signature-256")[:7+63])
		})},
		hostileCase{name: "GitHub signature with sha1= prefix", status: 401, build: gridwise(func(_ hostileSigner, _ string, r *bridgetest.RawRequest) {
			r.Header = hostileSet(r.Header, "X-Hub-Signature-256", strings.Replace(hostileGet(r.Header, "X-Hub-Signature-256"), "sha256=", "sha1=", 1))
		})},
		hostileCase{name: "Stripe v1 of 62 hex digits", status: 401, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			r := stripeTS(strconv.FormatInt(time.Now().Unix(), 10))(s, id)
			v := hostileGet(r.Header, "Stripe-Signature")
			r.Header = hostileSet(r.Header, "Stripe-Signature", v[:len(v)-2])
			return r
		}},
		hostileCase{name: "Stripe timestamp repeated", status: 401, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			r := stripeTS(strconv.FormatInt(time.Now().Unix(), 10))(s, id)
			r.Header = hostileSet(r.Header, "Stripe-Signature", "t=1,"+hostileGet(r.Header, "Stripe-Signature"))
			return r
		}},
		hostileCase{name: "bearer token wrong", status: 401, build: bearer("Bearer " + strings.Repeat("w", 30))},
		hostileCase{name: "bearer token under the Basic scheme", status: 401, build: bearer("Basic " + bridgetest.BearerSecret)},
		hostileCase{name: "bearer token of 20 KiB", status: 401, build: bearer("Bearer " + strings.Repeat("t", 20<<10))},
		hostileCase{name: "GitHub signature under bearer-vendor's secret", status: 401, resend: "gridwise-energy", build: func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostileGridwise(id)
			return bridgetest.RawRequest{Target: "/hooks/gridwise-energy", Body: body, Header: s.sign("gridwise-energy", bridgetest.BearerSecret, id, body, time.Now())}
		}},
		hostileCase{name: "Stripe signature under gridwise-energy's secret", status: 401, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostilePorchlight(id)
			return bridgetest.RawRequest{Target: "/hooks/porchlight-cams", Body: body, Header: s.sign("porchlight-cams", bridgetest.GridwiseSecret, id, body, time.Now())}
		}},
		hostileCase{name: "porchlight-cams' valid request sent to acme-locks", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest {
			body := hostilePorchlight(id)
			return bridgetest.RawRequest{Body: body, Header: s.signed("porchlight-cams", id, body)}
		}},
		hostileCase{name: "gridwise-energy's token as bearer-vendor's", status: 401, build: bearer("Bearer " + bridgetest.GridwiseSecret)},
		hostileCase{name: "timestamp 1 (1970)", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest { return hostileAcmeAt(s, id, "1") }},
		hostileCase{name: "timestamp a day old", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return hostileAcmeAt(s, id, strconv.FormatInt(time.Now().Add(-24*time.Hour).Unix(), 10))
		}},
		hostileCase{name: "timestamp in the year 5138", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest { return hostileAcmeAt(s, id, "99999999999") }},
		hostileCase{name: "timestamp of 12 digits", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest { return hostileAcmeAt(s, id, "999999999999") }},
		hostileCase{name: "timestamp in milliseconds", status: 401, resend: "acme-locks", build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return hostileAcmeAt(s, id, strconv.FormatInt(time.Now().UnixMilli(), 10))
		}},
		hostileCase{name: "negative timestamp", status: 401, build: func(s hostileSigner, id string) bridgetest.RawRequest { return hostileAcmeAt(s, id, "-1") }},
		hostileCase{name: "Stripe timestamp in the year 5138", status: 401, build: stripeTS("99999999999")},
		hostileCase{name: "Stripe timestamp a day ahead", status: 401, build: stripeTS(strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10))},
	)

	original := func(t *testing.T, h *hostileEnv, id string) {
		t.Helper()
		n := len(h.sub.Messages())
		if r := h.Send("acme-locks", id, hostileAcme(id)); r.Status != http.StatusAccepted {
			t.Fatalf("original: status %d %s", r.Status, r.Raw)
		}
		h.sub.WaitCount(n + 1)
	}
	add("replays",
		hostileCase{name: "the same request again", status: 200, prepare: original, build: acme(nil)},
		hostileCase{name: "changed body, signed again", status: 200, prepare: original, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			return hostileSignedBody(s, id, bridgetest.AcmeEvent(id, "dev-"+id, 3))
		}},
		hostileCase{name: "changed body, old signature", status: 401, prepare: original, build: acme(func(r *bridgetest.RawRequest) {
			r.Body = bytes.Replace(r.Body, []byte(`"battery_pct":80`), []byte(`"battery_pct":81`), 1)
		})},
		hostileCase{name: "replayed to another vendor", status: 401, prepare: original, build: acme(target("/hooks/gridwise-energy"))},
		hostileCase{name: "changed body, same id, another scheme's header", status: 200, prepare: original, build: func(s hostileSigner, id string) bridgetest.RawRequest {
			// Same event id through the header that acme-locks' scheme reads; a copy of the id in
			// a Stripe-style header changes nothing.
			r := hostileSignedBody(s, id, bridgetest.AcmeEvent(id, "dev-"+id, 4))
			r.Header = append(r.Header, bridgetest.Header{Key: "Stripe-Signature", Value: "t=1,v1=00"})
			return r
		}},
	)
	return cs
}

// hostileSecretHeaders are the headers whose values are signatures or tokens.
var hostileSecretHeaders = []string{"Webhook-Signature", "Stripe-Signature", "X-Hub-Signature-256", "X-Test-Signature", "Authorization"}

// TestHostileHTTP sends the table of hostile requests. Each must get its exact status and, where
// Hookbridge's handler answers, a JSON body; none may publish (a marker event must be the next
// message), record anything (the replay store's count is unchanged and, where the id allows, the
// same id sent properly afterwards is accepted) or echo a secret, a signature or a value.
func TestHostileHTTP(t *testing.T) {
	h := hostileStart(t, func(o *options.Options) { o.MaxBodyKB = hostileMaxBodyKB })
	s := hostileSigner{cat: h.Catalog}
	addr := h.Addrs().HTTP
	cases := hostileCases()
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.category]++
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases, want at least 40", len(cases))
	}
	t.Logf("hostile HTTP cases: %d in total; by category: %v", len(cases), counts)

	for _, c := range cases {
		t.Run(c.category+"/"+c.name, func(t *testing.T) {
			id := h.nextID()
			if c.prepare != nil {
				c.prepare(t, h, id)
			}
			req := c.build(s, id)
			secrets := []string{id}
			for _, k := range hostileSecretHeaders {
				secrets = append(secrets, req.Values(k)...)
			}
			if len(req.Body) >= 16 {
				secrets = append(secrets, string(req.Body))
			}
			if c.canaries != nil {
				secrets = append(secrets, c.canaries(id)...)
			}
			h.forbid("a value sent by "+c.name, secrets...)

			before := len(h.sub.Messages())
			seen := h.StoreStats().Seen
			start := time.Now()
			r := bridgetest.SendRaw(t, addr, req)
			elapsed := time.Since(start)
			if r.Status != c.status {
				t.Fatalf("status = %d, want %d; answer %q", r.Status, c.status, r.Raw)
			}
			if elapsed > 3*time.Second {
				t.Errorf("answered after %v: the server waited for something", elapsed)
			}
			h.checkAnswer(t, c, req, r, secrets)
			if c.check != nil {
				c.check(t, r)
			}

			wantSeen := seen
			if c.status == http.StatusAccepted {
				wantSeen++
			}
			if got := h.StoreStats().Seen; got != wantSeen {
				t.Errorf("replay records = %d after the request, want %d", got, wantSeen)
			}
			if c.publishes > 0 {
				msgs := h.sub.WaitCount(before + c.publishes)
				for _, m := range msgs[before : before+c.publishes] {
					hostileCheckTopic(t, m.Topic)
					for _, v := range secrets {
						if strings.Contains(m.Topic, v) || strings.Contains(m.Payload, v) {
							t.Errorf("published message %s holds a value of the request (%s)", m.Topic, hostileClip(v))
						}
					}
				}
			}
			h.expectNothingPublished(t, before+c.publishes)
			if c.resend != "" {
				n := len(h.sub.Messages())
				var b []byte
				switch c.resend {
				case "acme-locks":
					b = hostileAcme(id)
				case "gridwise-energy":
					b = hostileGridwise(id)
				}
				if r := h.Send(c.resend, id, b); r.Status != http.StatusAccepted {
					t.Fatalf("the refused id, resent properly: status %d %s, want 202 (was it recorded?)", r.Status, r.Raw)
				}
				h.sub.WaitCount(n + 1)
			}
		})
	}
}

// checkAnswer checks an answer's form and that it echoes nothing of the request.
func (h *hostileEnv) checkAnswer(t *testing.T, c hostileCase, req bridgetest.RawRequest, r bridgetest.RawResponse, secrets []string) {
	t.Helper()
	if !c.goAnswers {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		if req.Method != http.MethodHead {
			switch {
			case r.Body == nil:
				t.Errorf("body %q is not a JSON object", r.Text)
			case c.status >= 400:
				if e, _ := r.Body["error"].(string); e == "" {
					t.Errorf("body %q has no error", r.Text)
				}
			case c.status == http.StatusAccepted:
				if r.Body["status"] != "accepted" {
					t.Errorf("body %q, want status accepted", r.Text)
				}
			case c.status == http.StatusOK:
				if r.Body["status"] != "duplicate" {
					t.Errorf("body %q, want status duplicate", r.Text)
				}
			}
		}
	}
	all := append([]string(nil), secrets...)
	for _, v := range bridgetest.Secrets() {
		all = append(all, v)
	}
	all = append(all, bridgetest.PanelPassword, bridgetest.HAPassword, bridgetest.PseudonymKey)
	for _, v := range all {
		if len(v) < 6 {
			continue
		}
		if hostileHolds(r.Raw, v) {
			t.Errorf("the answer echoes a value of the request or a secret (%s): %q", hostileClip(v), hostileClip(r.Raw))
		}
	}
}

// hostileCheckTopic checks that a published topic is one of the prefix's and can match nothing
// else: no wildcard, NUL, empty level or '$' level.
func hostileCheckTopic(t testing.TB, topic string) {
	t.Helper()
	if !strings.HasPrefix(topic, bridgetest.TopicPrefix+"/") || strings.ContainsAny(topic, "+#\x00") {
		t.Errorf("published topic %q escapes the prefix or holds a wildcard or NUL", topic)
	}
	for _, l := range strings.Split(topic, "/") {
		if l == "" || strings.HasPrefix(l, "$") {
			t.Errorf("published topic %q has an empty or '$' level", topic)
		}
	}
}
