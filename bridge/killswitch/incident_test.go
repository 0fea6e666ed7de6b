package killswitch

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// at returns t0 plus n seconds: newAt's clock reads t0+1s, t0+2s, ... one second per call that
// may change a vendor (refused ones included).
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// moment formats a moment for comparison: "by@seconds after t0", "-" when absent.
func moment(m *Moment) string {
	if m == nil {
		return "-"
	}
	return fmt.Sprintf("%s@%g", m.By, m.At.Sub(t0).Seconds())
}

// timeline says an incident in one line: cause detected alerted contained acknowledged lifted.
func timeline(i Incident) string {
	return strings.Join([]string{i.Cause, moment(&i.Detected), moment(i.Alerted), moment(&i.Contained), moment(i.Acknowledged), moment(i.Lifted)}, " ")
}

// TestIncidentTimeline runs incidents step by step and checks each one's timeline, the
// milestones watchers saw, and the two durations.
func TestIncidentTimeline(t *testing.T) {
	type step struct {
		op   string // detected or alerted (at the given second), quarantine, disable, enable, lift, ack
		by   string
		sec  int   // for alerted: its time, in seconds after t0
		err  error // wanted error
		want string
	}
	tests := []struct {
		name       string
		steps      []step
		milestones string
		tta, ttc   float64 // of the last incident; tta < 0: not acknowledged
	}{
		{"quarantine after an alert, acknowledged, lifted", []step{
			{op: "detected", sec: -30},
			{op: "alerted", sec: -29},
			{op: "quarantine", want: "quarantine anomaly@-30 anomaly@-29 anomaly@3 - -"},
			{op: "ack", by: ByStatusPage, want: "quarantine anomaly@-30 anomaly@-29 anomaly@3 status_page@4 -"},
			{op: "ack", by: ByAPI, err: ErrNothingToAcknowledge},
			{op: "lift", by: ByAPI, want: "quarantine anomaly@-30 anomaly@-29 anomaly@3 status_page@4 api@6"},
			{op: "ack", by: ByAPI, err: ErrNothingToAcknowledge},
		}, "opened alerted acknowledged lifted", 33, 33},
		{"an alert delivered after the quarantine", []step{
			{op: "detected", sec: -10},
			{op: "quarantine", want: "quarantine anomaly@-10 - anomaly@2 - -"},
			{op: "alerted", sec: 3, want: "quarantine anomaly@-10 anomaly@3 anomaly@2 - -"},
		}, "opened alerted", -1, 12},
		{"quarantine first, alert after", []step{
			{op: "quarantine", want: "quarantine anomaly@1 - anomaly@1 - -"},
			{op: "detected", sec: 1, want: "quarantine anomaly@1 - anomaly@1 - -"},
			{op: "alerted", sec: 2, want: "quarantine anomaly@1 anomaly@2 anomaly@1 - -"},
			{op: "alerted", sec: 5, want: "quarantine anomaly@1 anomaly@2 anomaly@1 - -"},
			{op: "ack", by: ByAPI, want: "quarantine anomaly@1 anomaly@2 anomaly@1 api@5 -"},
		}, "opened alerted acknowledged", 3, 0},
		{"an alert older than the horizon is not the detection", []step{
			{op: "detected", sec: -3601},
			{op: "alerted", sec: -3601},
			{op: "quarantine", want: "quarantine anomaly@3 - anomaly@3 - -"},
		}, "opened", -1, 0},
		{"a later alert does not move the detection back", []step{
			{op: "detected", sec: -600},
			{op: "alerted", sec: -600},
			{op: "detected", sec: -60},
			{op: "alerted", sec: -60},
			{op: "disable", by: ByAPI, want: "disable anomaly@-600 anomaly@-600 api@5 api@5 -"},
			{op: "enable", by: ByMQTT, want: "disable anomaly@-600 anomaly@-600 api@5 api@5 mqtt@6"},
		}, "opened alerted lifted", 605, 605},
		{"a person's disable is acknowledged at once", []step{
			{op: "disable", by: ByAPI, want: "disable api@1 - api@1 api@1 -"},
			{op: "ack", by: ByAPI, err: ErrNothingToAcknowledge},
			{op: "disable", by: ByMQTT, want: "disable api@1 - api@1 api@1 -"},
			{op: "quarantine", want: "quarantine api@1 - api@1 api@1 -"},
			{op: "lift", by: ByAPI, want: "quarantine api@1 - api@1 api@1 api@5"},
		}, "opened lifted", 0, 0},
		{"a lift not acknowledged before acknowledges", []step{
			{op: "quarantine", want: "quarantine anomaly@1 - anomaly@1 - -"},
			{op: "lift", by: ByAPI, want: "quarantine anomaly@1 - anomaly@1 api@2 api@2"},
		}, "opened acknowledged lifted", 1, 0},
		{"nothing to acknowledge", []step{
			{op: "ack", by: ByAPI, err: ErrNothingToAcknowledge},
			{op: "alerted", sec: 0},
			{op: "ack", by: ByAPI, err: ErrNothingToAcknowledge},
		}, "", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore()
			sw := newAt(map[string]bool{"acme": true}, map[string]bool{"acme": true}, nil, store)
			var seen []string
			sw.WatchIncidents(func(v string, m Milestone, _ Incident) { seen = append(seen, string(m)) })
			for i, s := range tt.steps {
				var err error
				switch s.op {
				case "detected":
					err = sw.Detected("acme", at(s.sec))
				case "alerted":
					err = sw.Alerted("acme", at(s.sec))
				case "quarantine":
					err = sw.Quarantine("acme", "20 signature failures")
				case "disable":
					err = sw.Disable("acme", s.by, "off")
				case "enable":
					err = sw.Enable("acme", s.by)
				case "lift":
					err = sw.Lift("acme", s.by)
				case "ack":
					err = sw.Acknowledge("acme", s.by)
				}
				if !errors.Is(err, s.err) || (s.err == nil && err != nil) {
					t.Fatalf("step %d %s = %v, want %v", i, s.op, err, s.err)
				}
				if s.want != "" {
					inc, ok := sw.Incident("acme")
					if got := timeline(inc); !ok || got != s.want {
						t.Errorf("step %d %s: incident = %q, want %q", i, s.op, got, s.want)
					}
				}
			}
			if got := strings.Join(seen, " "); got != tt.milestones {
				t.Errorf("milestones = %q, want %q", got, tt.milestones)
			}
			inc, ok := sw.Incident("acme")
			if !ok {
				if tt.ttc >= 0 {
					t.Fatalf("no incident, want one")
				}
				return
			}
			if got := inc.TimeToContain().Seconds(); got != tt.ttc {
				t.Errorf("TimeToContain = %gs, want %gs", got, tt.ttc)
			}
			tta, acked := inc.TimeToAcknowledge()
			if (tt.tta >= 0) != acked || (acked && tta.Seconds() != tt.tta) {
				t.Errorf("TimeToAcknowledge = %v, %v, want %gs", tta, acked, tt.tta)
			}
		})
	}
}

// TestIncidentPersists: the timeline survives a restart (as the store keeps it), and so does the
// history; a restart whose option turns a disabled vendor on lifts its incident.
func TestIncidentPersists(t *testing.T) {
	store := newStore()
	option := map[string]bool{"acme": true, "grid": true}
	secrets := map[string]bool{"acme": true, "grid": true}
	sw := newAt(option, secrets, nil, store)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sw.Quarantine("acme", "first"))
	must(sw.Lift("acme", ByAPI))
	must(sw.Alerted("acme", at(3)))
	must(sw.Quarantine("acme", "second"))
	puts := store.puts
	called := false
	sw.Watch(func(string, State) { called = true })
	must(sw.Acknowledge("acme", ByStatusPage))
	if store.puts != puts+1 || called {
		t.Errorf("Acknowledge: %d stores, state watchers called %v; want 1 store and no state watcher", store.puts-puts, called)
	}
	must(sw.Disable("grid", ByAPI, "maintenance"))
	now := at(100)
	before, _ := sw.Timeline("acme", now)

	restarted := New(option, secrets, store.states, nil)
	after, _ := restarted.Timeline("acme", now)
	if !reflect.DeepEqual(views(after), views(before)) || len(after) != 2 {
		t.Fatalf("timeline after a restart =\n%v\nwant\n%v", views(after), views(before))
	}
	if !after[0].Open || after[1].Open || after[0].Reason != "second" || after[1].Reason != "first" {
		t.Errorf("timeline after a restart = %+v, want the open second incident, then the closed first", after)
	}
	if err := restarted.Acknowledge("acme", ByAPI); !errors.Is(err, ErrNothingToAcknowledge) {
		t.Errorf("Acknowledge after a restart = %v, want ErrNothingToAcknowledge (acknowledged before)", err)
	}
	if err := restarted.Lift("acme", ByAPI); err != nil {
		t.Fatalf("Lift after a restart: %v", err)
	}
	if inc, _ := restarted.Incident("acme"); inc.Open() || inc.Lifted.By != ByAPI {
		t.Errorf("incident after a lift = %+v, want lifted by api", inc)
	}

	// grid was disabled through the API; the user turns its option off and on again meanwhile.
	option2 := map[string]bool{"acme": true, "grid": false}
	off := New(option2, secrets, store.states, nil)
	if inc, _ := off.Incident("grid"); !inc.Open() {
		t.Errorf("grid kept off by its option: incident %+v, want still open", inc)
	}
	on := New(map[string]bool{"acme": true, "grid": true}, secrets, map[string][]byte{"grid": store.states["grid"]}, nil)
	if s, _ := on.Get("grid"); s.Mode != Disabled {
		t.Fatalf("grid with its option unchanged = %s, want still disabled", s.Mode)
	}
	raw := stored(t, State{Mode: Disabled, By: ByAPI, Option: false}) // disabled while the option was off
	raw = []byte(strings.Replace(string(raw), "}", `,"incident":{"cause":"disable","detected":{"at":"2026-01-02T03:04:06Z","by":"api"},"contained":{"at":"2026-01-02T03:04:06Z","by":"api"},"acknowledged":{"at":"2026-01-02T03:04:06Z","by":"api"}}}`, 1))
	kept := newStore()
	lifted := New(map[string]bool{"grid": true}, secrets, map[string][]byte{"grid": raw}, kept)
	if s, _ := lifted.Get("grid"); s.Mode != Enabled {
		t.Fatalf("grid after its option was turned on = %s, want enabled", s.Mode)
	}
	inc, _ := lifted.Incident("grid")
	if inc.Open() || inc.Lifted.By != ByOption {
		t.Errorf("incident of a vendor the option turned on = %+v, want lifted by option", inc)
	}
	// Stored at once: the next start sees the same lift.
	again, _ := New(map[string]bool{"grid": true}, secrets, kept.states, nil).Incident("grid")
	if again.Lifted == nil || !again.Lifted.At.Equal(inc.Lifted.At) {
		t.Errorf("incident at the next start = %+v, want lifted at %v", again, inc.Lifted.At)
	}
}

// views drops what a store does not keep exactly (monotonic clock readings) from a timeline.
func views(vs []IncidentView) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s open=%v ttc=%g tta=%v dur=%g", timeline(v.Incident), v.Open,
			v.TimeToContainSeconds, deref(v.TimeToAcknowledgeSeconds), v.DurationSeconds))
	}
	return out
}

func deref(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprint(*f)
}

// TestTimelineView: durations of an open incident run to now; of a closed one, to its lift; the
// history is newest first and capped.
func TestTimelineView(t *testing.T) {
	sw := newAt(map[string]bool{"acme": true}, map[string]bool{"acme": true}, nil, nil)
	for range HistoryLen + 5 {
		if err := sw.Disable("acme", ByAPI, "r"); err != nil {
			t.Fatal(err)
		}
		if err := sw.Enable("acme", ByAPI); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Quarantine("acme", "now"); err != nil {
		t.Fatal(err)
	}
	tl, ok := sw.Timeline("acme", at(1000))
	if !ok || len(tl) != HistoryLen+1 {
		t.Fatalf("Timeline = %d incidents, want %d", len(tl), HistoryLen+1)
	}
	open := tl[0]
	if !open.Open || open.DurationSeconds != 1000-float64(2*(HistoryLen+5)+1) || open.TimeToAcknowledgeSeconds != nil {
		t.Errorf("open incident = %s, want open, lasting until now, not acknowledged", views(tl[:1]))
	}
	last := tl[1]
	if last.Open || last.DurationSeconds != 1 || *last.TimeToAcknowledgeSeconds != 0 || !last.Lifted.At.Equal(at(2*(HistoryLen+5))) {
		t.Errorf("last closed incident = %s, want closed after 1s, acknowledged at once", views(tl[1:2]))
	}
	if _, ok := sw.Timeline("ghost", at(0)); ok {
		t.Errorf("Timeline(ghost) found")
	}
	if err := sw.Acknowledge("ghost", ByAPI); !errors.Is(err, ErrUnknownVendor) {
		t.Errorf("Acknowledge(ghost) = %v, want ErrUnknownVendor", err)
	}
}
