package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The tests of issue 12 (device_side, admin_rebinding, partner_side) run against the real binary
// with options and policies that 0.1.0 accepts too, so that each can be run against the release it
// was found in (the test catalog of this version is not one 0.1.0 accepts). Each must fail there
// and pass here:
//
//	HOOKBRIDGE_BINARY=/tmp/hookbridge-0.1.0 go test -run 'TestDevice|TestAdminDNS|TestPartner' ./bridge/e2e/
//
// (TestDeviceACL, TestDevicePublishPathsClosed and the controls inside some tests pass on both.)
// TestSlowReaderCannotStallPublishing, found later, fails there too. The options are written in
// 0.1's shape for that (the list of secrets, no mode, no public_url).

// Accounts and secrets of the issue 12 tests, besides bridgetest's panel and homeassistant.
const (
	porchUser       = "porch-panel" // a second device account with the panel's rights
	porchPassword   = "porch-password-123"
	githubSecret    = "e2e-github-secret-0123456789"
	hmacSecret      = "e2e-hmac-secret-0123456789"
	bearerSecret    = "e2e-bearer-secret-0123456789"
	lockStateFilter = bridgetest.TopicPrefix + "/acme-locks/locks/+/state"
)

// binPolicies are vendors whose id header 0.1.0 took for the replay key: a GitHub sender, and
// hmac-sha256 and bearer vendors with an id_header. Their bodies carry the id at /id too, as
// GitHub's do not but most senders' do; this version keys replays by that.
var binPolicies = map[string]string{
	"e2e-github": `
auth:
  scheme: github
`,
	"e2e-hmac": `
auth:
  scheme: hmac-sha256
  header: X-E2E-Signature
  encoding: hex
  id_header: X-E2E-Delivery
`,
	"e2e-bearer": `
auth:
  scheme: bearer
  header: Authorization
  id_header: X-E2E-Delivery
`,
}

// binSecrets are the secrets of the vendors a binProc runs, by name.
var binSecrets = map[string]string{
	"acme-locks": bridgetest.AcmeSecret, "e2e-github": githubSecret, "e2e-hmac": hmacSecret, "e2e-bearer": bearerSecret,
}

// binProc is the real binary for the issue 12 tests. Its methods take the test (or subtest) they
// fail.
type binProc struct {
	*bridgetest.Process
}

// startBinary writes binPolicies to a directory of their own and starts the real binary with
// acme-locks and them as vendors, the panel, porch-panel and homeassistant as accounts, logging at
// level info, changed by mutate (when not nil).
func startBinary(t *testing.T, mutate func(*options.Options)) *binProc {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, auth := range binPolicies {
		doc := fmt.Sprintf(`vendor: %s
title: Issue 12 test sender
owner: Tests
contact: tests@hookbridge.invalid
risk: low
%s
event:
  id: /id
  type: /type
schema: acme-locks/v1.json
routes:
  - when: lock.state_changed
    topic: locks/{device}/state
    qos: 1
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      state: /data/state
`, name, strings.TrimSpace(auth))
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := bridgetest.DefaultOptions()
	o.LogLevel = "info"
	o.Vendors = nil
	for _, name := range []string{"acme-locks", "e2e-github", "e2e-hmac", "e2e-bearer"} {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = name, []string{binSecrets[name]}, 100_000
		// The shape 0.1.0 reads: the list of secrets, and no mode (live, as when left out).
		v.LegacySecrets, v.Mode = true, ""
		o.Vendors = append(o.Vendors, v)
	}
	o.Devices = []options.Device{
		{Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Allow: []string{"acme-locks/locks/+/state"}},
		{Username: porchUser, Password: porchPassword, Allow: []string{"acme-locks/locks/+/state"}},
		{Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Allow: []string{}},
	}
	if mutate != nil {
		mutate(o)
	}
	p := &binProc{Process: bridgetest.NewProcessPolicies(t, o, dir)}
	p.Start()
	return p
}

// url returns the partner listener's URL of path.
func (p *binProc) url(path string) string { return "http://" + p.HTTPAddr + path }

// sign returns the headers that authenticate body as vendor's event id (the scheme's own id
// header, or the policy's id_header, carries it), with Content-Type: application/json.
func (p *binProc) sign(t testing.TB, vendor, id string, body []byte) map[string]string {
	t.Helper()
	v, ok := p.Catalog.Vendor(vendor)
	if !ok {
		t.Fatalf("vendor %s is not in the catalog", vendor)
	}
	h, err := verify.Signer{Auth: v.Policy.Auth, Secret: binSecrets[vendor]}.Sign(body, id, time.Now())
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	h["Content-Type"] = "application/json"
	return h
}

// send posts body as vendor's event id, signed now.
func (p *binProc) send(t testing.TB, vendor, id string, body []byte) bridgetest.Response {
	t.Helper()
	return bridgetest.Do(t, http.MethodPost, p.url("/hooks/"+vendor), p.sign(t, vendor, id, body), body)
}

// timedSend is send that also returns how long the answer took.
func (p *binProc) timedSend(t testing.TB, vendor, id string, body []byte) (bridgetest.Response, time.Duration) {
	t.Helper()
	h := p.sign(t, vendor, id, body)
	start := time.Now()
	r := bridgetest.Do(t, http.MethodPost, p.url("/hooks/"+vendor), h, body)
	return r, time.Since(start)
}

// admin sends a request to path on the admin listener with Host set to host ("" for the
// listener's own address) and the headers.
func (p *binProc) admin(t testing.TB, method, path, host string, header map[string]string) bridgetest.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.AdminAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := bridgetest.Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// vendorMode reads a vendor's kill switch mode (enabled, disabled, quarantined) from the
// inventory.
func (p *binProc) vendorMode(t testing.TB, name string) string {
	t.Helper()
	r := p.admin(t, http.MethodGet, "/api/vendors/"+name, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/vendors/%s: %d %s", name, r.Status, r.Raw)
	}
	var vi struct {
		State struct {
			Mode string `json:"mode"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &vi); err != nil {
		t.Fatalf("inventory of %s: %v: %s", name, err, r.Raw)
	}
	return vi.State.Mode
}

// session is one MQTT session as the admin API lists it.
type session struct {
	ClientID      string `json:"client_id"`
	Connected     bool   `json:"connected"`
	Persistent    bool   `json:"persistent"`
	Subscriptions int    `json:"subscriptions"`
}

// sessions lists a device account's sessions through the admin API, by client id.
func (p *binProc) sessions(t testing.TB, user string) map[string]session {
	t.Helper()
	r := p.admin(t, http.MethodGet, "/api/devices/"+user+"/sessions", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/devices/%s/sessions: %d %s", user, r.Status, r.Raw)
	}
	var list struct {
		Sessions []session `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &list); err != nil {
		t.Fatalf("sessions of %s: %v: %s", user, err, r.Raw)
	}
	out := map[string]session{}
	for _, s := range list.Sessions {
		out[s.ClientID] = s
	}
	return out
}

// rss returns the binary's resident set size in bytes, from /proc.
func (p *binProc) rss(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		t.Fatalf("read the process status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", p.PID())
	return 0
}

// logHas reports whether the binary logged a line whose message contains msg and whose fields
// hold each of the key/value pairs kv.
func (p *binProc) logHas(msg string, kv ...string) bool {
	for _, e := range bridgetest.LogEntries[map[string]any](p.Logs()) {
		m, _ := e["message"].(string)
		if !strings.Contains(m, msg) {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(e[kv[i]]) != kv[i+1] {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// metric returns the value of a counter or gauge without labels from /metrics, and whether it
// is there.
func (p *binProc) metric(t testing.TB, name string) (float64, bool) {
	t.Helper()
	r := p.admin(t, http.MethodGet, "/metrics", "", nil)
	for _, line := range strings.Split(r.Raw, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// acmeEvent returns an acme-locks lock.state_changed event whose battery level is the literal
// battery, as written.
func acmeEvent(id, device, battery string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"state":"locked","battery_pct":%s}}`, id, device, battery)
}

var binSeq atomic.Int64

// uniqueID returns a fresh id with prefix.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), binSeq.Add(1))
}

// versions are the MQTT versions the raw client speaks.
var versions = []byte{rawmqtt.V311, rawmqtt.V5}

// versionName names an MQTT version in a subtest name.
func versionName(v byte) string {
	if v == rawmqtt.V5 {
		return "v5"
	}
	return "v3.1.1"
}

// refusal returns the code a refusal is sent with: v5 to an MQTT 5 client, v3 to a 3.1.1 one.
func refusal(version, v5, v3 byte) byte {
	if version == rawmqtt.V5 {
		return v5
	}
	return v3
}

// rawLogin dials addr and logs in with o, returning the connection and the CONNACK's code; it
// fails the test when no CONNACK comes.
func rawLogin(t *testing.T, addr string, o rawmqtt.Options) (*rawmqtt.Conn, byte) {
	t.Helper()
	c, err := rawmqtt.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ack, err := c.Connect(o)
	if err != nil {
		t.Fatalf("login %s as %s: %v", o.ClientID, o.Username, err)
	}
	return c, ack.ReasonCode
}

// pahoDevice connects a paho client (MQTT 3.1.1) as a real device does, waiting at most d for the
// CONNACK; the error says why it did not log in.
func pahoDevice(t *testing.T, addr, user, password, clientID string, clean bool, d time.Duration) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(clean).SetAutoReconnect(false).
		SetConnectRetry(false).SetConnectTimeout(d).SetOrderMatters(true)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(d + time.Second) {
		return nil, fmt.Errorf("no CONNACK within %v", d)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

// pahoSubscribe subscribes at QoS 1 and returns the granted code (0x80 refused), waiting at most d.
func pahoSubscribe(c paho.Client, filter string, d time.Duration, fn paho.MessageHandler) (byte, error) {
	tok := c.Subscribe(filter, 1, fn)
	if !tok.WaitTimeout(d) {
		return 0x80, fmt.Errorf("no SUBACK within %v", d)
	}
	if err := tok.Error(); err != nil {
		return 0x80, err
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code, nil
	}
	return 0x80, fmt.Errorf("SUBACK without a code")
}

// localDialer dials from the loopback address ip (127.0.0.0/8 is all local on Linux), so that a
// test can be several sources.
func localDialer(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// httpClientFrom returns an HTTP client whose connections come from the loopback address ip.
func httpClientFrom(ip string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: localDialer(ip).DialContext, MaxIdleConnsPerHost: 8}}
}

// post sends body with the headers to url through c and returns the status, 0 on a transport
// error.
func post(c *http.Client, url string, header map[string]string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// median returns the median of ds (they are sorted in place).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
