package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	files, err := filepath.Glob(testRoot + "/testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	ta := startTestApp(t, "", nil)
	sub := newLiveSubscriber(t, ta.mqttAddr, "homeassistant", haPassword, "golden-ha", "hookbridge/+/#")
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
			body := readTestdata(t, gc.Payload)
			id := gc.EventID
			if id == "" {
				id = EventID(ta.vendors[gc.Vendor].Policy, body)
			}
			before := len(sub.messages())
			r := ta.post("/hooks/"+gc.Vendor, signed(t, ta, gc.Vendor, id, body, time.Now()), body)
			var got []goldenMessage
			if r.status == 202 {
				want := len(gc.Messages)
				if *update {
					want = len(ta.lastTopics(t, gc.Vendor))
				}
				for _, m := range sub.waitCount(before + want)[before:] {
					got = append(got, goldenMessage{Topic: m.Topic, Payload: json.RawMessage(m.Payload), QoS: m.QoS})
				}
			}
			retained := ta.broker.Server().Topics.Retained.GetAll()
			for i := range got {
				pk, ok := retained[got[i].Topic]
				got[i].Retain = ok && string(pk.Payload) == string(got[i].Payload)
			}
			if *update {
				gc.Status, gc.Messages = r.status, got
				out, _ := json.MarshalIndent(gc, "", "  ")
				if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if r.status != gc.Status {
				t.Fatalf("status = %d, want %d (body %s)", r.status, gc.Status, r.raw)
			}
			var wantTopics []string
			for _, m := range gc.Messages {
				wantTopics = append(wantTopics, m.Topic)
			}
			if r.status == 202 && strings.Join(ta.lastTopics(t, gc.Vendor), " ") != strings.Join(wantTopics, " ") {
				t.Errorf("published topics (log) = %v, want %v", ta.lastTopics(t, gc.Vendor), wantTopics)
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
func (ta *testApp) lastTopics(t *testing.T, vendor string) []string {
	t.Helper()
	var topics []string
	for _, line := range strings.Split(ta.logs.String(), "\n") {
		var rec struct {
			Message string   `json:"message"`
			Vendor  string   `json:"vendor"`
			Status  int      `json:"status"`
			Topics  []string `json:"topics"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "webhook" && rec.Vendor == vendor && rec.Status == 202 {
			topics = rec.Topics
		}
	}
	return topics
}
