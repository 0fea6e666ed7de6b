package e2e_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The hostile-input suite (hostile_*_test.go and the fuzz target) attacks on purpose the promises
// in DOCS.md, "Security model and its limits": partners never reach the device network, a device
// sees only what its ACL permits, identifiers never leave in clear, bad input changes nothing. Every app it starts logs at the most verbose level, and when
// the test ends its whole log is searched for every secret, password, signature, body and clear
// identifier the test sent (hostileEnv.forbid): the log canary.

// hostileLogLevel is the level the suite's apps log at: trace, below debug, so every level is
// covered.
const hostileLogLevel = "trace"

// hostileEnv is an app under attack, with a homeassistant subscriber on everything under the
// prefix and the list of values its log must never hold.
type hostileEnv struct {
	*bridgetest.Instance
	sub *bridgetest.Subscriber
	seq atomic.Int64

	mu        sync.Mutex        // guards forbidden
	forbidden map[string]string // value -> what it is, for the failure message
}

// hostileStart starts an app for the suite: the test options at log level trace, bearer-vendor's
// hard rate limit lifted (the rate tests set their own), then mutate. Its catalog is the test
// catalog with automatic quarantine turned off (alerts stay): the suite sends far more bad
// signatures than the default quarantine level, and a quarantined vendor would answer 503 to every
// case after it.
func hostileStart(t *testing.T, mutate func(*options.Options)) *hostileEnv {
	t.Helper()
	ta := hostileLaunch(t, func(o *options.Options) {
		o.LogLevel = hostileLogLevel
		for i := range o.Vendors {
			if o.Vendors[i].Name == "bearer-vendor" {
				o.Vendors[i].RatePerMinute = 100_000
			}
		}
		if mutate != nil {
			mutate(o)
		}
	})
	h := &hostileEnv{Instance: ta, forbidden: map[string]string{}}
	for _, v := range ta.Options.Vendors {
		for _, s := range v.Secrets {
			h.forbid("the secret of "+v.Name, s)
			if k, err := ta.Policy(v.Name).Auth.Key(s); err == nil && k.MAC != nil {
				h.forbid("the key of "+v.Name, string(k.MAC))
			}
		}
	}
	for _, d := range ta.Options.Devices {
		h.forbid("the password of "+d.Username, d.Password)
	}
	h.forbid("the pseudonym key", ta.Options.PseudonymKey)
	// Registered after the instance's own cleanup, so it runs first: it stops the app itself, then
	// reads the complete log.
	t.Cleanup(func() { hostileScanLog(t, h.Stop, h.Logs.String, h.forbiddenValues()) })
	// Events only: the topics under the prefix that start with '_' (kill-switch state, status,
	// alerts) change as the suite runs and are not events.
	var sub *bridgetest.Subscriber
	for _, v := range ta.Options.Vendors {
		filter := bridgetest.TopicPrefix + "/" + v.Name + "/#"
		if sub == nil {
			sub = bridgetest.Subscribe(t, ta.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, fmt.Sprintf("hostile-ha-%d", time.Now().UnixNano()), true, filter)
		} else if code := sub.Subscribe(filter); code > 2 {
			t.Fatalf("subscribe %s: 0x%02x", filter, code)
		}
	}
	h.sub = sub
	return h
}

// hostileLaunch starts an app on loopback ports with the test options changed by mutate, a
// catalog whose policies never quarantine automatically, and no fsync, logging into its Logs. It
// is stopped when the test ends.
func hostileLaunch(tb testing.TB, mutate func(*options.Options)) *bridgetest.Instance {
	tb.Helper()
	policies := filepath.Join(tb.TempDir(), "policies")
	if err := os.MkdirAll(policies, 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, pattern := range []string{bridgetest.Path(tb, "policies", "*.yaml"), filepath.Join(bridgetest.TestPolicies(tb), "*.yaml")} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			tb.Fatalf("glob %s: %v %v", pattern, files, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				tb.Fatal(err)
			}
			if bytes.Contains(data, []byte("\nanomaly:")) {
				tb.Fatalf("%s has its own anomaly block; hostileLaunch would override it", file)
			}
			data = append(data, "\nanomaly:\n  signature_failures: {alert: 5, quarantine: -1}\n  schema_failures: {alert: 5, quarantine: -1}\n"...)
			if err := os.WriteFile(filepath.Join(policies, filepath.Base(file)), data, 0o600); err != nil {
				tb.Fatal(err)
			}
		}
	}
	o := bridgetest.DefaultOptions()
	if mutate != nil {
		mutate(o)
	}
	logs := &bridgetest.LogBuffer{}
	ta, err := bridgetest.Launch(tb, bridgetest.Config{Options: o, Policies: policies, NoSync: true, Log: logs})
	if err != nil {
		tb.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	return ta
}

// forbid adds values the log must never hold. Values shorter than 6 bytes are ignored: they could
// occur by chance.
func (h *hostileEnv) forbid(what string, values ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range values {
		if len(v) >= 6 {
			h.forbidden[v] = what
		}
	}
}

func (h *hostileEnv) forbiddenValues() func() map[string]string {
	return func() map[string]string {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := make(map[string]string, len(h.forbidden))
		for k, v := range h.forbidden {
			out[k] = v
		}
		return out
	}
}

// hostileScanLog stops an app and searches its complete log for the forbidden values, as they are
// and as they would look inside a JSON log string.
func hostileScanLog(t *testing.T, stop func(), logs func() string, forbidden func() map[string]string) {
	t.Helper()
	stop()
	text := logs()
	if !strings.Contains(text, `"level":"debug"`) && !strings.Contains(text, `"level":"trace"`) {
		t.Errorf("log canary: the app wrote no debug or trace line; the scan would prove little")
	}
	values := forbidden()
	t.Logf("log canary: %d values searched for in %d bytes of log", len(values), len(text))
	for v, what := range values {
		if hostileHolds(text, v) {
			t.Errorf("log canary: the log holds %s (%s)", what, hostileClip(v))
		}
	}
}

// hostileHolds reports whether text holds v as it is, or as it looks inside a JSON string.
func hostileHolds(text, v string) bool {
	if strings.Contains(text, v) {
		return true
	}
	b, _ := json.Marshal(v)
	s := string(b[1 : len(b)-1])
	return s != v && strings.Contains(text, s)
}

// hostileCheckPublished checks a message that a request to vendor published: on one of the
// vendor's topics, a topic that can match nothing else, and a JSON object whose pseudonymized
// fields (those of tokens it has) hold tokens. It returns the message's fields.
func hostileCheckPublished(t *testing.T, vendor string, m packets.Packet, tokens []string) map[string]any {
	t.Helper()
	if !strings.HasPrefix(m.TopicName, bridgetest.TopicPrefix+"/"+vendor+"/") {
		t.Fatalf("a request to %s published on %q", vendor, m.TopicName)
	}
	hostileCheckTopic(t, m.TopicName)
	var fields map[string]any
	if err := json.Unmarshal(m.Payload, &fields); err != nil {
		t.Fatalf("payload %q on %s is not a JSON object", m.Payload, m.TopicName)
	}
	for _, name := range tokens {
		if v, ok := fields[name]; ok {
			if tok, _ := v.(string); !hostileTokenRE.MatchString(tok) {
				t.Fatalf("pseudonymized field %s = %v on %s, want a token", name, v, m.TopicName)
			}
		}
	}
	return fields
}

// hostileClip shortens a value for a failure message.
func hostileClip(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// nextID returns a fresh event id.
func (h *hostileEnv) nextID() string {
	return fmt.Sprintf("evt_hostile_%d_%d", time.Now().UnixNano(), h.seq.Add(1))
}

// expectNothingPublished sends a marker event and checks that, after the before messages seen
// earlier, it is the only new one (as in TestStatusTable).
func (h *hostileEnv) expectNothingPublished(t *testing.T, before int) {
	t.Helper()
	marker := h.nextID()
	body := bridgetest.AcmeEvent(marker, "marker-device", 50)
	if r := h.Send("acme-locks", marker, body); r.Status != http.StatusAccepted {
		t.Fatalf("marker event: status %d %s", r.Status, r.Raw)
	}
	msgs := h.sub.WaitCount(before + 1)
	if extra := msgs[before+1:]; len(extra) > 0 || !strings.Contains(msgs[before].Payload, `"battery":50`) {
		t.Fatalf("a refused request published something: new messages %v", msgs[before:])
	}
}

// hostileSigner signs requests the way each vendor's scheme expects.
type hostileSigner struct {
	cat *catalog.Catalog
}

// sign returns the headers that authenticate body as vendor's event id at now, under secret, in a
// fixed order, with Content-Type: application/json.
func (s hostileSigner) sign(vendor, secret, id string, body []byte, now time.Time) []bridgetest.Header {
	v, ok := s.cat.Vendor(vendor)
	if !ok {
		panic("hostile: vendor not in the catalog: " + vendor)
	}
	m, err := verify.Signer{Auth: v.Policy.Auth, Secret: secret}.Sign(body, id, now)
	if err != nil {
		panic("hostile: sign: " + err.Error())
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []bridgetest.Header{{Key: "Content-Type", Value: "application/json"}}
	for _, k := range keys {
		out = append(out, bridgetest.Header{Key: k, Value: m[k]})
	}
	return out
}

// signed signs with the vendor's own test secret.
func (s hostileSigner) signed(vendor, id string, body []byte) []bridgetest.Header {
	return s.sign(vendor, bridgetest.Secrets()[vendor], id, body, time.Now())
}

// hostileHMAC returns the HMAC-SHA256 of the parts under key.
func hostileHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hostileHeap returns the heap in use after a garbage collection, in bytes.
func hostileHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
