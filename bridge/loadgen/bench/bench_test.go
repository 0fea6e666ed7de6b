package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/loadgen"
)

// TestBenchSmoke runs `hookbridge bench` in-process for a moment, both fsync modes, two
// subscribers and a few idle clients, and checks that the report is whole and sane, so the
// measuring harness cannot rot unnoticed.
func TestBenchSmoke(t *testing.T) {
	args := []string{"--in-process", "--json", "--dir", t.TempDir(),
		"--duration", "600ms", "--warmup", "200ms", "--rounds", "1", "--concurrency", "4", "--subscribers", "2",
		"--fsync", "both", "--idle-clients", "10", "--subs-per-client", "2", "--settle", "50ms"}
	var stdout, stderr bytes.Buffer
	fset := flag.NewFlagSet("bench", flag.ContinueOnError)
	s := Register(fset)
	if err := fset.Parse(args); err != nil {
		t.Fatal(err)
	}
	env := Env{Files: app.Files{Builtin: os.DirFS("../../..")}, Version: "test"}
	if err := s.Run(context.Background(), env, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	want := []string{"bare saturation", "bridge saturation", "bridge no-fsync saturation", "bridge paced", "bridge no-fsync paced"}
	var got []string
	for _, r := range rep.Runs {
		got = append(got, r.Server+" "+r.Mode)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("runs = %v, want %v", got, want)
	}
	for _, r := range rep.Runs {
		name := r.Server + " " + r.Mode
		if r.Accepted == 0 || r.Sent != r.Accepted || r.Errors != 0 {
			t.Errorf("%s: sent %d, accepted %d, errors %d (%s), statuses %v; want all accepted", name, r.Sent, r.Accepted, r.Errors, r.FirstError, r.Statuses)
		}
		if r.RPS <= 0 || r.Elapsed <= 0 {
			t.Errorf("%s: rps %v over %v, want positive", name, r.RPS, r.Elapsed)
		}
		benchCheckLatency(t, name+" http", r.HTTP, r.Accepted)
		if r.CPUPerEvent <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: CPU/event %v, peak RSS %d, want positive", name, r.CPUPerEvent, r.PeakRSS)
		}
		if r.Mode == "paced" && (r.TargetRate <= 0 || r.RPS > 1.5*r.TargetRate) {
			t.Errorf("%s: %v/s against a target of %v/s", name, r.RPS, r.TargetRate)
		}
		if r.Server == "bare" {
			if r.Delivery != nil {
				t.Errorf("%s: a delivery record for the bare handler", name)
			}
			continue
		}
		if r.Delivery == nil {
			t.Fatalf("%s: no delivery record", name)
		}
		if r.Commits <= 0 || r.Dropped != 0 {
			t.Errorf("%s: %d store commits, %d broker drops; want some commits, no drops", name, r.Commits, r.Dropped)
		}
		for i, n := range r.Delivery.Received {
			if n != r.Accepted {
				t.Errorf("%s: subscriber %d received %d events, want %d (the accepted ones)", name, i, n, r.Accepted)
			}
		}
		if len(r.Delivery.Received) != 2 || r.Delivery.Missing != 0 || r.Duplicates != 0 || r.Unknown != 0 {
			t.Errorf("%s: delivery %+v, duplicates %d, unknown %d; want 2 subscribers, none missing", name, r.Delivery, r.Duplicates, r.Unknown)
		}
		benchCheckLatency(t, name+" end-to-end", r.Delivery.Latency, 2*r.Accepted)
	}
	if len(rep.Idle) != 2 {
		t.Fatalf("idle results = %d, want one per bridge", len(rep.Idle))
	}
	for _, idle := range rep.Idle {
		if idle.Clients != 10 || idle.RSSBefore <= 0 || idle.RSSAfter <= 0 || idle.GoAfter == nil || idle.GoAfter.Goroutines <= idle.GoBefore.Goroutines {
			t.Errorf("idle clients on %s: %+v, want 10 clients, memory read, more goroutines after", idle.Server, idle)
		}
	}
	if len(rep.Summary) < 6 {
		t.Errorf("summary has %d lines, want the ratio, latency, RSS, durability, idle and delivery lines", len(rep.Summary))
	}
	// The text report renders the same runs.
	var text bytes.Buffer
	rep.print(&text)
	if !strings.Contains(text.String(), "bridge no-fsync") || !strings.Contains(text.String(), "durability cost") {
		t.Errorf("text report lacks runs or summary:\n%s", text.String())
	}
}

func benchCheckLatency(t *testing.T, name string, l loadgen.Latency, n int) {
	t.Helper()
	if l.N != n || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max > time.Minute {
		t.Errorf("%s latency = %+v over %d samples, want %d samples with 0 < p50 <= p99 <= max < 1m", name, l, l.N, n)
	}
}
