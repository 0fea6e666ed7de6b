package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
)

// actions exports the trail's Action records.
func actions(t *testing.T, l *audit.Log) []audit.Action {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(&buf, l, audit.Filter{Actions: true}); err != nil {
		t.Fatal(err)
	}
	var out []audit.Action
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.Contains(line, `"kind"`) {
			continue
		}
		var a audit.Action
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("action line %q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

// summary is an action in short: kind vendor what digest [was].
func summary(a audit.Action) string {
	s := a.Kind + " " + a.Vendor + " " + a.What
	if a.Digest != "" {
		s += " " + a.Digest
	}
	if a.Was != "" {
		s += " was " + a.Was
	}
	return s
}

// TestNoteConfig: the first start records every vendor's policy, schema and secrets; a start with
// nothing changed records nothing; then each kind of change is recorded once, by digest, and the
// secret itself (or its plain hash) appears nowhere in the trail's files.
func TestNoteConfig(t *testing.T) {
	const (
		oldSecret = "whsec_b2xkLXNlY3JldC1jYW5hcnktMDEyMzQ1Njc4OQ"
		newSecret = "whsec_bmV3LXNlY3JldC1jYW5hcnktMDEyMzQ1Njc4OQ"
	)
	dig := func(v, s string) string { return testKeys.SecretDigest(v, s) }
	dir := t.TempDir()
	// Each start at a minute of its own: an export is in time order.
	start := func(at time.Time, cfg map[string]audit.VendorConfig) []string {
		t.Helper()
		l, err := audit.OpenLog(dir, testKeys)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		before := len(actions(t, l))
		n, err := l.NoteConfig(at, cfg)
		if err != nil {
			t.Fatalf("NoteConfig: %v", err)
		}
		var got []string
		for _, a := range actions(t, l)[before:] {
			if a.By != audit.ByHookbridge {
				t.Errorf("%s: by %q, want %q", summary(a), a.By, audit.ByHookbridge)
			}
			got = append(got, summary(a))
		}
		if n != len(got) {
			t.Errorf("NoteConfig = %d, wrote %d records", n, len(got))
		}
		return got
	}
	first := map[string]audit.VendorConfig{
		"acme-locks":      {Policy: "p1", Schema: "s1", Secrets: []string{dig("acme-locks", oldSecret)}},
		"gridwise-energy": {Policy: "g1"},
	}
	steps := []struct {
		name string
		cfg  map[string]audit.VendorConfig
		want []string
	}{
		{"first start", first, []string{
			"policy acme-locks first_seen p1", "schema acme-locks first_seen s1",
			"secret acme-locks first_seen " + dig("acme-locks", oldSecret), "policy gridwise-energy first_seen g1"}},
		{"same again", first, nil},
		{"rotation begins", map[string]audit.VendorConfig{
			"acme-locks":      {Policy: "p1", Schema: "s1", Secrets: []string{dig("acme-locks", newSecret), dig("acme-locks", oldSecret)}},
			"gridwise-energy": {Policy: "g1"},
		}, []string{"secret acme-locks added " + dig("acme-locks", newSecret)}},
		{"rotation ends, policy and schema changed, a vendor replaced", map[string]audit.VendorConfig{
			"acme-locks":      {Policy: "p2", Schema: "s2", Secrets: []string{dig("acme-locks", newSecret)}},
			"porchlight-cams": {Policy: "c1"},
		}, []string{
			"policy acme-locks changed p2 was p1", "schema acme-locks changed s2 was s1",
			"secret acme-locks removed " + dig("acme-locks", oldSecret),
			"vendor gridwise-energy removed", "vendor porchlight-cams added", "policy porchlight-cams added c1"}},
	}
	for i, s := range steps {
		got := start(t0.Add(time.Duration(i)*time.Minute), s.cfg)
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Errorf("%s: records =\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
	}
	if r := verify(t, dir); !r.OK {
		t.Errorf("Verify = %+v, want OK", r)
	}
	// The canary: no secret, and no plain hash of one, in any file of the trail.
	for _, secret := range []string{oldSecret, newSecret} {
		plain := sha256.Sum256([]byte(secret))
		for _, bad := range []string{secret, strings.TrimPrefix(secret, "whsec_"), hex.EncodeToString(plain[:]), hex.EncodeToString(plain[:16])} {
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(bad)) {
					t.Errorf("%s holds %q", path, bad)
				}
				return nil
			})
		}
	}
}

// TestNote: an action is written through (on disk before Note returns), sealed in its vendor's
// chain, exported only when asked for, and refused without a kind or what happened.
func TestNote(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := audit.Action{Time: t0, Kind: audit.KindKillSwitch, Vendor: "acme-locks", By: "api", What: "disabled", Detail: "disabled through the admin API"}
	if err := l.Note(a); err != nil {
		t.Fatalf("Note: %v", err)
	}
	data, err := os.ReadFile(segPath(dir, "acme-locks", hour0))
	if err != nil || !bytes.Contains(data, []byte(`"kind":"killswitch"`)) || !bytes.Contains(data, []byte(`"seq":1,"mac":"`)) {
		t.Fatalf("segment after Note = %q, %v, want the sealed record on disk", data, err)
	}
	if r, err := audit.Verify(dir, testKeys); err != nil || !r.OK || r.Records != 1 {
		t.Fatalf("Verify = %+v, %v, want OK with 1 record", r, err)
	}
	var buf bytes.Buffer
	if n, _ := audit.Export(&buf, l, audit.Filter{}); n != 0 {
		t.Errorf("Export without Actions = %d records %q, want none", n, buf.String())
	}
	got := actions(t, l)
	if len(got) != 1 || summary(got[0]) != "killswitch acme-locks disabled" || got[0].Detail != a.Detail || !got[0].Time.Equal(t0) {
		t.Errorf("exported actions = %+v, want %+v", got, a)
	}
	for _, bad := range []audit.Action{{Kind: audit.KindAdmin}, {What: "x"}} {
		if err := l.Note(bad); !errors.Is(err, audit.ErrAction) {
			t.Errorf("Note(%+v) = %v, want ErrAction", bad, err)
		}
	}
	l.Close()
	if err := l.Note(a); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Note after Close = %v, want ErrClosed", err)
	}
}

// TestExportHidesChain: an export of checkpoints never carries the chain's MACs or seqs.
func TestExportHidesChain(t *testing.T) {
	dir := buildTrail(t)
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Purge(t0.Add(30*24*time.Hour), func(string) time.Duration { return 24 * time.Hour }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := audit.Export(&buf, l, audit.Filter{Actions: true}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"kind":"purge"`) || !strings.Contains(out, `"purged":12`) {
		t.Errorf("export = %s, want the acme-locks checkpoint with 12 records purged", out)
	}
	for _, bad := range []string{`"mac"`, `"seq"`, `"last_mac"`, `"last_seq"`} {
		if strings.Contains(out, bad) {
			t.Errorf("export holds %s: %s", bad, out)
		}
	}
}
