package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// TestLogsNoClientID: devices choose their client ids and one can be personal (a phone's name),
// so no log line, the broker's own or its MQTT library's (through the slog adapter), holds one:
// they hold the account and a keyed digest, the same for one session all through a run. The
// broker logs at debug level here, and a canary client id goes through every path that logs a
// client: refused SUBSCRIBE and UNSUBSCRIBE, a refused retained message, a full session queue,
// a malformed packet, a refused login, a takeover, another account using the same id, and the
// operator dropping the session.
func TestLogsNoClientID(t *testing.T) {
	const canary = "Janes-iPhone-canary"
	logs := &syncBuffer{}
	b := newTestBroker(t, Options{Store: openStore(t), Log: zerolog.New(logs).Level(zerolog.DebugLevel), MaxInflight: 2,
		DeviceLimits: Limits{Filters: 2, Subscriptions: 3}, WriterLimits: Limits{RetainedMessageSize: 10}})
	o := rawmqtt.Options{Version: rawmqtt.V5, ClientID: canary, Username: devUser, Password: devPass, SessionExpiry: 600}

	c := login(t, b.Addr(), o)
	c.Subscribe(1, "p/v/a", "p/v/b", "p/v/c")                            // past Filters
	c.Subscribe(1, "p/v/a", "p/v/b")                                     // granted
	c.Subscribe(1, "p/v/c", "p/v/d")                                     // one past Subscriptions
	c.Unsubscribe("p/v/x", "p/v/y", "p/v/z")                             // past Filters
	c.Write([]byte{0x82, 11, 0, 0, 0, 0, 5, 'p', '/', 'v', '/', 'e', 1}) // SUBSCRIBE with packet id 0: malformed
	c.Closed(2 * time.Second)
	for i := range 4 { // the offline session's queue holds 2
		b.PublishPlain("p/v/a", []byte(fmt.Sprint(i)), false, 1)
	}
	c = login(t, b.Addr(), o) // resumes, then is taken over
	login(t, b.Addr(), o)     // takes it over
	connack(t, b.Addr(), rawmqtt.Options{ClientID: canary, Username: devUser, Password: "wrong", Clean: true})
	login(t, b.Addr(), rawmqtt.Options{ClientID: canary, Username: dev2User, Password: dev2Pass, Clean: true})
	ha := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: canary, Username: haUser, Password: haPass, Clean: true})
	publishAck(t, ha, 1, "ha/big", []byte("larger than ten bytes"), 1)
	v3 := login(t, b.Addr(), rawmqtt.Options{ClientID: canary + "-v3", Username: devUser, Password: devPass, Clean: true})
	v3.Unsubscribe("p/v/x", "p/v/y", "p/v/z") // closes the connection
	if n, err := b.DropSessions(devUser, canary); n != 1 || err != nil {
		t.Fatalf("DropSessions = %d, %v; want 1", n, err)
	}

	checkFor(t, 2*time.Second, func() error {
		for _, want := range []string{"subscribe refused", "subscriptions refused", "unsubscribe refused", "retained message refused",
			"client store quota reached", "error processing packet", "session taken over", "client disconnected", "sessions dropped by the operator"} {
			if !strings.Contains(logs.String(), want) {
				return fmt.Errorf("no line %q logged yet", want)
			}
		}
		return nil
	})
	ref := b.refs.of(sessionID(devUser, canary))
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "Janes") {
			t.Errorf("a log line holds the client id: %s", line)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if _, ok := fields["client"]; ok {
			t.Errorf("a log line has a client key: %s", line)
		}
		if strings.Contains(line, "sessions dropped") && fields["client_ref"] != ref {
			t.Errorf("the drop's line: client_ref = %v, want the session's %s", fields["client_ref"], ref)
		}
	}
	if !strings.Contains(logs.String(), `"client_ref":"`+ref+`"`) {
		t.Errorf("no line names the session by its ref %s", ref)
	}
}

// TestSlogAdapter: the slog adapter writes attributes as zerolog fields under their group, a
// "client" as the account and its ref, and never a packet or a Will.
func TestSlogAdapter(t *testing.T) {
	var buf bytes.Buffer
	refs := newClientRefs()
	log := newSlog(zerolog.New(&buf), refs, newLogLimiter(0))
	for _, c := range []struct {
		name string
		log  func()
		want map[string]any
	}{
		{"session id", func() { log.Warn("m", "client", sessionID("dev", "phone"), "remote", "1.2.3.4:5") },
			map[string]any{"level": "warn", "message": "m", "account": "dev", "client_ref": refs.of(sessionID("dev", "phone")), "remote": "1.2.3.4:5"}},
		{"raw client id", func() { log.Info("m", "client", "phone") },
			map[string]any{"level": "info", "message": "m", "client_ref": refs.of("phone")}},
		{"payloads", func() { log.Error("m", "packet", "p", "pk", "p", "will", "w", "error", fmt.Errorf("boom")) },
			map[string]any{"level": "error", "message": "m", "error": "boom"}},
		{"group", func() { log.WithGroup("g").Debug("m", "client", "phone", "n", 1) },
			map[string]any{"level": "debug", "message": "m", "g.client_ref": refs.of("phone"), "g.n": float64(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			c.log()
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%q: %v", buf.String(), err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("logged %v, want %v", got, c.want)
			}
		})
	}
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug not enabled on a debug logger")
	}
}

// TestSlogAdapterThrottles: a warning or error from the library is written at most once a minute
// per message and account; debug and info lines are not held back.
func TestSlogAdapterThrottles(t *testing.T) {
	var buf bytes.Buffer
	log := newSlog(zerolog.New(&buf), newClientRefs(), newLogLimiter(time.Minute))
	for range 3 {
		log.Warn("client store quota reached", "client", sessionID("dev", "a"))
		log.Warn("client store quota reached", "client", sessionID("dev", "b"))
		log.Warn("client store quota reached", "client", sessionID("dev2", "a"))
		log.Error("error processing packet", "client", sessionID("dev", "a"))
		log.Debug("client disconnected", "client", sessionID("dev", "a"))
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var f map[string]any
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprint(f["message"], "/", f["account"])]++
	}
	want := map[string]int{"client store quota reached/dev": 1, "client store quota reached/dev2": 1,
		"error processing packet/dev": 1, "client disconnected/dev": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines written = %v, want %v", got, want)
	}
}
