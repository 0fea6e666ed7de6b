package e2e_test

// Golden end-to-end tests of the built-in sender policies (policies/{sender}.yaml, issue 15), on
// the real binary with the built-in catalog only: each sender's documented example (the test data
// under testdata/senders, each golden file citing its page), signed or authenticated as that
// sender does, must get the answer the sender expects and publish exactly the golden messages;
// the same request again is a duplicate; a changed byte, or a wrong token or password, is 401; and
// personal values, the documented ones and canaries put in their place, appear in no MQTT message
// (discovery included), no log line and no audit record.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// builtinPublicURL is the public_url the senders are given; Twilio and Square sign it.
const builtinPublicURL = "https://hooks.example.test"

// builtinSecrets are the built-in vendors' secrets: the sender's documented example secret where
// it is long enough to be taken (Slack's, Square's SDK test key, GitHub's), else test values.
var builtinSecrets = map[string]string{
	"slack":            "8f742231b10e8888abcd99yyyzzz85a5",
	"shopify":          "shopify-client-secret-golden-0123",
	"twilio":           "0123456789abcdef0123456789abcdef",
	"square":           "Ibxx_5AKakO-3qeNVR61Dw",
	"enode":            "enode-webhook-secret-golden-0123456789abcdef",
	"eliq":             "eliq-shared-secret-golden-0123",
	"netatmo":          "netatmo-client-secret-golden-0123",
	"owntracks":        "owntracks-password-golden-0123",
	"ecowitt":          "ecowitt-token-golden-0123456789",
	"withings":         "withings-token-golden_0123456789.abc~XY",
	"the-things-stack": "tts-bearer-token-golden-0123456789",
	"particle":         "particle-bearer-token-golden-0123456",
	"github":           "It's a Secret to Everybody",
	"stripe":           "whsec_golden_stripe_test_0123456789abcdef",
}

// senderGolden is one file under testdata/golden/senders: a request as the sender makes it, and
// what must come of it.
type senderGolden struct {
	Vendor string `json:"vendor"`
	// Source cites the documentation the example comes from; Note says how it was changed, if at all.
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
	// Body is the request body, a file under testdata/.
	Body        string `json:"body"`
	ContentType string `json:"content_type,omitempty"` // default application/json
	// Path is the segment after /hooks/{vendor}/ the sender appends (the event type of The Things
	// Stack and Twilio); a path-token vendor's token is added by the signer.
	Path   string            `json:"path,omitempty"`
	Query  string            `json:"query,omitempty"`
	Header map[string]string `json:"header,omitempty"` // headers the sender sends besides its credentials
	// BasicUser is the user name a Basic sender sends (personal data).
	BasicUser string `json:"basic_user,omitempty"`
	// Events is how many events the request holds (a batch's elements); default 1.
	Events int `json:"events,omitempty"`
	// Handshake marks a request that is answered and keeps no replay record.
	Handshake bool `json:"handshake,omitempty"`
	// Personal are values of the example that must appear nowhere; Canaries replace values of the
	// body in a second request, and the new values must appear nowhere either.
	Personal []string          `json:"personal,omitempty"`
	Canaries map[string]string `json:"canaries,omitempty"`

	// What comes of it (-update rewrites these).
	Status     int             `json:"status"`
	Answer     string          `json:"answer"`
	AnswerType string          `json:"answer_type,omitempty"`
	Messages   []goldenMessage `json:"messages"`
}

func (g *senderGolden) events() int {
	if g.Events == 0 {
		return 1
	}
	return g.Events
}

// startBuiltin runs the real binary with the built-in catalog only, every built-in sender
// configured with its secret, public_url set and Home Assistant on the embedded broker.
func startBuiltin(t *testing.T) *bridgetest.Process {
	t.Helper()
	o := bridgetest.DefaultOptions()
	o.LogLevel = "debug"
	o.PublicURL = builtinPublicURL
	o.HAMQTT = options.HAMQTTEmbedded
	o.MaxBodyKB = 64 // the default: GitHub's examples are up to 22 KiB
	o.Vendors = nil
	names := make([]string, 0, len(builtinSecrets))
	for name := range builtinSecrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = name, []string{builtinSecrets[name]}, 100_000
		o.Vendors = append(o.Vendors, v)
	}
	p := bridgetest.NewProcessCatalog(t, o, "", "")
	p.Start()
	return p
}

// builtinRequest is a request as a sender sends it.
type builtinRequest struct {
	path   string
	header map[string]string
	body   []byte
}

func (r builtinRequest) send(t testing.TB, p *bridgetest.Process) bridgetest.Response {
	t.Helper()
	return bridgetest.Do(t, http.MethodPost, "http://"+p.HTTPAddr+r.path, r.header, r.body)
}

func (r builtinRequest) clone() builtinRequest {
	c := builtinRequest{path: r.path, header: map[string]string{}, body: append([]byte(nil), r.body...)}
	for k, v := range r.header {
		c.header[k] = v
	}
	return c
}

// builtinSign makes the request the vendor's sender sends with body at now: signed (or given its
// token or password) by the vendor's scheme with the vendor's secret, to the URL the sender was
// given.
func builtinSign(t testing.TB, p *bridgetest.Process, g *senderGolden, body []byte, now time.Time) builtinRequest {
	t.Helper()
	cv, ok := p.Catalog.Vendor(g.Vendor)
	if !ok {
		t.Fatalf("no built-in policy %s", g.Vendor)
	}
	ct := g.ContentType
	if ct == "" {
		ct = "application/json"
	}
	u := builtinPublicURL + "/hooks/" + g.Vendor
	if g.Path != "" {
		u += "/" + g.Path
	}
	if g.Query != "" {
		u += "?" + g.Query
	}
	m := &verify.Message{URL: u, ContentType: ct, Body: body, Time: now, Header: map[string]string{}}
	for k, v := range g.Header {
		m.Header[k] = v
	}
	if err := (verify.Signer{Auth: cv.Policy.Auth, Secret: builtinSecrets[g.Vendor]}).SignMessage(m); err != nil {
		t.Fatalf("sign as %s: %v", g.Vendor, err)
	}
	if g.BasicUser != "" {
		m.Header["Authorization"] = basicAuth(g.BasicUser, builtinSecrets[g.Vendor])
	}
	m.Header["Content-Type"] = ct
	return builtinRequest{path: strings.TrimPrefix(m.URL, builtinPublicURL), header: m.Header, body: body}
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// builtinTamper returns the request changed so that it must not authenticate: a wrong token or
// password for a sender that cannot sign, a changed byte of the body for one that signs.
func builtinTamper(t testing.TB, p *bridgetest.Process, g *senderGolden, r builtinRequest) builtinRequest {
	t.Helper()
	cv, _ := p.Catalog.Vendor(g.Vendor)
	c := r.clone()
	secret := builtinSecrets[g.Vendor]
	wrong := secret[:len(secret)-1] + "X"
	switch cv.Policy.Auth.Scheme {
	case "path-token":
		c.path = strings.Replace(c.path, "/"+secret, "/"+wrong, 1)
	case "bearer":
		c.header["Authorization"] = "Bearer " + wrong
	case "basic":
		user := g.BasicUser
		if user == "" {
			user = "user"
		}
		c.header["Authorization"] = basicAuth(user, wrong)
	default:
		i := bytes.IndexAny(c.body, "0123456789")
		if i < 0 {
			i = len(c.body) / 2
		}
		c.body[i] ^= 0x01
	}
	return c
}

func readSenderGoldens(t *testing.T) (files []string, cases []*senderGolden) {
	t.Helper()
	files, err := filepath.Glob(bridgetest.Path(t, "testdata", "golden", "senders", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files under testdata/golden/senders: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var g senderGolden
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if g.Source == "" {
			t.Fatalf("%s: no source: cite the documentation the example comes from", file)
		}
		cases = append(cases, &g)
	}
	return files, cases
}

// TestBuiltinSenders plays every built-in sender's documented examples against the real binary
// (testdata/golden/senders), then searches everything that left the process for personal values.
func TestBuiltinSenders(t *testing.T) {
	files, cases := readSenderGoldens(t)
	p := startBuiltin(t)
	ha := entHA(t, p.MQTTAddr, "builtin-ha")
	covered := map[string]bool{}
	var forbidden []string
	for i, g := range cases {
		covered[g.Vendor] = true
		forbidden = append(forbidden, g.Personal...)
		for _, v := range g.Canaries {
			forbidden = append(forbidden, v)
		}
		name := strings.TrimSuffix(filepath.Base(files[i]), ".json")
		t.Run(name, func(t *testing.T) { runSenderGolden(t, p, ha, g, files[i]) })
	}
	for name := range builtinSecrets {
		if !covered[name] {
			t.Errorf("no golden file for the built-in sender %s", name)
		}
		forbidden = append(forbidden, builtinSecrets[name])
	}
	if *update {
		return
	}
	t.Run("retries and checks", func(t *testing.T) { checkBuiltinRetries(t, p, ha, cases) })
	t.Run("discovery", func(t *testing.T) { checkBuiltinDiscovery(t, p, ha) })
	t.Run("no personal data", func(t *testing.T) { checkBuiltinCanaries(t, p, ha, forbidden) })
}

// runSenderGolden sends one golden request and checks (or, with -update, records) what comes of it.
func runSenderGolden(t *testing.T, p *bridgetest.Process, ha *bridgetest.Subscriber, g *senderGolden, file string) {
	body := bridgetest.ReadTestdata(t, g.Body)
	req := builtinSign(t, p, g, body, time.Now())
	prefix := bridgetest.TopicPrefix + "/" + g.Vendor + "/"
	before := len(ha.Messages())
	dupsBefore := intakeCounter(t, p, g.Vendor, "duplicate")
	r := req.send(t, p)
	ok := r.Status >= 200 && r.Status < 300
	want := len(g.Messages)
	if *update && ok {
		time.Sleep(time.Second) // whatever the request publishes arrives by then
		want = countOn(ha.Messages()[before:], prefix)
	}
	got := []goldenMessage{}
	if ok && want != 0 {
		msgs := ha.WaitFor(g.Vendor+" messages", bridgetest.WaitForDeliveries, func(ms []bridgetest.Message) bool {
			return countOn(ms[before:], prefix) >= want
		})
		for _, m := range msgs[before:] {
			if strings.HasPrefix(m.Topic, prefix) {
				got = append(got, goldenMessage{Topic: m.Topic, Payload: json.RawMessage(m.Payload), QoS: m.QoS})
			}
		}
		retained := builtinRetained(t, p, got)
		for i := range got {
			got[i].Retain = retained[got[i].Topic] == string(got[i].Payload)
		}
	} else if ok && !*update {
		time.Sleep(150 * time.Millisecond) // a message published anyway would have arrived by then
		for _, m := range ha.Messages()[before:] {
			if strings.HasPrefix(m.Topic, prefix) {
				got = append(got, goldenMessage{Topic: m.Topic, Payload: json.RawMessage(m.Payload), QoS: m.QoS})
			}
		}
	}
	if *update {
		g.Status, g.Answer, g.AnswerType, g.Messages = r.Status, r.Raw, r.Header.Get("Content-Type"), got
		if g.Answer == "" {
			g.AnswerType = ""
		}
		out, _ := json.MarshalIndent(g, "", "  ")
		if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if r.Status != g.Status || r.Raw != g.Answer {
		t.Fatalf("answer = %d %q, want %d %q", r.Status, r.Raw, g.Status, g.Answer)
	}
	if g.AnswerType != "" && r.Header.Get("Content-Type") != g.AnswerType {
		t.Errorf("answer type = %q, want %q", r.Header.Get("Content-Type"), g.AnswerType)
	}
	if len(got) != len(g.Messages) {
		t.Fatalf("got %d messages, want %d: %+v", len(got), len(g.Messages), got)
	}
	for i, w := range g.Messages {
		var wb, gb bytes.Buffer
		_ = json.Compact(&wb, w.Payload)
		_ = json.Compact(&gb, got[i].Payload)
		if got[i].Topic != w.Topic || wb.String() != gb.String() || got[i].QoS != w.QoS || got[i].Retain != w.Retain {
			t.Errorf("message %d = %s %s qos %d retain %v,\nwant      %s %s qos %d retain %v",
				i, got[i].Topic, gb.String(), got[i].QoS, got[i].Retain, w.Topic, wb.String(), w.QoS, w.Retain)
		}
	}
	if !ok {
		return // a refused example: nothing more to check
	}

	// The same request again: the same answer for a handshake, else a duplicate of each event.
	r2 := req.send(t, p)
	cv, _ := p.Catalog.Vendor(g.Vendor)
	switch {
	case g.Handshake:
		if r2.Status != r.Status || r2.Raw != r.Raw {
			t.Errorf("the handshake again = %d %q, want %d %q", r2.Status, r2.Raw, r.Status, r.Raw)
		}
	case cv.Policy.Answer != nil: // the sender's answer, for duplicates too
		if r2.Status != r.Status || r2.Raw != r.Raw {
			t.Errorf("the same request again = %d %q, want the sender's answer %d %q", r2.Status, r2.Raw, r.Status, r.Raw)
		}
	default:
		if r2.Status != http.StatusOK || r2.Body["status"] != "duplicate" {
			t.Errorf("the same request again = %d %s, want 200 duplicate", r2.Status, r2.Raw)
		}
	}
	wantDups := dupsBefore + float64(g.events())
	if g.Handshake {
		wantDups = dupsBefore
	}
	if n := intakeCounter(t, p, g.Vendor, "duplicate"); n != wantDups {
		t.Errorf("duplicates = %v after the same request again, want %v", n, wantDups)
	}

	// A changed byte, a wrong token or password.
	if r3 := builtinTamper(t, p, g, req).send(t, p); r3.Status != http.StatusUnauthorized {
		t.Errorf("a changed request = %d %s, want 401", r3.Status, r3.Raw)
	}

	// The canaries: the example with its personal values replaced, a new event taken as the first.
	if len(g.Canaries) > 0 {
		cb := string(body)
		for from, to := range g.Canaries {
			if !strings.Contains(cb, from) {
				t.Fatalf("canary: %q is not in %s", from, g.Body)
			}
			cb = strings.ReplaceAll(cb, from, to)
		}
		before := len(ha.Messages())
		rc := builtinSign(t, p, g, []byte(cb), time.Now()).send(t, p)
		if rc.Status != g.Status {
			t.Fatalf("the example with canaries = %d %s, want %d", rc.Status, rc.Raw, g.Status)
		}
		if len(g.Messages) > 0 {
			ha.WaitFor(g.Vendor+" canary messages", bridgetest.WaitForDeliveries, func(ms []bridgetest.Message) bool {
				return countOn(ms[before:], prefix) >= len(g.Messages)
			})
		}
	}
}

// builtinRetained returns the retained message of each of the messages' topics, as a client that
// subscribes now receives them: the payload by topic, for those that have one.
func builtinRetained(t testing.TB, p *bridgetest.Process, msgs []goldenMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	if len(msgs) == 0 {
		return out
	}
	sub, err := bridgetest.Connect(t, p.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "builtin-retained", true)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Client.Disconnect(50)
	var topics []string
	for _, m := range msgs {
		if !slices.Contains(topics, m.Topic) {
			topics = append(topics, m.Topic)
		}
	}
	for _, topic := range topics {
		if code := sub.Subscribe(topic); code > 2 {
			t.Fatalf("subscribe %s: 0x%02x", topic, code)
		}
	}
	time.Sleep(150 * time.Millisecond) // retained messages come right after the SUBACK
	for _, m := range sub.Messages() {
		if m.Retained {
			out[m.Topic] = m.Payload
		}
	}
	return out
}

// checkBuiltinDiscovery checks the Home Assistant entities the built-in policies declared for the
// topics the goldens published: every config passes Home Assistant's MQTT schemas, and each
// vendor whose routes declare entities has some.
func checkBuiltinDiscovery(t *testing.T, p *bridgetest.Process, ha *bridgetest.Subscriber) {
	var configs map[string]entConfig
	bridgetest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		configs = entRouteConfigs(entFromBridge(ha.Messages()))
		for name := range builtinSecrets {
			if builtinHasEntities(p, name) && !slices.ContainsFunc(slices.Collect(maps.Values(configs)), func(c entConfig) bool {
				return strings.Contains(c.Topic, "/"+name+"_r")
			}) {
				return fmt.Errorf("no discovery config for %s", name)
			}
		}
		return nil
	})
	if n := entCheckConfigs(t, entFromBridge(ha.Messages())); n < len(configs) {
		t.Errorf("checked %d configs, want at least the %d route entities", n, len(configs))
	}
	t.Logf("%d route entities announced for the built-in senders", len(configs))
}

func builtinHasEntities(p *bridgetest.Process, vendor string) bool {
	cv, ok := p.Catalog.Vendor(vendor)
	if !ok {
		return false
	}
	for _, r := range cv.Policy.Routes {
		if len(r.Entities) > 0 {
			return true
		}
	}
	return false
}

// checkBuiltinCanaries searches every MQTT message (discovery and Hookbridge's own included), the
// whole log and the audit trail's export for the secrets, the examples' personal values and the
// canaries.
func checkBuiltinCanaries(t *testing.T, p *bridgetest.Process, ha *bridgetest.Subscriber, forbidden []string) {
	time.Sleep(200 * time.Millisecond) // let the last messages arrive
	var mqtt strings.Builder
	for _, m := range ha.Messages() {
		mqtt.WriteString(m.Topic + " " + m.Payload + "\n")
	}
	logs := p.Logs()
	code, export, stderr := opsRun(t, "audit", "export", "--since", "1h", "--admin-addr", p.AdminAddr)
	if code != 0 || !strings.Contains(export, `"vendor":"owntracks"`) {
		t.Fatalf("audit export = %d %q %q, want the records of the built-in senders", code, bridgetest.Tail(export, 3), stderr)
	}
	if !strings.Contains(logs, `"message":"webhook"`) {
		t.Fatalf("the log has no webhook line: the search would prove nothing")
	}
	for _, v := range slices.Clone(forbidden) {
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			forbidden = append(forbidden, d) // a canary of a form body, as it reads decoded
		}
	}
	for _, v := range forbidden {
		j, _ := json.Marshal(v)
		escaped := string(j[1 : len(j)-1])
		for where, text := range map[string]string{"an MQTT message": mqtt.String(), "the log": logs, "the audit export": export} {
			if strings.Contains(text, v) || strings.Contains(text, escaped) {
				t.Errorf("%s holds %q", where, v)
			}
		}
	}
	t.Logf("searched %d MQTT messages, %d bytes of log and %d of audit export for %d values",
		len(ha.Messages()), len(logs), len(export), len(forbidden))
}

// checkBuiltinRetries checks what the goldens' single request cannot: a sender that signs a
// timestamp re-signs a retry later, which is still a duplicate, and a request signed outside the
// tolerance is 401; Withings' HEAD of its tokened URL; OwnTracks' empty body.
func checkBuiltinRetries(t *testing.T, p *bridgetest.Process, ha *bridgetest.Subscriber, cases []*senderGolden) {
	byName := map[string]*senderGolden{}
	for _, g := range cases {
		byName[strings.TrimPrefix(g.Body, "senders/")] = g
	}
	for _, file := range []string{"slack/reaction-added.json", "stripe/setup-intent-created.json", "eliq/notification.json"} {
		g := byName[file]
		if g == nil {
			t.Fatalf("no golden case sends %s", file)
		}
		body := bridgetest.ReadTestdata(t, g.Body)
		before := len(ha.Messages())
		retry := builtinSign(t, p, g, body, time.Now().Add(2*time.Minute)).send(t, p)
		if retry.Status != http.StatusOK || retry.Body["status"] != "duplicate" {
			t.Errorf("%s: a retry re-signed 2 minutes later = %d %s, want 200 duplicate", g.Vendor, retry.Status, retry.Raw)
		}
		late := builtinSign(t, p, g, body, time.Now().Add(-6*time.Minute)).send(t, p)
		if late.Status != http.StatusUnauthorized {
			t.Errorf("%s: signed 6 minutes ago = %d %s, want 401", g.Vendor, late.Status, late.Raw)
		}
		time.Sleep(100 * time.Millisecond)
		if n := countOn(ha.Messages()[before:], bridgetest.TopicPrefix+"/"+g.Vendor+"/"); n != 0 {
			t.Errorf("%s: the retry published %d messages, want none", g.Vendor, n)
		}
	}

	head := func(path string) bridgetest.Response {
		return bridgetest.Do(t, http.MethodHead, "http://"+p.HTTPAddr+path, nil, nil)
	}
	token := builtinSecrets["withings"]
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/hooks/withings/" + token, http.StatusOK},
		{"/hooks/withings/" + token[:len(token)-1] + "X", http.StatusUnauthorized},
		{"/hooks/withings", http.StatusUnauthorized},
		{"/hooks/ecowitt/" + builtinSecrets["ecowitt"], http.StatusMethodNotAllowed},
	} {
		if r := head(tt.path); r.Status != tt.status || r.Raw != "" {
			t.Errorf("HEAD %s = %d %q, want %d and no body", strings.Replace(strings.Replace(tt.path, token, "TOKEN", 1), builtinSecrets["ecowitt"], "TOKEN", 1),
				r.Status, r.Raw, tt.status)
		}
	}

	before := len(ha.Messages())
	auth := basicAuth("Jane Q. Canary-Doe", builtinSecrets["owntracks"])
	r := bridgetest.Do(t, http.MethodPost, "http://"+p.HTTPAddr+"/hooks/owntracks", map[string]string{"Content-Type": "application/json", "Authorization": auth}, nil)
	if r.Status != http.StatusOK || r.Raw != "[]" {
		t.Errorf("OwnTracks' empty body = %d %q, want 200 []", r.Status, r.Raw)
	}
	r = bridgetest.Do(t, http.MethodPost, "http://"+p.HTTPAddr+"/hooks/owntracks", map[string]string{"Content-Type": "application/json"}, nil)
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("OwnTracks' empty body without credentials = %d (WWW-Authenticate %q), want 401 with a challenge", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	time.Sleep(100 * time.Millisecond)
	if n := countOn(ha.Messages()[before:], bridgetest.TopicPrefix+"/owntracks/"); n != 0 {
		t.Errorf("the empty body published %d messages, want none", n)
	}
}

// TestBuiltinFirstRun starts the real binary on a fresh data dir with the built-in catalog: the
// first-run options it writes list every built-in sender, each either on with a fresh secret its
// scheme takes or, when the sender issues the secret (or it is the sender's public key), off and
// without one; it starts; and `hookbridge check` passes on those options.
func TestBuiltinFirstRun(t *testing.T) {
	dir := t.TempDir()
	opts := filepath.Join(dir, "options.json")
	var out lockedBuffer
	cmd := exec.Command(bridgetest.Binary(t), "serve", "--data", dir, "--options", opts,
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	started := false
	for deadline := time.Now().Add(20 * time.Second); !started && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("the first run exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		started = strings.Contains(out.String(), `"message":"hookbridge started"`)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	<-done
	if !started {
		t.Fatalf("the first run did not start:\n%s", out.String())
	}
	if strings.Contains(out.String(), `"level":"error"`) {
		t.Errorf("the first run logged an error:\n%s", out.String())
	}

	o, err := readOptionsFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	cat := bridgetest.Catalog(t, "")
	var off []string
	for name := range builtinSecrets {
		var v *options.Vendor
		for i := range o.Vendors {
			if o.Vendors[i].Name == name {
				v = &o.Vendors[i]
			}
		}
		if v == nil {
			t.Errorf("the first-run options have no vendor %s", name)
			continue
		}
		cv, _ := cat.Vendor(name)
		switch {
		case v.Enabled && len(v.Secrets) == 1:
			if err := cv.Policy.Auth.CheckSecret(v.Secrets[0]); err != nil {
				t.Errorf("%s: the first-run secret is refused by its own scheme: %v", name, err)
			}
		case !v.Enabled && len(v.Secrets) == 0:
			off = append(off, name)
		default:
			t.Errorf("%s: enabled %v with %d secrets, want on with one fresh secret, or off without one", name, v.Enabled, len(v.Secrets))
		}
	}
	sort.Strings(off)
	// The senders that issue the secret themselves start off: a made-up secret would only make
	// their endpoint answer 401 until the user pastes the real one.
	if want := []string{"eliq", "netatmo", "shopify", "slack", "square", "stripe", "twilio"}; !slices.Equal(off, want) {
		t.Errorf("off until their secret is pasted: %v, want %v", off, want)
	}

	code, stdout, stderr := opsRun(t, "check", "--data", dir, "--options", opts)
	if code != 0 || !strings.Contains(stdout, "ok: "+strconv.Itoa(len(cat.Names()))+" policies") {
		t.Fatalf("check on the first-run options = %d %q %q, want 0 and ok for %d policies", code, stdout, stderr, len(cat.Names()))
	}
	if n := strings.Count(stdout, "warning: "); n > 0 {
		t.Logf("check warns %d times:\n%s", n, stdout)
	}
}

// lockedBuffer collects what the child writes to its stdout and stderr, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func readOptionsFile(path string) (*options.Options, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return options.Parse(data)
}
