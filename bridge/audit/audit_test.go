package audit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/outcome"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// testKeys are the keys of every test trail.
var testKeys = func() *audit.Keys {
	k, err := audit.NewKeys([]byte("audit-test-master-key-0123456789"))
	if err != nil {
		panic(err)
	}
	return k
}()

func openLog(t *testing.T) *audit.Log {
	t.Helper()
	l, err := audit.OpenLog(t.TempDir(), testKeys)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// flush writes every buffered record.
func flush(t *testing.T, l *audit.Log) {
	t.Helper()
	if err := l.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func export(t *testing.T, s *audit.Log, f audit.Filter) []audit.Record {
	t.Helper()
	var buf bytes.Buffer
	n, err := audit.Export(&buf, s, f)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	var out []audit.Record
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var r audit.Record
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	if n != len(out) {
		t.Errorf("Export = %d, wrote %d lines", n, len(out))
	}
	return out
}

func TestRecordAndExport(t *testing.T) {
	s := openLog(t)
	rec := audit.NewRecorder(s, []string{"acme-locks", "gridwise-energy"}, 0)
	outcomes := []outcome.Outcome{
		{Vendor: "acme-locks", Token: "tok1", Status: 202, Reason: outcome.Accepted, Topics: []string{"hookbridge/acme-locks/locks/x/state"},
			Received: t0, Latency: 1500 * time.Microsecond, PublishLatency: time.Millisecond},
		{Vendor: "acme-locks", Token: "tok1", Status: 200, Reason: outcome.Duplicate, Received: t0.Add(time.Minute)},
		{Vendor: "gridwise-energy", Status: 401, Reason: outcome.BadSignature, Received: t0.Add(2 * time.Minute)},
		{Status: 404, Reason: outcome.UnknownVendor, Received: t0.Add(3 * time.Minute)},
	}
	for i := range outcomes {
		rec.Observe(&outcomes[i])
	}
	flush(t, s)

	cases := []struct {
		name   string
		filter audit.Filter
		want   []string // reason of each record
	}{
		{"all", audit.Filter{}, []string{"accepted", "duplicate", "bad_signature", "unknown_vendor"}},
		{"since", audit.Filter{Since: t0.Add(time.Minute)}, []string{"duplicate", "bad_signature", "unknown_vendor"}},
		{"vendor", audit.Filter{Vendor: "acme-locks"}, []string{"accepted", "duplicate"}},
		{"nothing", audit.Filter{Since: t0.Add(time.Hour)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range export(t, s, tc.filter) {
				got = append(got, r.Reason)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Export(%+v) reasons = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}

	first := export(t, s, audit.Filter{})[0]
	want := audit.Record{Time: t0, Vendor: "acme-locks", Event: "tok1", Status: 202, Outcome: "accepted", Reason: "accepted",
		Topics: []string{"hookbridge/acme-locks/locks/x/state"}, LatencyMS: 1.5, PublishMS: 1}
	if got, _ := json.Marshal(first); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("first record = %s, want %s", got, must(json.Marshal(want)))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestExportBatches checks that an export longer than one read batch, with many records at the
// same instant across a batch boundary, loses and repeats nothing.
func TestExportBatches(t *testing.T) {
	s := openLog(t)
	rec := audit.NewRecorder(s, []string{"v"}, 0)
	const n = 1300
	for i := range n {
		at := t0.Add(time.Duration(i/700) * time.Second) // 700 records at t0, 600 at t0+1s
		rec.Observe(&outcome.Outcome{Vendor: "v", Token: "t", Status: 202, Reason: outcome.Accepted, Received: at, Skipped: i})
	}
	flush(t, s)
	got := export(t, s, audit.Filter{})
	if len(got) != n {
		t.Fatalf("Export = %d records, want %d", len(got), n)
	}
	seen := map[int]bool{}
	for _, r := range got {
		seen[r.RoutesSkipped] = true
	}
	if len(seen) != n {
		t.Errorf("Export has %d distinct records, want %d", len(seen), n)
	}
}

// TestRefusalBudget checks that a flood of refusals is recorded up to the budget and then only
// counted, while accepted events are always recorded.
func TestRefusalBudget(t *testing.T) {
	s := openLog(t)
	rec := audit.NewRecorder(s, []string{"v"}, 60)
	for range 100 {
		rec.Observe(&outcome.Outcome{Status: 404, Reason: outcome.UnknownVendor, Received: t0})
	}
	rec.Observe(&outcome.Outcome{Vendor: "v", Status: 202, Reason: outcome.Accepted, Received: t0})
	rec.Observe(&outcome.Outcome{Status: 404, Reason: outcome.UnknownVendor, Received: t0.Add(time.Minute)})
	flush(t, s)
	got := export(t, s, audit.Filter{})
	if len(got) != 62 {
		t.Fatalf("records = %d, want 60 refusals, 1 accepted, 1 after a minute", len(got))
	}
	if last := got[len(got)-1]; last.Suppressed != 40 {
		t.Errorf("record after the flood: suppressed = %d, want 40", last.Suppressed)
	}
}

func TestPurge(t *testing.T) {
	s := openLog(t)
	rec := audit.NewRecorder(s, []string{"short", "long"}, 0)
	for _, v := range []string{"short", "long", ""} {
		for _, age := range []int{10, 3, 1} { // oldest first: a chain only grows forward
			rec.Observe(&outcome.Outcome{Vendor: v, Status: 401, Reason: outcome.BadSignature, Received: t0.Add(-time.Duration(age) * 24 * time.Hour)})
		}
	}
	flush(t, s)
	days := map[string]int{"short": 2, "long": 30, "": 7}
	n, err := s.Purge(t0, func(v string) time.Duration { return time.Duration(days[v]) * 24 * time.Hour })
	if err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v, want 3", n, err)
	}
	left := map[string]int{}
	for _, r := range export(t, s, audit.Filter{}) {
		left[r.Vendor]++
	}
	if want := map[string]int{"short": 1, "long": 3, "": 2}; left["short"] != want["short"] || left["long"] != want["long"] || left[""] != want[""] {
		t.Errorf("records left by vendor = %v, want %v", left, want)
	}
}

func TestParseSince(t *testing.T) {
	now := t0
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "2026-11-24T08:00:00Z", want: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
		{in: "yesterday", err: true},
		{in: "-5m", err: true},
		{in: "xd", err: true},
	}
	for _, tc := range cases {
		got, err := audit.ParseSince(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v, want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestLogReopen: records survive Close and a new OpenLog appends after them; a reader sees the
// writer's buffered records, and skips a line the writer has not finished.
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	rec := audit.NewRecorder(l, []string{"v"}, 0)
	rec.Observe(&outcome.Outcome{Vendor: "v", Token: "a", Status: 202, Reason: outcome.Accepted, Received: t0})
	if got := export(t, l, audit.Filter{}); len(got) != 1 {
		t.Fatalf("export before flush = %d records, want 1 (buffered ones included)", len(got))
	}
	l.Close()
	l, err = audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	audit.NewRecorder(l, []string{"v"}, 0).Observe(&outcome.Outcome{Vendor: "v", Token: "b", Status: 202, Reason: outcome.Accepted, Received: t0.Add(time.Second)})
	flush(t, l)
	// A torn last line, as a crash mid-write would leave.
	seg := filepath.Join(dir, "v", t0.Format("20060102T15")+".jsonl")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-11-25T08:00:02Z","vendor":"v","ev`)
	f.Close()
	got := export(t, audit.ReadLog(dir), audit.Filter{})
	if len(got) != 2 || got[0].Event != "a" || got[1].Event != "b" {
		t.Fatalf("export after reopen = %+v, want a then b", got)
	}
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoding is encoding/json's, byte for byte.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	recs := []audit.Record{
		{Time: t0, Status: 404, Outcome: "rejected", Reason: "unknown_vendor"},
		{Time: t0.Add(1234567 * time.Nanosecond), Vendor: "acme-locks", Event: "00ff", Status: 202, Outcome: "accepted",
			Reason: "accepted", Topics: []string{"hookbridge/acme-locks/locks/%3Cx%3E/state", `odd"<&>\` + "\x01é"},
			RoutesSkipped: 2, Unrouted: true, UnknownFields: 3, LatencyMS: 1.234, PublishMS: 0.001, Suppressed: 7},
		{Time: t0, Vendor: "v", Status: 200, Outcome: "duplicate", Reason: "duplicate", LatencyMS: 120000.5},
		{Time: t0, Vendor: "v", Event: "01", Status: 202, Outcome: "accepted", Reason: "accepted", Mode: "shadow",
			Topics: []string{"hookbridge/v/t"}, LatencyMS: 1},
	}
	for i, r := range recs {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("record %d:\nAppendJSON = %s\njson        = %s", i, got, want)
		}
	}
}
