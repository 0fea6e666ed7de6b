package admin

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// flowVendor is Acme Locks' policy, shortened: a state route with entities, publishing a
// pseudonymized device and actor, the state and the battery; a battery route without.
func flowVendor() *vendor.Vendor {
	return &vendor.Vendor{Name: "acme-locks", Mode: vendor.ModeLive, Policy: &policy.Policy{Vendor: "acme-locks", Routes: []policy.Route{
		{When: "lock.state_changed", Topic: "locks/{device}/state", Fields: policy.Fields{
			{Name: "device", From: "/data/device_id", Pseudonymize: true}, {Name: "state", From: "/data/state"},
			{Name: "battery", From: "/data/battery_pct"}, {Name: "actor", From: "/data/user/id", Pseudonymize: true}},
			Entities: policy.Entities{{Field: "state", Component: "sensor"}}},
		{When: "lock.battery_low", Topic: "locks/{device}/battery", Fields: policy.Fields{
			{Name: "device", From: "/data/device_id", Pseudonymize: true}, {Name: "battery", From: "/data/battery_pct"}}},
	}}}
}

const flowSchema = `{"properties":{"id":{},"type":{},"data":{"properties":{"device_id":{},"state":{},"battery_pct":{},
"user":{"properties":{"id":{},"name":{},"email":{}}}}}}}`

func TestDataFlow(t *testing.T) {
	aud := Audience{Broker: "embedded", HA: "supervisor", Bridged: []string{"hookbridge/acme-locks/locks/+/battery"}, Accounts: []Account{
		{Name: "hallway-panel", Read: []string{"hookbridge/acme-locks/locks/+/state"}},
		{Name: "porch-panel", Read: []string{"hookbridge/acme-locks/locks/front/#"}},
		{Name: "garage", Read: []string{"hookbridge/gridwise-energy/#"}},
		{Name: "homeassistant", Read: []string{"hookbridge/#", "homeassistant/#"}},
	}}
	df := aud.Flow("hookbridge", flowVendor(), []byte(flowSchema))
	got := map[string]FieldFlow{}
	for _, f := range df.Fields {
		got[f.Field] = f
	}
	tests := []struct {
		field     string
		treatment string
		readers   string
		ha        bool
	}{
		{"/data/device_id", FieldPseudonymized, "hallway-panel homeassistant porch-panel", true},
		{"/data/state", FieldClear, "hallway-panel homeassistant porch-panel", true},
		{"/data/battery_pct", FieldClear, "hallway-panel homeassistant porch-panel", true},
		{"/data/user/id", FieldPseudonymized, "hallway-panel homeassistant porch-panel", true},
		{"/data/user/name", FieldDropped, "", false},
		{"/data/user/email", FieldDropped, "", false},
		{"/id", FieldDropped, "", false},
	}
	for _, tc := range tests {
		f, ok := got[tc.field]
		if !ok {
			t.Errorf("field %s missing from %+v", tc.field, df.Fields)
			continue
		}
		if f.Treatment != tc.treatment || strings.Join(f.Readers, " ") != tc.readers || f.HomeAssistant != tc.ha {
			t.Errorf("field %s = %s, readers %v, home assistant %v; want %s, %s, %v", tc.field, f.Treatment, f.Readers, f.HomeAssistant, tc.treatment, tc.readers, tc.ha)
		}
	}
	state, battery := df.Topics[0], df.Topics[1]
	wantReaders := []Reader{{"hallway-panel", true}, {"porch-panel", false}, {"homeassistant", true}}
	if !reflect.DeepEqual(state.Readers, wantReaders) {
		t.Errorf("state topic readers = %+v, want %+v (all, some, all)", state.Readers, wantReaders)
	}
	if len(state.HomeAssistant) != 1 || !strings.Contains(state.HomeAssistant[0], "entities") {
		t.Errorf("state topic reaches Home Assistant by %v, want its entities", state.HomeAssistant)
	}
	if len(battery.HomeAssistant) != 1 || !strings.Contains(battery.HomeAssistant[0], "bridge_topics") {
		t.Errorf("battery topic reaches Home Assistant by %v, want bridge_topics", battery.HomeAssistant)
	}
	if r := battery.Readers; len(r) != 2 || r[0].Account != "porch-panel" || r[1].Account != "homeassistant" {
		t.Errorf("battery topic readers = %+v, want porch-panel (some) and homeassistant", r)
	}

	// Home Assistant off and nothing bridged: the same readers, nothing reaches it.
	off := aud
	off.HA, off.Bridged = "off", nil
	for _, f := range off.Flow("hookbridge", flowVendor(), []byte(flowSchema)).Fields {
		if f.HomeAssistant {
			t.Errorf("with ha_mqtt off, %s reaches Home Assistant", f.Field)
		}
	}
	// An outside broker: it decides who reads.
	ext := Audience{Broker: "supervisor", HA: AudienceHAEvents}
	xf := ext.Flow("hookbridge", flowVendor(), []byte(flowSchema))
	if xf.Topics[0].Everyone == "" || len(xf.Topics[0].Readers) != 0 || len(xf.Notes) == 0 {
		t.Errorf("outside broker topic = %+v, notes %v; want everyone that broker lets in, and a note", xf.Topics[0], xf.Notes)
	}
	for _, f := range xf.Fields {
		if f.Treatment != FieldDropped && (len(f.Readers) != 1 || f.Readers[0] != "*" || !f.HomeAssistant) {
			t.Errorf("outside broker field %+v, want read by * and Home Assistant", f)
		}
	}
	// Shadow mode says nothing is published now.
	v := flowVendor()
	v.Mode = vendor.ModeShadow
	if n := aud.Flow("hookbridge", v, nil).Notes; len(n) != 1 || !strings.Contains(n[0], "nothing is published") {
		t.Errorf("shadow notes = %v", n)
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"p/v/+/state", "p/v/front/#", true},
		{"p/v/+/state", "p/v/+/battery", false},
		{"p/v/+/state", "p/#", true},
		{"p/v/a", "p/v/a/b", false},
		{"p/v/a", "p/v/a/#", true}, // "#" matches its parent level too
		{"p/+", "p/x", true},
		{"q/x", "p/x", false},
	}
	for _, tc := range tests {
		if got := overlaps(strings.Split(tc.a, "/"), strings.Split(tc.b, "/")); got != tc.want {
			t.Errorf("overlaps(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
