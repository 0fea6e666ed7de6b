package e2e_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The hostile suite on the intake (issue 15): form bombs, huge batches, path tokens where they do
// not belong, HEAD floods, Basic with odd user names, handshakes that try to echo. Each request
// must get its exact status, publish nothing and record nothing; the log canary searches the
// whole log for every token, password and user name sent.

// hostileIntakeMaxBodyKB leaves room for the 10,000-field form and the 10,000-element batch.
const hostileIntakeMaxBodyKB = 256

// hostileIntakeStart starts an in-process app with the intake catalog (automatic quarantine off,
// as the suite's other apps), its vendors, acme-locks for the marker events, a subscriber on
// everything under the prefix, and the log canary.
func hostileIntakeStart(t *testing.T, mutate func(*options.Options)) *hostileEnv {
	t.Helper()
	h := hostileIntakeLaunch(t, mutate)
	t.Cleanup(func() { hostileScanLog(t, h.Stop, h.Logs.String, h.forbiddenValues()) })
	h.sub = bridgetest.Subscribe(t, h.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword,
		fmt.Sprintf("hostile-intake-%d", time.Now().UnixNano()), true, bridgetest.TopicPrefix+"/+/#")
	return h
}

// hostileIntakeLaunch starts the app of hostileIntakeStart, with the values its log must never
// hold registered, but no subscriber and no log scan.
func hostileIntakeLaunch(tb testing.TB, mutate func(*options.Options)) *hostileEnv {
	tb.Helper()
	policies := filepath.Join(tb.TempDir(), "policies")
	if err := os.MkdirAll(policies, 0o700); err != nil {
		tb.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(intakeCatalog(tb, "policies"), "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("intake policies: %v %v", files, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		data = append(data, "\nanomaly:\n  signature_failures: {alert: 5, quarantine: -1}\n  schema_failures: {alert: 5, quarantine: -1}\n"...)
		if err := os.WriteFile(filepath.Join(policies, filepath.Base(file)), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	o := bridgetest.DefaultOptions()
	o.LogLevel = hostileLogLevel
	o.PublicURL = intakePublicURL
	o.MaxBodyKB = hostileIntakeMaxBodyKB
	acme := o.Vendors[0] // acme-locks, for the marker events
	o.Vendors = append([]options.Vendor{acme}, intakeVendors()...)
	if mutate != nil {
		mutate(o)
	}
	logs := &bridgetest.LogBuffer{}
	ta, err := bridgetest.Launch(tb, bridgetest.Config{Options: o, Policies: policies, Schemas: intakeCatalog(tb, "schemas"), NoSync: true, Log: logs})
	if err != nil {
		tb.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	h := &hostileEnv{Instance: ta, forbidden: map[string]string{}}
	for _, v := range ta.Options.Vendors {
		for _, s := range v.Secrets {
			h.forbid("the secret of "+v.Name, s)
		}
	}
	h.forbid("a Basic user name", intakePerson, base64.StdEncoding.EncodeToString([]byte(intakePerson+":"+intakePhonePassword)))
	h.forbid("the pseudonym key", ta.Options.PseudonymKey)
	return h
}

// hostileIntakeCase is one hostile request to an intake vendor.
type hostileIntakeCase struct {
	category, name string
	req            func(h *hostileEnv) bridgetest.RawRequest
	status         int
	goAnswers      bool // Go's server refuses it before the handler
	text           string
}

func hostileForm(target string, body string, extra ...bridgetest.Header) bridgetest.RawRequest {
	return bridgetest.RawRequest{Target: target, Body: []byte(body),
		Header: append([]bridgetest.Header{{Key: "Content-Type", Value: "application/x-www-form-urlencoded"}}, extra...)}
}

// hostileEnodeBatch signs body as intake-batch's sender (enode).
func hostileEnodeBatch(h *hostileEnv, body string) bridgetest.RawRequest {
	cv, _ := h.Catalog.Vendor("intake-batch")
	m, err := verify.Signer{Auth: cv.Policy.Auth, Secret: intakeEnodeSecret}.Sign([]byte(body), "", time.Now())
	if err != nil {
		panic(err)
	}
	hs := []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}
	for k, v := range m {
		hs = append(hs, bridgetest.Header{Key: k, Value: v})
	}
	return bridgetest.RawRequest{Target: "/hooks/intake-batch", Header: hs, Body: []byte(body)}
}

// hostileSlack signs body as intake-chat's sender (slack).
func hostileSlack(h *hostileEnv, body string) bridgetest.RawRequest {
	cv, _ := h.Catalog.Vendor("intake-chat")
	m, err := verify.Signer{Auth: cv.Policy.Auth, Secret: intakeSlackSecret}.Sign([]byte(body), "", time.Now())
	if err != nil {
		panic(err)
	}
	hs := []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}
	for k, v := range m {
		hs = append(hs, bridgetest.Header{Key: k, Value: v})
	}
	return bridgetest.RawRequest{Target: "/hooks/intake-chat", Header: hs, Body: []byte(body)}
}

func hostileBasic(user, password string) bridgetest.Header {
	return bridgetest.Header{Key: "Authorization", Value: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

func hostileIntakeCases() []hostileIntakeCase {
	tok := intakeStationToken
	station := "/hooks/intake-station/" + tok
	good := "PASSKEY=" + intakePasskey + "&tempf=50.5"
	fields := func(n int) string {
		var b strings.Builder
		b.WriteString(good)
		for i := range n {
			fmt.Fprintf(&b, "&k%d=v", i)
		}
		return b.String()
	}
	el := `{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z","vehicle":{"id":"v1"}}`
	elements := func(n int, e string) string { return "[" + strings.TrimSuffix(strings.Repeat(e+",", n), ",") + "]" }
	phone := func(auth bridgetest.Header) func(h *hostileEnv) bridgetest.RawRequest {
		return func(*hostileEnv) bridgetest.RawRequest {
			return bridgetest.RawRequest{Target: "/hooks/intake-phone", Body: []byte(`{"_type":"location","lat":1,"lon":2,"tst":"not a number"}`),
				Header: []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}, auth}}
		}
	}
	fixed := func(r bridgetest.RawRequest) func(*hostileEnv) bridgetest.RawRequest {
		return func(*hostileEnv) bridgetest.RawRequest { return r }
	}
	return []hostileIntakeCase{
		// Forms.
		{category: "form", name: "form bomb: 200,000 ampersands", req: fixed(hostileForm(station, strings.Repeat("&", 200_000))), status: 400, text: "invalid form data: more than 4096 fields"},
		{category: "form", name: "10,000 fields", req: fixed(hostileForm(station, fields(10_000))), status: 400, text: "invalid form data: more than 4096 fields"},
		{category: "form", name: "a field given twice", req: fixed(hostileForm(station, good+"&tempf=51")), status: 400, text: "invalid form data: repeated name"},
		{category: "form", name: "a field given twice, once encoded", req: fixed(hostileForm(station, good+"&%74empf=51")), status: 400, text: "invalid form data: repeated name"},
		{category: "form", name: "invalid escape", req: fixed(hostileForm(station, good+"&a=%zz")), status: 400, text: "invalid form data: invalid percent escape"},
		{category: "form", name: "overlong UTF-8", req: fixed(hostileForm(station, good+"&a=%C0%AF")), status: 400, text: "invalid form data: invalid UTF-8"},
		{category: "form", name: "encoded NUL", req: fixed(hostileForm(station, good+"&a=%00")), status: 400, text: "invalid form data: control character"},
		{category: "form", name: "raw NUL", req: fixed(hostileForm(station, good+"&a=\x00")), status: 400, text: "invalid form data: control character"},
		{category: "form", name: "unencoded space", req: fixed(hostileForm(station, good+"&a=b c")), status: 400, text: "invalid form data: unencoded space"},
		{category: "form", name: "semicolon separator", req: fixed(hostileForm(station, good+";a=b")), status: 400, text: "invalid form data: unencoded semicolon"},
		{category: "form", name: "empty name", req: fixed(hostileForm(station, good+"&=b")), status: 400, text: "invalid form data: empty name"},
		{category: "form", name: "a number that is not one", req: fixed(hostileForm(station, "PASSKEY="+intakePasskey+"&tempf=0x1F")), status: 422},
		{category: "form", name: "a number with a huge exponent", req: fixed(hostileForm(station, "PASSKEY="+intakePasskey+"&tempf=1e999999999")), status: 422},
		{category: "form", name: "a 60 KB value", req: fixed(hostileForm(station, good+"&a="+strings.Repeat("x", 60_000))), status: 202},
		{category: "form", name: "multipart", req: fixed(bridgetest.RawRequest{Target: station, Body: []byte("--b\r\n\r\n--b--"),
			Header: []bridgetest.Header{{Key: "Content-Type", Value: "multipart/form-data; boundary=b"}}}), status: 415, text: "unsupported content type: send application/x-www-form-urlencoded"},
		{category: "form", name: "form_json with another field", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSignedForm(h, "intake-code", "payload="+url.QueryEscape(`{"ref":"x"}`)+"&ref=y")
		}, status: 400, text: "invalid form data: fields besides the JSON field"},
		{category: "form", name: "form_json that is not JSON", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSignedForm(h, "intake-code", "payload=%7B%22ref%22%3A")
		}, status: 400, text: `invalid JSON: form field "payload"`},
		{category: "form", name: "form_json nested too deep", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSignedForm(h, "intake-code", "payload="+url.QueryEscape(strings.Repeat("[", 40)+strings.Repeat("]", 40)))
		}, status: 400, text: `JSON exceeds limits: form field "payload"`},
		{category: "form", name: "a query sender with 10,000 fields", req: fixed(bridgetest.RawRequest{Target: "/hooks/intake-query?" + strings.Repeat("a=1&", 2500) + fields(10_000)[len(good)+1:],
			Header: []bridgetest.Header{{Key: "X-Token", Value: intakeQueryToken}}}), status: 431, goAnswers: true},
		{category: "form", name: "a query sender with 5,000 fields", req: fixed(bridgetest.RawRequest{Target: "/hooks/intake-query?tempf=1&" + strings.Repeat("&", 5000),
			Header: []bridgetest.Header{{Key: "X-Token", Value: intakeQueryToken}}}), status: 400, text: "invalid form data: more than 4096 fields in the query string"},

		// Batches.
		{category: "batch", name: "10,000 events", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, elements(10_000, "{}")) },
			status: 400, text: "JSON exceeds limits: more than 200 events in the array"},
		{category: "batch", name: "201 events", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, elements(201, el)) },
			status: 400, text: "JSON exceeds limits: more than 200 events in the array"},
		{category: "batch", name: "200 events, one invalid at the end", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileEnodeBatch(h, strings.TrimSuffix(elements(199, strings.Replace(el, `"v1"`, `"v2"`, 1)), "]")+`,{"event":1}]`)
		}, status: 422},
		{category: "batch", name: "an array in the array", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, "[["+el+"]]") },
			status: 400, text: "invalid JSON: array in the array"},
		{category: "batch", name: "empty array", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, "[]") }, status: 400},
		{category: "batch", name: "a number in the array", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, "["+el+",1]") }, status: 400},
		{category: "batch", name: "deep element", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileEnodeBatch(h, "[{\"a\":"+strings.Repeat("[", 40)+strings.Repeat("]", 40)+"}]")
		}, status: 400},
		{category: "batch", name: "unsigned batch", req: fixed(bridgetest.RawRequest{Target: "/hooks/intake-batch", Body: []byte(elements(3, el)),
			Header: []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}}), status: 401},
		{category: "batch", name: "trailing data after the array", req: func(h *hostileEnv) bridgetest.RawRequest { return hostileEnodeBatch(h, "["+el+"] {}") }, status: 400},

		// Path tokens where they do not belong.
		{category: "token", name: "in the query", req: fixed(hostileForm("/hooks/intake-station?token="+tok, good)), status: 401},
		{category: "token", name: "in a bearer header", req: fixed(hostileForm("/hooks/intake-station", good, bridgetest.Header{Key: "Authorization", Value: "Bearer " + tok})), status: 401},
		{category: "token", name: "as a Basic password", req: fixed(hostileForm("/hooks/intake-station", good, hostileBasic("x", tok))), status: 401},
		{category: "token", name: "in a fragment", req: fixed(hostileForm("/hooks/intake-station#"+tok, good)), status: 404},
		{category: "token", name: "after an encoded slash", req: fixed(hostileForm("/hooks/intake-station%2F"+tok, good)), status: 404},
		{category: "token", name: "with an encoded slash after it", req: fixed(hostileForm(station+"%2F", good)), status: 401},
		{category: "token", name: "percent-encoded", req: fixed(hostileForm("/hooks/intake-station/"+url.PathEscape(tok[:4])+"%"+fmt.Sprintf("%02X", tok[4])+tok[5:], good)), status: 401},
		{category: "token", name: "upper case", req: fixed(hostileForm("/hooks/intake-station/"+strings.ToUpper(tok), good)), status: 401},
		{category: "token", name: "upper-case path", req: fixed(hostileForm("/HOOKS/intake-station/"+tok, good)), status: 404},
		{category: "token", name: "upper-case vendor", req: fixed(hostileForm("/hooks/INTAKE-STATION/"+tok, good)), status: 404},
		{category: "token", name: "double slash", req: fixed(hostileForm("/hooks/intake-station//"+tok, good)), status: 401},
		{category: "token", name: "dot segment", req: fixed(hostileForm("/hooks/intake-station/./"+tok, good)), status: 401},
		{category: "token", name: "trailing slash", req: fixed(hostileForm(station+"/", good)), status: 401},
		{category: "token", name: "with a parameter", req: fixed(hostileForm(station+";v=1", good)), status: 401},
		{category: "token", name: "another vendor's token", req: fixed(hostileForm("/hooks/intake-station/"+intakeHealthToken, good)), status: 401},
		{category: "token", name: "a 20 KB token", req: fixed(hostileForm("/hooks/intake-station/"+strings.Repeat("t", 20_000), good)), status: 401},
		{category: "token", name: "a token on a vendor without one", req: fixed(bridgetest.RawRequest{Target: "/hooks/acme-locks/" + tok,
			Header: []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}, Body: []byte("{}")}), status: 404},
		{category: "token", name: "a path type with an escape", req: fixed(bridgetest.RawRequest{Target: "/hooks/intake-lorawan/up%6Cink", Body: []byte(`{}`),
			Header: []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Authorization", Value: "Bearer " + intakeLoraToken}}}), status: 404},

		// HEAD.
		{category: "head", name: "HEAD without a token", req: fixed(bridgetest.RawRequest{Method: http.MethodHead, Target: "/hooks/intake-health"}), status: 401},
		{category: "head", name: "HEAD with a body", req: fixed(bridgetest.RawRequest{Method: http.MethodHead, Target: "/hooks/intake-health/" + intakeHealthToken,
			Body: []byte("userid=1&appli=1")}), status: 200},
		{category: "head", name: "HEAD of a vendor without a URL check", req: fixed(bridgetest.RawRequest{Method: http.MethodHead, Target: station}), status: 405},
		{category: "head", name: "GET with the token", req: fixed(bridgetest.RawRequest{Method: http.MethodGet, Target: "/hooks/intake-health/" + intakeHealthToken}), status: 405},

		// Basic.
		{category: "basic", name: "user name of 20 KB", req: phone(hostileBasic(strings.Repeat("J", 20<<10), intakePhonePassword)), status: 422},
		{category: "basic", name: "headers over 32 KB", req: phone(hostileBasic(strings.Repeat("J", 40<<10), intakePhonePassword)), status: 431, goAnswers: true},
		{category: "basic", name: "user name with control bytes", req: phone(hostileBasic("\x00\r\n\x7f"+intakePerson, intakePhonePassword)), status: 422},
		{category: "basic", name: "user name holding another vendor's secret", req: phone(hostileBasic(intakeShopSecret, intakePhonePassword)), status: 422},
		{category: "basic", name: "a colon in the user name", req: phone(hostileBasic(intakePerson+":x", intakePhonePassword)), status: 401},
		{category: "basic", name: "wrong password", req: phone(hostileBasic(intakePerson, "phone-password-012345678")), status: 401},
		{category: "basic", name: "credentials not base64", req: phone(bridgetest.Header{Key: "Authorization", Value: "Basic " + intakePerson + ":" + intakePhonePassword}), status: 401},
		{category: "basic", name: "two Authorization headers", req: func(*hostileEnv) bridgetest.RawRequest {
			r := phone(hostileBasic(intakePerson, intakePhonePassword))(nil)
			r.Header = append(r.Header, hostileBasic("y", intakePhonePassword))
			return r
		}, status: 401},

		// Handshakes.
		{category: "handshake", name: "a challenge that would be markup", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSlack(h, `{"type":"url_verification","challenge":"<img src=x onerror=alert(1)>"}`)
		}, status: 400, text: "invalid handshake"},
		{category: "handshake", name: "a challenge of 10 KB", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSlack(h, `{"type":"url_verification","challenge":"`+strings.Repeat("c", 10_000)+`"}`)
		}, status: 400, text: "invalid handshake"},
		{category: "handshake", name: "a challenge with an escaped NUL", req: func(h *hostileEnv) bridgetest.RawRequest {
			return hostileSlack(h, `{"type":"url_verification","challenge":"abc\u0000def"}`)
		}, status: 400, text: "invalid handshake"},
		{category: "handshake", name: "an unsigned handshake", req: fixed(bridgetest.RawRequest{Target: "/hooks/intake-chat",
			Header: []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}, Body: []byte(`{"type":"url_verification","challenge":"abcdef123456"}`)}), status: 401},
		{category: "handshake", name: "a handshake in a form", req: fixed(hostileForm("/hooks/intake-chat", "type=url_verification&challenge=abcdef123456")), status: 415},
	}
}

// hostileSignedForm signs a form as vendor's sender does.
func hostileSignedForm(h *hostileEnv, vendor, body string) bridgetest.RawRequest {
	cv, _ := h.Catalog.Vendor(vendor)
	m := &verify.Message{URL: intakePublicURL + "/hooks/" + vendor, ContentType: "application/x-www-form-urlencoded", Body: []byte(body), Time: time.Now()}
	if err := (verify.Signer{Auth: cv.Policy.Auth, Secret: intakeSecrets[vendor]}).SignMessage(m); err != nil {
		panic(err)
	}
	hs := []bridgetest.Header{{Key: "Content-Type", Value: "application/x-www-form-urlencoded"}, {Key: "X-GitHub-Event", Value: "push"}}
	for k, v := range m.Header {
		hs = append(hs, bridgetest.Header{Key: k, Value: v})
	}
	return bridgetest.RawRequest{Target: "/hooks/" + vendor, Header: hs, Body: []byte(body)}
}

// TestHostileIntake sends the intake's hostile requests: each gets its exact status quickly,
// never publishes (but the few meant to be accepted) or records anything, and never echoes a
// token, password, user name or body.
func TestHostileIntake(t *testing.T) {
	h := hostileIntakeStart(t, nil)
	addr := h.Addrs().HTTP
	cases := hostileIntakeCases()
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.category]++
	}
	t.Logf("hostile intake cases: %d; by category: %v", len(cases), counts)
	for _, c := range cases {
		t.Run(c.category+"/"+c.name, func(t *testing.T) {
			req := c.req(h)
			values := []string{}
			for _, k := range append(hostileSecretHeaders, "X-Token") {
				values = append(values, req.Values(k)...)
			}
			if len(req.Body) >= 16 {
				values = append(values, string(req.Body))
			}
			if rest, ok := strings.CutPrefix(req.Target, "/hooks/intake-station/"); ok {
				values = append(values, rest)
			}
			h.forbid("a value sent by "+c.name, values...)
			before := len(h.sub.Messages())
			seen := h.StoreStats().Seen
			start := time.Now()
			r := bridgetest.SendRaw(t, addr, req)
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("answered after %v", elapsed)
			}
			if r.Status != c.status {
				t.Fatalf("status = %d, want %d; answer %q", r.Status, c.status, hostileClip(r.Raw))
			}
			if !c.goAnswers && req.Method != http.MethodHead && c.status >= 400 {
				e, _ := r.Body["error"].(string)
				if r.Header.Get("Content-Type") != "application/json" || e == "" || !strings.HasPrefix(e, c.text) {
					t.Errorf("answer %q, want a JSON error starting %q", hostileClip(r.Text), c.text)
				}
			}
			for _, v := range append(values, intakeStationToken, intakeStationToken2, intakePhonePassword, intakePerson) {
				if len(v) >= 6 && strings.Contains(r.Raw, v) {
					t.Errorf("the answer echoes a value of the request (%s)", hostileClip(v))
				}
			}
			published := 0
			if c.status == http.StatusAccepted {
				published = 1
			}
			if got := h.StoreStats().Seen - seen; got != int64(published) {
				t.Errorf("replay records grew by %d, want %d", got, published)
			}
			if published > 0 {
				h.sub.WaitCount(before + published)
			}
			h.expectNothingPublished(t, before+published)
		})
	}
}

// TestHostileIntakeBigBatch checks the largest batch taken: 200 events in one request, published
// together, each with its own replay record, and the same body again all duplicates.
func TestHostileIntakeBigBatch(t *testing.T) {
	h := hostileIntakeStart(t, nil)
	var b strings.Builder
	b.WriteString("[")
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z","vehicle":{"id":"veh-big-%d","chargeState":{"batteryLevel":%d}}}`, i, i%100)
	}
	b.WriteString("]")
	before := len(h.sub.Messages())
	seen := h.StoreStats().Seen
	start := time.Now()
	r := bridgetest.SendRaw(t, h.Addrs().HTTP, hostileEnodeBatch(h, b.String()))
	took := time.Since(start)
	if r.Status != http.StatusAccepted || r.Text != `{"status":"accepted","events":200,"duplicates":0}`+"\n" {
		t.Fatalf("200 events = %d %s, want 202 with 200 events", r.Status, r.Text)
	}
	if got := h.StoreStats().Seen - seen; got != 200 {
		t.Errorf("replay records grew by %d, want 200", got)
	}
	h.sub.WaitCount(before + 200)
	t.Logf("a batch of 200 events (%d bytes): answered in %v", b.Len(), took)
	r = bridgetest.SendRaw(t, h.Addrs().HTTP, hostileEnodeBatch(h, b.String()))
	if r.Status != http.StatusOK || r.Text != `{"status":"duplicate","events":200,"duplicates":200}`+"\n" {
		t.Errorf("the same batch again = %d %s, want 200 all duplicates", r.Status, r.Text)
	}
	h.expectNothingPublished(t, before+200)
}

// TestHostileHEADFlood floods a URL-check vendor with HEADs carrying wrong tokens from one
// address: every answer is 401 or 429 (the source's failure budget), nothing is published or
// recorded, the log stays small, and the real sender's HEAD and POST from another address still
// pass.
func TestHostileHEADFlood(t *testing.T) {
	h := hostileIntakeStart(t, func(o *options.Options) { o.SourceRatePerMinute = 1200 })
	const n = 3000
	var bad, limited, other atomic.Int64
	var wg sync.WaitGroup
	c := hostileClient("127.0.0.3")
	c.Transport.(*http.Transport).DisableKeepAlives = false
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				req, _ := http.NewRequest(http.MethodHead, h.URL+"/hooks/intake-health/wrong-token-"+strconv.Itoa(i)+"-0123456789", nil)
				resp, err := c.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusUnauthorized:
					bad.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	start := time.Now()
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	t.Logf("HEAD flood: %d requests in %v (%.0f/s): %d 401, %d 429, %d other", n, took, float64(n)/took.Seconds(), bad.Load(), limited.Load(), other.Load())
	if other.Load() != 0 || bad.Load() > 200 {
		t.Errorf("HEAD flood: %d 401, %d 429, %d other; want 429s past the source's failure budget and nothing else", bad.Load(), limited.Load(), other.Load())
	}
	real := hostileClient("127.0.0.4")
	req, _ := http.NewRequest(http.MethodHead, h.URL+"/hooks/intake-health/"+intakeHealthToken, nil)
	resp, err := real.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the real sender's HEAD during the flood: %v %v, want 200", err, resp)
	}
	resp.Body.Close()
	before := len(h.sub.Messages())
	r := hostilePost(t, real, h.URL+"/hooks/intake-health/"+intakeHealthToken,
		[]bridgetest.Header{{Key: "Content-Type", Value: "application/x-www-form-urlencoded"}}, []byte("userid=42&appli=1&startdate=1&enddate=2"))
	if r.Status != http.StatusOK {
		t.Fatalf("the real sender's POST during the flood: %d %s, want 200", r.Status, r.Text)
	}
	h.sub.WaitCount(before + 1)
	if lines := strings.Count(h.Logs.String(), `"message":"webhook"`); lines > 400 {
		t.Errorf("%d webhook log lines for a flood of %d: the log is not sampled", lines, n)
	}
	if got := h.StoreStats().Seen; got != 1 {
		t.Errorf("replay records = %d, want 1 (the real POST)", got)
	}
}
