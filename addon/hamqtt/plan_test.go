package hamqtt

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/addon/supervisor"
	"github.com/hookbridge/hookbridge/bridge/acl"
)

// TestBridgePlan checks how ha_mqtt and bridge_topics resolve against the broker mode and what the
// Supervisor offers, without starting anything.
func TestBridgePlan(t *testing.T) {
	offer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ok := offer(200, `{"result":"ok","data":{"host":"core-mosquitto","port":1883,"ssl":false,"username":"addons","password":"secret"}}`)
	forbidden := offer(403, `{"result":"error","message":"No access to mqtt service!"}`)
	noBroker := offer(400, `{"result":"error","message":"Service not enabled"}`)
	tests := []struct {
		name      string
		url       string // the Supervisor; "" = no Supervisor (no token)
		broker    string
		haMQTT    string
		bridge    []string
		wantHA    Target
		wantLink  bool   // a connection of its own to the Supervisor's broker
		wantFwd   bool   // bridge_topics forwarded
		wantErr   string // part of the start error
		wantLog   string // part of the log
		wantNoLog string
	}{
		{name: "auto, no Supervisor", broker: "embedded", haMQTT: "auto", wantHA: Embedded, wantNoLog: "reason"},
		{name: "auto, service offered", url: ok, broker: "embedded", haMQTT: "auto", wantHA: Supervisor, wantLink: true},
		{name: "auto, service not declared", url: forbidden, broker: "embedded", haMQTT: "auto", wantHA: Embedded, wantLog: "services: [mqtt:want]"},
		{name: "auto, no broker app", url: noBroker, broker: "embedded", haMQTT: "auto", wantHA: Embedded, wantLog: "install and start the Mosquitto broker app"},
		{name: "supervisor, offered", url: ok, broker: "embedded", haMQTT: "supervisor", wantHA: Supervisor, wantLink: true},
		{name: "supervisor, not declared", url: forbidden, broker: "embedded", haMQTT: "supervisor", wantErr: "ha_mqtt: supervisor: "},
		{name: "supervisor, no Supervisor", broker: "embedded", haMQTT: "supervisor", wantErr: "SUPERVISOR_TOKEN"},
		{name: "supervisor, no broker app yet", url: noBroker, broker: "embedded", haMQTT: "supervisor", wantHA: Supervisor, wantLink: true, wantLog: "asking again"},
		{name: "embedded", url: ok, broker: "embedded", haMQTT: "embedded", wantHA: Embedded},
		{name: "off", url: ok, broker: "embedded", haMQTT: "off", wantHA: Off},
		{name: "off with bridge_topics", url: ok, broker: "embedded", haMQTT: "off", bridge: []string{"a/#"}, wantHA: Off, wantLink: true, wantFwd: true},
		{name: "bridge_topics, auto, offered", url: ok, broker: "embedded", haMQTT: "auto", bridge: []string{"a/#"}, wantHA: Supervisor, wantLink: true, wantFwd: true},
		{name: "bridge_topics, no Supervisor", broker: "embedded", haMQTT: "auto", bridge: []string{"a/#"}, wantHA: Embedded, wantLog: "bridge_topics are not forwarded"},
		{name: "outside broker, auto", url: ok, broker: "supervisor", haMQTT: "auto", wantHA: Events},
		{name: "outside broker, supervisor", url: ok, broker: "supervisor", haMQTT: "supervisor", wantHA: Events},
		{name: "external broker, supervisor", url: ok, broker: "external", haMQTT: "supervisor", wantHA: Supervisor, wantLink: true},
		{name: "outside broker, embedded", url: ok, broker: "external", haMQTT: "embedded", wantErr: "ha_mqtt: embedded needs broker: embedded"},
		{name: "outside broker, bridge_topics", url: ok, broker: "supervisor", haMQTT: "auto", bridge: []string{"a/#"}, wantErr: "bridge_topics: forwarding works with broker: embedded only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(supervisor.TokenEnv, "")
			if tt.url != "" {
				t.Setenv(supervisor.TokenEnv, "token")
				t.Setenv(supervisor.URLEnv, tt.url)
			}
			o := options.Defaults()
			o.Broker, o.HAMQTT, o.BridgeTopics = tt.broker, tt.haMQTT, tt.bridge
			var logs bytes.Buffer
			p, err := NewPlan(context.Background(), &o, zerolog.New(&logs))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewPlan() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPlan() error = %v", err)
			}
			if p.HA != tt.wantHA || (p.Resolve != nil) != tt.wantLink || (len(p.Filters) > 0) != tt.wantFwd {
				t.Errorf("NewPlan() = ha %s, own link %v, forward %v; want %s, %v, %v", p.HA, p.Resolve != nil, len(p.Filters) > 0, tt.wantHA, tt.wantLink, tt.wantFwd)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log = %q, want it to say %q", logs.String(), tt.wantLog)
			}
			if tt.wantNoLog != "" && strings.Contains(logs.String(), tt.wantNoLog) {
				t.Errorf("log = %q, want it silent", logs.String())
			}
			if strings.Contains(logs.String(), "secret") {
				t.Errorf("log shows the broker's password: %s", logs.String())
			}
		})
	}
}

// TestBridgeEchoes lists the topics the relay never forwards, whatever bridge_topics say.
func TestBridgeEchoes(t *testing.T) {
	tests := []struct {
		prefix, topic string
		want          bool
	}{
		{"hookbridge", "hookbridge/_switch/acme-locks/set", true},
		{"hookbridge", "hookbridge/_ha/availability", true},
		{"hookbridge", "hookbridge/acme-locks/locks/x/state", false},
		{"homeassistant", "homeassistant/status", true},
		{"homeassistant", "homeassistant/switch/hookbridge/acme-locks_webhooks/config", true},
		{"homeassistant", "homeassistant/acme-locks/locks/x/state", false},
		{"homeassistant", "homeassistant/_switch/acme-locks/set", true},
	}
	for _, tt := range tests {
		if got := Echoes(tt.prefix, tt.topic); got != tt.want {
			t.Errorf("Echoes(%q, %q) = %v, want %v", tt.prefix, tt.topic, got, tt.want)
		}
	}
}

// admitOnly is a Forwarded that admits the topics it lists.
type admitOnly map[string]bool

func (a admitOnly) Filters() []string       { return []string{"hookbridge/acme-locks/locks/+/state"} }
func (a admitOnly) Admit(topic string) bool { return a[topic] }

// TestBridgeForwards: what the relay forwards of the messages its subscriptions match: an entity
// topic only when admitted (a topic past the device cap is not), a bridge_topics topic always,
// Hookbridge's own topics never.
func TestBridgeForwards(t *testing.T) {
	bridged := acl.NewFilters("hookbridge/gridwise-energy/#")
	ents := admitOnly{"hookbridge/acme-locks/locks/a/state": true}
	tests := []struct {
		ents  Forwarded
		topic string
		want  bool
	}{
		{ents, "hookbridge/acme-locks/locks/a/state", true},
		{ents, "hookbridge/acme-locks/locks/past-the-cap/state", false},
		{ents, "hookbridge/gridwise-energy/energy/tariff", true},
		{ents, "hookbridge/_switch/acme-locks/set", false},
		{nil, "hookbridge/gridwise-energy/energy/tariff", true},
		{nil, "hookbridge/_ha/availability", false},
	}
	for _, tt := range tests {
		if got := forwards("hookbridge", bridged, tt.ents, tt.topic); got != tt.want {
			t.Errorf("forwards(%q, entities %v) = %v, want %v", tt.topic, tt.ents != nil, got, tt.want)
		}
	}
}
