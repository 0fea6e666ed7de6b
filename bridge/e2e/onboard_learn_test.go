package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// lumenPolicy is what a person writes for a new sender before learn mode: who it is, how it
// signs, where its id and type are; no schema and no routes. Owner and contact are not known yet.
const lumenPolicy = `# Lumen sensor cloud: motion and climate sensors. Written from the sender's documentation;
# schema and routes come from learn mode (hookbridge draft lumen-sensors).
vendor: lumen-sensors
title: Lumen sensor cloud
owner: TODO
contact: TODO
risk: medium
auth:
  scheme: standard-webhooks
  tolerance: 5m
event:
  id: /id
  type: /type
`

const lumenSecret = "whsec_bHVtZW4tc2Vuc29ycy10ZXN0LXNlY3JldC0wMQ=="

// Canary values: identifiers fed to learn mode that must never appear in the store, the logs,
// the admin API, the status page, the draft or on MQTT in clear.
var (
	lumenEmails  = []string{"canary.jane.doe@example.com", "canary.omar.k@example.net", "canary.li.wei@example.org"}
	lumenMACs    = []string{"a4:c1:38:9f:22:7e", "a4:c1:38:0b:5d:e1", "a4:c1:38:77:10:3c"}
	lumenSerials = []string{"LS2-CANARY-77310", "LS2-CANARY-81422", "LS2-CANARY-90533"}
)

func lumenCanaries() []string {
	return slices.Concat(lumenEmails, lumenMACs, lumenSerials, []string{"evt_lumen_canary_"})
}

// lumenEvent returns the i-th event of a learning run: sensor.reading for even i,
// sensor.battery_low for odd i, from one of three devices.
func lumenEvent(i int) (id string, body []byte) {
	id = fmt.Sprintf("evt_lumen_canary_%03d", i)
	d := i % 3
	device := fmt.Sprintf(`"device":{"mac":%q,"serial_number":%q,"model":"LS-200","firmware":"2.4.%d"},"owner":{"email":%q}`,
		lumenMACs[d], lumenSerials[d], i%2, lumenEmails[d])
	created := time.Date(2026, 11, 25, 8, 0, i, 0, time.UTC).Format(time.RFC3339)
	if i%2 == 0 {
		return id, fmt.Appendf(nil, `{"id":%q,"type":"sensor.reading","created_at":%q,%s,"reading":{"temperature_c":%.1f,"humidity_pct":%d,"motion":%v}}`,
			id, created, device, 18.5+float64(i%7), 35+i%20, i%4 == 0)
	}
	return id, fmt.Appendf(nil, `{"id":%q,"type":"sensor.battery_low","created_at":%q,%s,"battery":{"level_pct":%d}}`,
		id, created, device, 3+i%12)
}

// lumenSend posts a body as lumen-sensors' event id, signed with secret.
func lumenSend(t *testing.T, p *bridgetest.Process, secret, id string, body []byte) bridgetest.Response {
	t.Helper()
	pol, problems := policy.Parse("lumen-sensors.yaml", []byte(lumenPolicy))
	if pol == nil {
		t.Fatalf("lumen policy: %v", problems)
	}
	s := bridgetest.Sender{Vendor: "lumen-sensors", Auth: pol.Auth, Secret: secret}
	sg := s.Sign(t, id, body, time.Now(), "")
	return p.Post(sg.Path, sg.Header, body)
}

// TestOnboardLearnDraftLive walks a new sender through onboarding on the real binary: learn mode
// from 30 verified events of two types (bad-signature events teach nothing), `hookbridge draft`
// while the bridge runs and again while it is stopped (the same draft), `hookbridge check` on the
// draft (its placeholders warned of, shown as missing in the inventory), a person's edit listing
// fields, shadow mode with the edited files, then live: the learnt events are accepted and
// published, an event whose field changed type is refused. No canary value fed in appears in the
// store, the logs, the admin API, the status page, the draft or on MQTT.
func TestOnboardLearnDraftLive(t *testing.T) {
	work := t.TempDir()
	learnPolicies := filepath.Join(work, "learn-policies")
	writeFile(t, filepath.Join(learnPolicies, "lumen-sensors.yaml"), lumenPolicy)

	o := options.Defaults()
	o.PseudonymKey = bridgetest.PseudonymKey
	o.LogLevel = "debug"
	lumen := options.VendorDefaults()
	lumen.Name, lumen.Secrets, lumen.Mode, lumen.RatePerMinute = "lumen-sensors", []string{lumenSecret}, options.ModeLearn, 100_000
	o.Vendors = []options.Vendor{lumen}
	o.Devices = []options.Device{{Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Allow: []string{}}}
	p := bridgetest.NewProcessPolicies(t, &o, learnPolicies)
	optionsFile := filepath.Join(p.Dir, "options.json")

	// Going live without schema and routes: a clear error naming the vendor, and no start.
	t.Run("live without schema refused", func(t *testing.T) {
		live := o
		live.Vendors = []options.Vendor{lumen}
		live.Vendors[0].Mode = options.ModeLive
		refusedOpts := filepath.Join(work, "live-options.json")
		if err := app.WriteOptions(refusedOpts, &live); err != nil {
			t.Fatal(err)
		}
		code, out := runServeBriefly(t, "--options", refusedOpts, "--data", filepath.Join(work, "refused-data"), "--policies", learnPolicies)
		if code == 0 || !strings.Contains(out, "vendors[0].mode: vendor lumen-sensors cannot run in mode live") ||
			!strings.Contains(out, "has no schema and no routes") || !strings.Contains(out, "hookbridge draft lumen-sensors") {
			t.Fatalf("serve with mode live and no schema: exit %d, output\n%s\nwant a non-zero exit naming the vendor, what is missing and the draft command", code, out)
		}
	})

	p.Start()
	sub := bridgetest.Subscribe(t, p.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "onboard-ha", true, "hookbridge/#")

	// Learn from 30 events of two types; a resend is a duplicate; forged events teach nothing.
	var tokens []string
	for i := range 30 {
		id, body := lumenEvent(i)
		r := lumenSend(t, p, lumenSecret, id, body)
		if r.Status != 202 || r.Body["status"] != "accepted" {
			t.Fatalf("learn event %d: %d %s, want 202 accepted", i, r.Status, r.Raw)
		}
		tokens = append(tokens, r.Body["event"].(string))
	}
	if id, body := lumenEvent(4); true {
		if r := lumenSend(t, p, lumenSecret, id, body); r.Status != 200 || r.Body["status"] != "duplicate" {
			t.Fatalf("learn event resent: %d %s, want 200 duplicate", r.Status, r.Raw)
		}
	}
	for i := range 10 {
		id := fmt.Sprintf("evt_forged_%d", i)
		body := fmt.Appendf(nil, `{"id":%q,"type":"forged.type","forged_field":{"x":%d},"reading":{"temperature_c":"hot"}}`, id, i)
		if r := lumenSend(t, p, "whsec_Zm9yZ2VkLXNlY3JldC1ub3QtdGhlLXZlbmRvcnM=", id, body); r.Status != 401 {
			t.Fatalf("forged event: %d %s, want 401", r.Status, r.Raw)
		}
	}
	var learnt admin.Learnt
	if r := bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/vendors/lumen-sensors/learnt", nil, nil); r.Status != 200 {
		t.Fatalf("GET learnt: %d %s", r.Status, r.Raw)
	} else if err := json.Unmarshal([]byte(r.Raw), &learnt); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, f := range learnt.Fields {
		fields[f.Pointer] = true
		if f.Pointer == "/reading/temperature_c" && !slices.Equal(f.Types, []string{"number"}) {
			t.Errorf("learnt /reading/temperature_c types %v, want [number]: a forged event taught it a string", f.Types)
		}
	}
	if learnt.Events != 30 || len(learnt.Types) != 2 || fields["/forged_field"] || fields["/forged_field/x"] || !fields["/device/mac"] {
		t.Errorf("learnt %d events, types %v, fields %v; want 30 events of 2 types, /device/mac, nothing forged", learnt.Events, learnt.Types, fields)
	}

	// The status page lists the learnt fields with counts, and the draft command.
	page := bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/", nil, nil).Raw
	for _, want := range []string{`<dd data-field="mode">learn</dd>`, `<span data-field="learnt-events">30</span>`,
		`hookbridge draft lumen-sensors --out DIR`, `<code>/reading/humidity_pct</code>`, `<dd class="bad" data-field="missing">owner, contact`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}

	// Draft while the bridge runs (its admin API), then while it is stopped (the store).
	running := filepath.Join(work, "draft-running")
	out, took := runCLI(t, 0, "draft", "lumen-sensors", "--out", running, "--options", optionsFile, "--data", p.Dir,
		"--admin-addr", p.AdminAddr, "--policies", learnPolicies)
	if !strings.Contains(out, "from the running bridge") || !strings.Contains(out, "owner is TODO") {
		t.Errorf("draft (running) output:\n%s\nwant it to say where the draft came from and what check will warn of", out)
	}
	t.Logf("hookbridge draft against the running bridge: %v (the command line), %s", took, draftTime(out))
	invRunning := inventory(t, p)["lumen-sensors"]
	if _, err := p.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped := filepath.Join(work, "draft-stopped")
	out, _ = runCLI(t, 0, "draft", "lumen-sensors", "--out", stopped, "--options", optionsFile, "--data", p.Dir,
		"--admin-addr", p.AdminAddr, "--policies", learnPolicies)
	if !strings.Contains(out, "from the stored state") {
		t.Errorf("draft (stopped) output:\n%s\nwant it to read the stored state", out)
	}
	for _, rel := range []string{"policies/lumen-sensors.yaml", "schemas/lumen-sensors/v1.json"} {
		a, _ := os.ReadFile(filepath.Join(running, rel))
		b, _ := os.ReadFile(filepath.Join(stopped, rel))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: the stopped bridge's draft differs from the running one's (or is empty):\n%s\n---\n%s", rel, a, b)
		}
	}
	// Not over an existing draft without --force.
	if out, _ := runCLI(t, 1, "draft", "lumen-sensors", "--offline", "--out", stopped, "--options", optionsFile, "--data", p.Dir,
		"--policies", learnPolicies); !strings.Contains(out, "--force") {
		t.Errorf("draft over an existing one: %s, want a refusal that names --force", out)
	}
	draftPolicy := filepath.Join(stopped, "policies")
	draftSchemas := filepath.Join(stopped, "schemas")
	storeBytes, err := os.ReadFile(filepath.Join(p.Dir, "hookbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	learntBytes := learntSize(t, p.Dir)
	t.Logf("learnt structure: %d bytes stored for %d paths (%.0f bytes a path); state file %d bytes", learntBytes, len(learnt.Fields)+1,
		float64(learntBytes)/float64(len(learnt.Fields)+1), len(storeBytes))

	// The draft passes check, with warnings for its placeholders.
	out, _ = runCLI(t, 0, "check", "--options", optionsFile, "--policies", draftPolicy, "--schemas", draftSchemas)
	for _, want := range []string{"warning: owner is TODO", "warning: contact is TODO", "ok: "} {
		if !strings.Contains(out, want) {
			t.Errorf("check of the draft:\n%s\nwant %q", out, want)
		}
	}
	if !slices.Equal(invRunning.Missing, []string{"owner", "contact"}) || invRunning.Mode != "learn" {
		t.Errorf("inventory: mode %q, missing %v; want learn, [owner contact]", invRunning.Mode, invRunning.Missing)
	}

	// A person's edit: who owns it, and the fields the reading route publishes.
	policyFile := filepath.Join(draftPolicy, "lumen-sensors.yaml")
	drafted, _ := os.ReadFile(policyFile)
	edited := editLumenDraft(t, string(drafted))
	writeFile(t, policyFile, edited)
	out, _ = runCLI(t, 0, "check", "--options", optionsFile, "--policies", draftPolicy, "--schemas", draftSchemas)
	if strings.Contains(out, "owner is TODO") || strings.Contains(out, "contact is TODO") {
		t.Errorf("check of the edited draft still warns of the owner:\n%s", out)
	}

	// Shadow mode with the edited files: every event answered as live would, nothing published.
	restart := func(mode string) {
		t.Helper()
		o.Vendors[0].Mode = mode
		if err := app.WriteOptions(optionsFile, &o); err != nil {
			t.Fatal(err)
		}
		p.Options, p.Policies, p.Schemas = &o, draftPolicy, draftSchemas
		p.Start()
	}
	restart(options.ModeShadow)
	for i := range 6 {
		id, body := lumenEvent(i)
		if r := lumenSend(t, p, lumenSecret, id, body); r.Status != 202 {
			t.Fatalf("shadow event %d: %d %s, want 202", i, r.Status, r.Raw)
		}
	}
	id, changed := lumenEvent(100)
	changed = bytes.Replace(changed, []byte(`"temperature_c":20.5`), []byte(`"temperature_c":"20.5"`), 1)
	if !bytes.Contains(changed, []byte(`"temperature_c":"20.5"`)) {
		t.Fatalf("test event lacks the temperature to change: %s", changed)
	}
	if r := lumenSend(t, p, lumenSecret, id, changed); r.Status != 422 || r.Body["path"] != "/reading/temperature_c" {
		t.Errorf("shadow: an event whose temperature became a string: %d %s, want 422 at /reading/temperature_c", r.Status, r.Raw)
	}
	if _, err := p.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Live: all 30 learnt events are accepted (new: learn and shadow mode published none of
	// them) and the readings published with the listed fields only; the changed type is refused.
	restart(options.ModeLive)
	sub = bridgetest.Subscribe(t, p.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "onboard-ha-live", true, "hookbridge/#")
	for i := range 30 {
		id, body := lumenEvent(i)
		r := lumenSend(t, p, lumenSecret, id, body)
		if r.Status != 202 {
			t.Fatalf("live event %d (learnt from): %d %s, want 202: the drafted schema must accept what it learnt from", i, r.Status, r.Raw)
		}
		if r.Body["event"] != tokens[i] {
			t.Errorf("live event %d: token %v, want the same as in learn mode %s", i, r.Body["event"], tokens[i])
		}
	}
	msgs := sub.WaitCount(15)
	for _, m := range msgs {
		var payload map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &payload); err != nil {
			t.Fatalf("message %s: %v", m.Payload, err)
		}
		if !strings.HasPrefix(m.Topic, "hookbridge/lumen-sensors/sensors/") || len(payload) != 3 ||
			payload["temperature_c"] == nil || payload["motion"] == nil || payload["device"] == nil {
			t.Errorf("published %s %s, want sensors/{device}/reading with device, temperature_c and motion only", m.Topic, m.Payload)
		}
	}
	if r := lumenSend(t, p, lumenSecret, id, changed); r.Status != 422 || r.Body["path"] != "/reading/temperature_c" {
		t.Errorf("live: an event whose temperature became a string: %d %s, want 422 at /reading/temperature_c", r.Status, r.Raw)
	}
	if n := len(sub.Messages()); n != 15 {
		t.Errorf("live published %d messages, want the 15 readings", n)
	}

	// No canary anywhere: the data dir (state file, audit trail, logs), the admin API, the
	// status page, the drafts, MQTT.
	seen := map[string]string{
		"status page":     page,
		"learnt API":      mustJSON(t, learnt),
		"inventory API":   bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/vendors", nil, nil).Raw,
		"audit API":       bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/audit?since=24h", nil, nil).Raw,
		"metrics":         bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/metrics", nil, nil).Raw,
		"live status":     bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/", nil, nil).Raw,
		"draft API (now)": bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/vendors/lumen-sensors/draft", nil, nil).Raw,
		"logs":            p.Logs(),
		"MQTT":            fmt.Sprint(sub.Messages()),
	}
	for _, dir := range []string{p.Dir, running, stopped} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(path)
				seen[path] = string(data)
			}
			return nil
		})
	}
	for where, text := range seen {
		for _, c := range lumenCanaries() {
			if strings.Contains(text, c) {
				t.Errorf("%s holds the canary %q", where, c)
			}
		}
	}
}

// editLumenDraft is a person's edit of the drafted policy: an owner and a contact, and the
// reading route's topic and fields (the device as a pseudonym, the temperature, the motion)
// instead of the placeholder.
func editLumenDraft(t *testing.T, policy string) string {
	t.Helper()
	out := strings.Replace(policy, "owner: TODO", "owner: Home automation", 1)
	out = strings.Replace(out, "contact: TODO", "contact: automation@home.example", 1)
	// The reading route: from its "- when" line to the next route.
	start := strings.Index(out, `- when: "sensor.reading"`)
	if start < 0 {
		t.Fatalf("draft has no route for sensor.reading:\n%s", policy)
	}
	end := strings.Index(out[start+1:], "  - when:")
	route := out[start:]
	if end >= 0 {
		route = out[start : start+1+end]
	}
	lines := strings.Split(route, "\n")
	uncomment := regexp.MustCompile(`^(\s*)#\s+((mac|temperature_c|motion): .*?)\s+# .*$`)
	var edited []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "topic:"):
			l = "    topic: sensors/{device}/reading"
		case strings.TrimSpace(l) == "TODO: /TODO":
			continue
		}
		if m := uncomment.FindStringSubmatch(l); m != nil {
			l = m[1] + strings.Replace(m[2], "mac:", "device:", 1) // the topic's name for it
		}
		edited = append(edited, l)
	}
	newRoute := strings.Join(edited, "\n")
	for _, f := range []string{"device: {from: /device/mac, pseudonymize: true}", "temperature_c: /reading/temperature_c", "motion: /reading/motion"} {
		if !strings.Contains(newRoute, "\n      "+f) {
			t.Fatalf("edited route lacks %q (the draft's hints changed?):\n%s\n--- from the draft:\n%s", f, newRoute, route)
		}
	}
	return strings.Replace(out, route, newRoute, 1)
}

// runServeBriefly runs `hookbridge serve` with args on loopback ports and returns its exit code
// and output; a serve still running after 20 s is killed and reported as started (exit 0).
func runServeBriefly(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append([]string{"serve", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0"}, args...)
	cmd := exec.CommandContext(ctx, bridgetest.Binary(t), args...)
	cmd.Dir = bridgetest.Root(t)
	outb, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return 0, string(outb)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(outb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(outb)
}

// runCLI runs the real binary with args, fails unless it exits with want, and returns its
// output (stdout and stderr) and how long it took.
func runCLI(t *testing.T, want int, args ...string) (string, time.Duration) {
	t.Helper()
	var out bytes.Buffer
	start := time.Now()
	code := bridgetest.RunBinary(t, args, &out, &out)
	took := time.Since(start)
	if code != want {
		t.Fatalf("hookbridge %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out.String())
	}
	return out.String(), took
}

var draftTimeRE = regexp.MustCompile(`drafted \S+ from .*? in (\S+):`)

// draftTime returns what the draft command says the draft took.
func draftTime(out string) string {
	if m := draftTimeRE.FindStringSubmatch(out); m != nil {
		return "drafted in " + m[1]
	}
	return "no draft time printed"
}

// learntSize returns the bytes the state file keeps for what lumen-sensors learnt, read with the
// store closed (the bridge stopped).
func learntSize(t *testing.T, dataDir string) int {
	t.Helper()
	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data, err := st.Learnt("lumen-sensors")
	if err != nil || data == nil {
		t.Fatalf("stored learnt structure: %v, %d bytes", err, len(data))
	}
	return len(data)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
