package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// The intake test catalog (testdata/catalog/intake): one vendor per way a real sender sends, each
// played with that sender's documented example (the research's fixtures), on the real binary.
const intakePublicURL = "https://hooks.example.test"

// Secrets of the intake vendors, and canaries: personal values the senders send that must never
// be published in clear nor logged.
const (
	intakeStationToken  = "station-token-0123456789abcdefABCDEF"
	intakeStationToken2 = "station-rotated-token-9876543210zz"
	intakeHealthToken   = "health-token_0123456789.abcdef~XY"
	intakePhonePassword = "phone-password-0123456789"
	intakeParticleToken = "particle-bearer-token-0123456789"
	intakeLoraToken     = "lorawan-bearer-token-0123456789"
	intakeSlackSecret   = "slack-signing-secret-0123456789"
	intakeShopSecret    = "shopify-client-secret-0123456"
	intakeCodeSecret    = "github-webhook-secret-0123456"
	intakeEnodeSecret   = "enode-secret-0123456789abcdef0123"
	intakeTwilioToken   = "0123456789abcdef0123456789abcdef"
	intakeQueryToken    = "query-token-0123456789abcdef"

	intakePerson   = "Jane Q. Canary-Doe" // OwnTracks puts a person's name in the Basic user name
	intakePasskey  = "307826236D0133E06009CE7FAFBBAFC4"
	intakeUserID   = "1234509876"
	intakeCoreID   = "3f002b000000000000000000"
	intakeDeviceID = "dev-canary-77"
)

var intakeSecrets = map[string]string{
	"intake-station": intakeStationToken, "intake-health": intakeHealthToken, "intake-phone": intakePhonePassword,
	"intake-particle": intakeParticleToken, "intake-lorawan": intakeLoraToken, "intake-chat": intakeSlackSecret,
	"intake-shop": intakeShopSecret, "intake-code": intakeCodeSecret, "intake-batch": intakeEnodeSecret,
	"intake-sms": intakeTwilioToken, "intake-query": intakeQueryToken,
}

// startIntake runs the real binary with the intake catalog and its vendors.
func startIntake(t *testing.T) *bridgetest.Process {
	t.Helper()
	o := bridgetest.DefaultOptions()
	o.LogLevel = "debug"
	o.PublicURL = intakePublicURL
	o.MaxBodyKB = 64
	o.Vendors = intakeVendors()
	p := bridgetest.NewProcessCatalog(t, o, intakeCatalog(t, "policies"), intakeCatalog(t, "schemas"))
	p.Start()
	return p
}

// intakeVendors are the options of the intake vendors, each on its secret, intake-station on a
// second token too.
func intakeVendors() []options.Vendor {
	var out []options.Vendor
	for name, secret := range intakeSecrets {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = name, []string{secret}, 100_000
		if name == "intake-station" {
			v.Secrets = append(v.Secrets, intakeStationToken2)
		}
		out = append(out, v)
	}
	return out
}

func intakeCatalog(t testing.TB, dir string) string {
	return bridgetest.Path(t, "testdata", "catalog", "intake", dir)
}

// intakeFixture reads a sender's documented example from the research's fixtures, copied here.
func intakeFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(bridgetest.Path(t, "testdata", "catalog", "intake", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// intakeReq is a request as a sender sends it.
type intakeReq struct {
	method string
	path   string
	header map[string]string
	body   []byte
}

func (r intakeReq) clone() intakeReq {
	c := intakeReq{method: r.method, path: r.path, header: map[string]string{}, body: append([]byte(nil), r.body...)}
	for k, v := range r.header {
		c.header[k] = v
	}
	return c
}

func (r intakeReq) send(t testing.TB, p *bridgetest.Process) bridgetest.Response {
	t.Helper()
	m := r.method
	if m == "" {
		m = http.MethodPost
	}
	return bridgetest.Do(t, m, "http://"+p.HTTPAddr+r.path, r.header, r.body)
}

// signedBy signs body as vendor's sender does (its scheme, the vendor's secret, public_url).
func signedBy(t testing.TB, p *bridgetest.Process, vendor, contentType string, body []byte, header map[string]string) intakeReq {
	t.Helper()
	cv, ok := p.Catalog.Vendor(vendor)
	if !ok {
		t.Fatalf("no policy for %s", vendor)
	}
	s := bridgetest.Sender{Vendor: vendor, Auth: cv.Policy.Auth, Secret: intakeSecrets[vendor], PublicURL: intakePublicURL,
		ContentType: contentType}
	req := s.Sign(t, "", body, time.Now(), "")
	for k, v := range header {
		req.Header[k] = v
	}
	return intakeReq{path: req.Path, header: req.Header, body: req.Body}
}

// intakeCase is one sender: a fresh request for event n, what it must get, what it must publish,
// and a changed request that must get 401.
type intakeCase struct {
	vendor  string
	request func(t *testing.T, p *bridgetest.Process, n string) intakeReq
	status  int
	answer  string // the whole answer body; "" to check the contract's JSON
	ctype   string // the answer's Content-Type when answer is set
	topic   string // under hookbridge/{vendor}/, up to the first placeholder
	payload []string
	tamper  func(r intakeReq) intakeReq
}

func withPath(path string) func(intakeReq) intakeReq {
	return func(r intakeReq) intakeReq { c := r.clone(); c.path = path; return c }
}

func flipByte(r intakeReq) intakeReq {
	c := r.clone()
	c.body[len(c.body)/2] ^= 0x01
	return c
}

func setHeader(k, v string) func(intakeReq) intakeReq {
	return func(r intakeReq) intakeReq { c := r.clone(); c.header[k] = v; return c }
}

func intakeCases() []intakeCase {
	form := "application/x-www-form-urlencoded"
	basic := func(user, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) }
	return []intakeCase{
		{
			// Ecowitt's upload as captured (537 bytes; dateutc with a raw ':'), to the tokened URL.
			vendor: "intake-station", status: 202, topic: "weather/",
			payload: []string{`"temp_f":47.8`, `"humidity":91`, `"rain_today_in":0.012`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				body := strings.Replace(intakeFixture(t, "ecowitt-wh2650.body"), "tempinf=66.0", "tempinf=66."+n, 1)
				return intakeReq{path: "/hooks/intake-station/" + intakeStationToken, header: map[string]string{"Content-Type": form}, body: []byte(body)}
			},
			tamper: withPath("/hooks/intake-station/" + intakeStationToken[:len(intakeStationToken)-1] + "X"),
		},
		{
			// Withings' notification, derived from its documented fields.
			vendor: "intake-health", status: 200, answer: "", topic: "weight/",
			payload: []string{`"from":1530576000`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				body := strings.Replace(intakeFixture(t, "withings-appli1.body"), "enddate=1530698753", "enddate=15306"+n, 1)
				body = strings.Replace(body, "userid=12345&", "userid="+intakeUserID+"&", 1) // a canary
				return intakeReq{path: "/hooks/intake-health/" + intakeHealthToken, header: map[string]string{"Content-Type": form}, body: []byte(body)}
			},
			tamper: withPath("/hooks/intake-health"),
		},
		{
			// OwnTracks' documented HTTP payload, with Basic credentials whose user name is a person's.
			vendor: "intake-phone", status: 200, answer: "[]", ctype: "application/json", topic: "location/",
			payload: []string{`"lat":48.85833`, `"lon":2.29513`, `"battery":41`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				body := strings.Replace(intakeFixture(t, "owntracks-location.json"), `"tst": 1497508651`, `"tst": 1497`+n, 1)
				return intakeReq{path: "/hooks/intake-phone", body: []byte(body),
					header: map[string]string{"Content-Type": "application/json; charset=utf-8", "Authorization": basic(intakePerson, intakePhonePassword)}}
			},
			tamper: setHeader("Authorization", basic(intakePerson, intakePhonePassword+"x")),
		},
		{
			// Particle's default form, with the bearer header the user adds.
			vendor: "intake-particle", status: 200, answer: "", topic: "devices/",
			payload: []string{`"data":"mydata`, `"at":"2017-02-01T21:08:05.763Z"`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				body := strings.Replace(intakeFixture(t, "particle-default-form.body"), "data=mydata", "data=mydata"+n, 1)
				return intakeReq{path: "/hooks/intake-particle", body: []byte(body),
					header: map[string]string{"Content-Type": form, "Authorization": "Bearer " + intakeParticleToken}}
			},
			tamper: setHeader("Authorization", "Bearer "+strings.ToUpper(intakeParticleToken)),
		},
		{
			// The Things Stack's documented uplink (one comma restored), posted to …/uplink.
			vendor: "intake-lorawan", status: 202, topic: "uplink/",
			payload: []string{`"counter":1`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				body := strings.Replace(intakeFixture(t, "tts-uplink.json"), `"received_at": "2020-02-12T15:15:46.014773143Z"`,
					`"received_at": "2020-02-12T15:15:46.`+n+`Z"`, 1)
				body = strings.Replace(body, `"device_id": "dev1"`, `"device_id": "`+intakeDeviceID+`"`, 1)
				return intakeReq{path: "/hooks/intake-lorawan/uplink", body: []byte(body),
					header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + intakeLoraToken}}
			},
			tamper: setHeader("Authorization", "Bearer lorawan-bearer-token-0123456780"),
		},
		{
			vendor: "intake-shop", status: 202, topic: "orders",
			payload: []string{`"total":"199.00"`, `"currency":"USD"`},
			request: func(t *testing.T, p *bridgetest.Process, n string) intakeReq {
				body := `{"id":82000` + n + `,"email":"jon@example.com","total_price":"199.00","currency":"USD"}`
				return signedBy(t, p, "intake-shop", "", []byte(body), map[string]string{"X-Shopify-Topic": "orders/create"})
			},
			tamper: flipByte,
		},
		{
			// GitHub's form delivery: the push JSON in payload.
			vendor: "intake-code", status: 202, topic: "pushes",
			payload: []string{`"ref":"refs/heads/main"`},
			request: func(t *testing.T, p *bridgetest.Process, n string) intakeReq {
				body := "payload=" + url.QueryEscape(`{"ref":"refs/heads/main","after":"`+n+`","repository":{"full_name":"octo/hello"}}`)
				return signedBy(t, p, "intake-code", form, []byte(body), map[string]string{"X-GitHub-Event": "push"})
			},
			tamper: flipByte,
		},
		{
			vendor: "intake-batch", status: 202, topic: "vehicles/",
			payload: []string{`"battery":`},
			request: func(t *testing.T, p *bridgetest.Process, n string) intakeReq {
				el := func(k string) string {
					return `{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z","vehicle":{"id":"veh-` + n + k +
						`","chargeState":{"batteryLevel":` + k + `}}}`
				}
				return signedBy(t, p, "intake-batch", "", []byte("["+el("1")+","+el("2")+"]"), nil)
			},
			tamper: flipByte,
		},
		{
			// Twilio's status callback: a form signed with the URL, answered with TwiML.
			vendor: "intake-sms", status: 200, answer: "<Response/>", ctype: "text/xml", topic: "messages/",
			payload: []string{`"status":"delivered"`},
			request: func(t *testing.T, p *bridgetest.Process, n string) intakeReq {
				body := "MessageSid=SM" + n + "&MessageStatus=delivered&To=%2B14155550100&AccountSid=AC123"
				return signedBy(t, p, "intake-sms", form, []byte(body), nil)
			},
			tamper: flipByte,
		},
		{
			vendor: "intake-query", status: 202, topic: "readings",
			payload: []string{`"temp_f":71.`},
			request: func(t *testing.T, _ *bridgetest.Process, n string) intakeReq {
				return intakeReq{path: "/hooks/intake-query?tempf=71." + n + "&dateutc=2000-01-01+10%3A32%3A35",
					header: map[string]string{"X-Token": intakeQueryToken}}
			},
			tamper: setHeader("X-Token", "query-token-0123456789abcdeX"),
		},
	}
}

// TestIntakeSenders plays each intake sender against the real binary: its documented example is
// accepted with the answer the sender expects and published minimized; the same request again
// is a duplicate; a changed byte or a wrong token is 401; personal values appear in no message
// and no log line.
func TestIntakeSenders(t *testing.T) {
	p := startIntake(t)
	sub := bridgetest.Subscribe(t, p.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "intake-ha", true, bridgetest.TopicPrefix+"/#")
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000, 10)
	for i, c := range intakeCases() {
		t.Run(c.vendor, func(t *testing.T) {
			req := c.request(t, p, run+strconv.Itoa(i))
			before := len(sub.Messages())
			r := req.send(t, p)
			checkIntakeAnswer(t, c, r, false, "a fresh request")
			want := 1
			if c.vendor == "intake-batch" {
				want = 2
			}
			msgs := sub.WaitFor(c.vendor+" messages", bridgetest.WaitForDeliveries, func(ms []bridgetest.Message) bool {
				return countOn(ms[before:], bridgetest.TopicPrefix+"/"+c.vendor+"/"+c.topic) >= want
			})
			for _, m := range msgs[before:] {
				if !strings.HasPrefix(m.Topic, bridgetest.TopicPrefix+"/"+c.vendor+"/") {
					continue
				}
				for _, s := range c.payload {
					if !strings.Contains(m.Payload, s) {
						t.Errorf("published %s %s, want it to hold %s", m.Topic, m.Payload, s)
					}
				}
			}
			dups := intakeCounter(t, p, c.vendor, "duplicate")
			r = req.send(t, p)
			checkIntakeAnswer(t, c, r, true, "the same request again")
			if got := intakeCounter(t, p, c.vendor, "duplicate"); got != dups+float64(want) {
				t.Errorf("duplicates = %v after the same request again, want %v (one per event)", got, dups+float64(want))
			}
			if r := c.tamper(req).send(t, p); r.Status != http.StatusUnauthorized {
				t.Errorf("changed request: %d %s, want 401", r.Status, r.Raw)
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let the last messages arrive before the final scan
	checkIntakeCanaries(t, p, sub.Messages())
}

func countOn(ms []bridgetest.Message, prefix string) int {
	n := 0
	for _, m := range ms {
		if strings.HasPrefix(m.Topic, prefix) {
			n++
		}
	}
	return n
}

// checkIntakeAnswer checks an answer: the policy's, for accepted events and duplicates alike, or
// the contract's JSON (202 accepted, 200 duplicate).
func checkIntakeAnswer(t *testing.T, c intakeCase, r bridgetest.Response, dup bool, what string) {
	t.Helper()
	policyAnswer := c.status != http.StatusAccepted
	status, word := c.status, "accepted"
	if dup && !policyAnswer {
		status, word = http.StatusOK, "duplicate"
	}
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Raw, status)
	}
	switch {
	case policyAnswer:
		if r.Raw != c.answer || r.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: answer %q (%s), want %q (%s)", what, r.Raw, r.Header.Get("Content-Type"), c.answer, c.ctype)
		}
	case r.Body["status"] != word:
		t.Errorf("%s: answer %s, want the contract's JSON with status %s", what, r.Raw, word)
	}
}

// intakeCounter reads one of a vendor's counters from the admin API.
func intakeCounter(t *testing.T, p *bridgetest.Process, vendor, name string) float64 {
	t.Helper()
	r := bridgetest.Do(t, http.MethodGet, "http://"+p.AdminAddr+"/api/vendors/"+vendor, nil, nil)
	counters, _ := r.Body["counters"].(map[string]any)
	n, ok := counters[name].(float64)
	if r.Status != http.StatusOK || !ok {
		t.Fatalf("GET /api/vendors/%s = %d %s, want counters.%s", vendor, r.Status, r.Raw, name)
	}
	return n
}

// checkIntakeCanaries searches what left the process (MQTT messages, the log) for secrets,
// tokens and personal values.
func checkIntakeCanaries(t *testing.T, p *bridgetest.Process, msgs []bridgetest.Message) {
	t.Helper()
	forbidden := map[string]string{
		intakePerson: "a Basic user name", base64.StdEncoding.EncodeToString([]byte(intakePerson)): "a Basic user name (base64)",
		intakePasskey: "the station's id", intakeUserID: "a user id", intakeCoreID: "a device id", intakeDeviceID: "a device id",
		"jon@example.com": "an email", "+14155550100": "a phone number", "owntracks/jane/iphone": "a personal topic",
	}
	for name, s := range intakeSecrets {
		forbidden[s] = "the secret of " + name
	}
	forbidden[intakeStationToken2] = "the second token of intake-station"
	var out strings.Builder
	for _, m := range msgs {
		out.WriteString(m.Topic + " " + m.Payload + "\n")
	}
	logs := p.Logs()
	if !strings.Contains(logs, `"message":"webhook"`) {
		t.Errorf("the log has no webhook line: the search would prove nothing")
	}
	for v, what := range forbidden {
		if strings.Contains(out.String(), v) {
			t.Errorf("a published message holds %s (%q)", what, v)
		}
		j, _ := json.Marshal(v)
		if strings.Contains(logs, v) || strings.Contains(logs, string(j[1:len(j)-1])) {
			t.Errorf("the log holds %s (%q)", what, v)
		}
	}
}

// TestIntakeHandshakes answers the two handshakes real senders make: Slack's signed
// url_verification (its documented example) with its challenge, and Withings' HEAD of the
// tokened URL with a 200. Neither publishes, keeps a replay record or counts as an event.
func TestIntakeHandshakes(t *testing.T) {
	p := startIntake(t)
	challenge := intakeFixture(t, "slack-url-verification.json")
	hs := signedBy(t, p, "intake-chat", "", []byte(challenge), nil)
	for i := range 2 { // twice: a handshake keeps no replay record
		r := hs.send(t, p)
		if r.Status != http.StatusOK || r.Raw != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`+"\n" {
			t.Fatalf("url_verification %d: %d %q, want 200 with the challenge", i, r.Status, r.Raw)
		}
	}
	if r := flipByte(hs).send(t, p); r.Status != http.StatusUnauthorized || strings.Contains(r.Raw, "challenge") {
		t.Errorf("changed url_verification: %d %s, want 401 without the challenge", r.Status, r.Raw)
	}
	head := func(path string) bridgetest.Response {
		return bridgetest.Do(t, http.MethodHead, "http://"+p.HTTPAddr+path, nil, nil)
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/hooks/intake-health/" + intakeHealthToken, 200},
		{"/hooks/intake-health/" + intakeHealthToken + "x", 401},
		{"/hooks/intake-health", 401},
		{"/hooks/intake-station/" + intakeStationToken, 405}, // no URL check declared
	}
	for _, tt := range tests {
		if r := head(tt.path); r.Status != tt.status || r.Raw != "" {
			t.Errorf("HEAD %s = %d %q, want %d and no body", strings.Replace(tt.path, intakeHealthToken, "TOKEN", 1), r.Status, r.Raw, tt.status)
		}
	}
	if r := bridgetest.Do(t, http.MethodGet, "http://"+p.HTTPAddr+"/hooks/intake-health/"+intakeHealthToken, nil, nil); r.Status != http.StatusMethodNotAllowed ||
		r.Header.Get("Allow") != "POST, HEAD" {
		t.Errorf("GET = %d Allow %q, want 405 Allow POST, HEAD", r.Status, r.Header.Get("Allow"))
	}
	for _, v := range []string{"intake-chat", "intake-health"} {
		if n := intakeCounter(t, p, v, "accepted") + intakeCounter(t, p, v, "duplicate"); n != 0 {
			t.Errorf("%s counted %v events, want 0: handshakes are not events", v, n)
		}
	}
	checkIntakeCanaries(t, p, nil)
}

// TestIntakeEmptyBody checks OwnTracks' empty body: taken with the sender's answer, nothing
// published, once authenticated; 401 otherwise.
func TestIntakeEmptyBody(t *testing.T) {
	p := startIntake(t)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(intakePerson+":"+intakePhonePassword))
	r := intakeReq{path: "/hooks/intake-phone", header: map[string]string{"Content-Type": "application/json", "Authorization": auth}}.send(t, p)
	if r.Status != http.StatusOK || r.Raw != "[]" {
		t.Errorf("empty body = %d %q, want 200 []", r.Status, r.Raw)
	}
	r = intakeReq{path: "/hooks/intake-phone", header: map[string]string{"Content-Type": "application/json"}}.send(t, p)
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("empty body without credentials = %d (WWW-Authenticate %q), want 401 with a challenge", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if n := intakeCounter(t, p, "intake-phone", "accepted"); n != 0 {
		t.Errorf("accepted = %v, want 0", n)
	}
}

// TestIntakeSendPlays runs `hookbridge send` for the intake senders: a form to a tokened URL, a
// Basic sender, a batch, a path type and a query sender.
func TestIntakeSendPlays(t *testing.T) {
	p := startIntake(t)
	dir := t.TempDir()
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000, 10)
	tests := []struct {
		vendor, body string
		flags        []string
		want         string
	}{
		{"intake-station", "PASSKEY=" + intakePasskey + "&tempf=50." + run, []string{"--content-type", "application/x-www-form-urlencoded"}, "202 "},
		{"intake-phone", `{"_type":"location","tid":"jq","lat":1,"lon":2,"tst":` + run + `}`, nil, "200 OK []"},
		{"intake-batch", `[{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z","vehicle":{"id":"v` + run + `"}}]`, nil, "202 "},
		{"intake-lorawan", `{"end_device_ids":{"device_id":"d` + run + `"}}`, []string{"--path", "uplink"}, "202 "},
		{"intake-query", "", []string{"--query", "tempf=60." + run}, "202 "},
		{"intake-sms", "MessageSid=SM" + run + "&MessageStatus=delivered", []string{"--content-type", "application/x-www-form-urlencoded"}, "200 OK <Response/>"},
	}
	for _, tt := range tests {
		t.Run(tt.vendor, func(t *testing.T) {
			file := filepath.Join(dir, tt.vendor)
			if err := os.WriteFile(file, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"send", tt.vendor, file, "--url", "http://" + p.HTTPAddr, "--options", filepath.Join(p.Dir, "options.json"),
				"--policies", intakeCatalog(t, "policies"), "--schemas", intakeCatalog(t, "schemas")}, tt.flags...)
			code, out, errOut := bridgetest.RunCLI(t, args...)
			if code != 0 || !strings.HasPrefix(out, tt.want) {
				t.Fatalf("send %s = %d %q %q, want 0 and %q", tt.vendor, code, out, errOut, tt.want)
			}
			for _, s := range intakeSecrets {
				if strings.Contains(out+errOut, s) {
					t.Errorf("send's output holds a secret: %q %q", out, errOut)
				}
			}
		})
	}
	t.Run("a path type that is not one segment", func(t *testing.T) {
		code, _, errOut := bridgetest.RunCLI(t, "send", "intake-lorawan", filepath.Join(dir, "intake-lorawan"), "--path", "a/b",
			"--url", "http://"+p.HTTPAddr, "--options", filepath.Join(p.Dir, "options.json"),
			"--policies", intakeCatalog(t, "policies"), "--schemas", intakeCatalog(t, "schemas"))
		if code == 0 || !strings.Contains(errOut, "--path") {
			t.Errorf("send --path a/b = %d %q, want an error about --path", code, errOut)
		}
	})
}

// TestIntakeReplayWindow checks the replay window of a vendor whose scheme signs no timestamp
// (bearer-vendor: a captured request verifies forever): its records are kept 30 days although
// retention_days is 7, while a vendor that signs a timestamp (acme-locks) keeps its 7.
func TestIntakeReplayWindow(t *testing.T) {
	ta := bridgetest.Start(t, "", func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "bearer-vendor" {
				o.Vendors[i].RatePerMinute = 100_000
			}
		}
	})
	body := bridgetest.AcmeEvent("evt_window_1", "LCK-W", 5)
	send := func() int {
		return ta.Post("/hooks/bearer-vendor", map[string]string{"Content-Type": "application/json",
			"Authorization": "Bearer " + bridgetest.BearerSecret}, body).Status
	}
	if s := send(); s != http.StatusAccepted {
		t.Fatalf("first send = %d, want 202", s)
	}
	now := time.Now()
	for _, days := range []int{8, 29} {
		ta.Purge(now.Add(time.Duration(days) * 24 * time.Hour))
		if s := send(); s != http.StatusOK {
			t.Fatalf("%d days later: %d, want 200 duplicate (kept 30 days)", days, s)
		}
	}
	ta.Purge(now.Add(31 * 24 * time.Hour))
	if s := send(); s != http.StatusAccepted {
		t.Fatalf("31 days later: %d, want 202 (the record is purged after 30 days)", s)
	}
}
