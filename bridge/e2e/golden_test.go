package e2e_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden from what the bridge does now")

// goldenCase is one file under testdata/golden: a signed request in, the exact messages out.
type goldenCase struct {
	Vendor   string          `json:"vendor"`
	Payload  string          `json:"payload"`            // under testdata/
	EventID  string          `json:"event_id,omitempty"` // for the scheme's id header; default: the payload's own id
	Status   int             `json:"status"`
	Messages []goldenMessage `json:"messages"`
}

type goldenMessage struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
	QoS     byte            `json:"qos"`
	// Retain is whether the broker holds the message as its topic's retained message afterwards.
	Retain bool `json:"retain"`
}

// TestGolden sends each golden request to a running bridge and compares the status, topics, payloads,
// QoS and retained state with the file. Run with -update to rewrite the files.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(bridgetest.Path(t, "testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	ta := bridgetest.Start(t, "", nil)
	sub := bridgetest.SubscribeLive(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "golden-ha", "hookbridge/+/#")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var gc goldenCase
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&gc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			body := bridgetest.ReadTestdata(t, gc.Payload)
			id := gc.EventID
			if id == "" {
				id = app.EventID(ta.Policy(gc.Vendor), body)
			}
			before := len(sub.Messages())
			r := ta.Post("/hooks/"+gc.Vendor, ta.Sign(gc.Vendor, id, body, time.Now()), body)
			var got []goldenMessage
			if r.Status == 202 {
				want := len(gc.Messages)
				if *update {
					want = len(lastTopics(ta, gc.Vendor))
				}
				for _, m := range sub.WaitCount(before + want)[before:] {
					got = append(got, goldenMessage{Topic: m.Topic, Payload: json.RawMessage(m.Payload), QoS: m.QoS})
				}
			}
			retained := ta.Broker().Server().Topics.Retained.GetAll()
			for i := range got {
				pk, ok := retained[got[i].Topic]
				got[i].Retain = ok && string(pk.Payload) == string(got[i].Payload)
			}
			if *update {
				gc.Status, gc.Messages = r.Status, got
				out, _ := json.MarshalIndent(gc, "", "  ")
				if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if r.Status != gc.Status {
				t.Fatalf("status = %d, want %d (body %s)", r.Status, gc.Status, r.Raw)
			}
			var wantTopics []string
			for _, m := range gc.Messages {
				wantTopics = append(wantTopics, m.Topic)
			}
			if r.Status == 202 && strings.Join(lastTopics(ta, gc.Vendor), " ") != strings.Join(wantTopics, " ") {
				t.Errorf("published topics (log) = %v, want %v", lastTopics(ta, gc.Vendor), wantTopics)
			}
			if len(got) != len(gc.Messages) {
				t.Fatalf("got %d messages, want %d: %+v", len(got), len(gc.Messages), got)
			}
			for i, want := range gc.Messages {
				g := got[i]
				var wb, gb bytes.Buffer
				_ = json.Compact(&wb, want.Payload)
				_ = json.Compact(&gb, g.Payload)
				if g.Topic != want.Topic || wb.String() != gb.String() || g.QoS != want.QoS || g.Retain != want.Retain {
					t.Errorf("message %d = %s %s qos %d retain %v,\nwant      %s %s qos %d retain %v",
						i, g.Topic, gb.String(), g.QoS, g.Retain, want.Topic, wb.String(), want.QoS, want.Retain)
				}
			}
		})
	}
}

// lastTopics returns the topics the last accepted webhook of a vendor published, from the log.
func lastTopics(ta *bridgetest.Instance, vendor string) []string {
	type record struct {
		Message string   `json:"message"`
		Vendor  string   `json:"vendor"`
		Status  int      `json:"status"`
		Topics  []string `json:"topics"`
	}
	var topics []string
	for _, rec := range bridgetest.LogEntries[record](ta.Logs.String()) {
		if rec.Message == "webhook" && rec.Vendor == vendor && rec.Status == 202 {
			topics = rec.Topics
		}
	}
	return topics
}
