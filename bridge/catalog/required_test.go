package catalog

import (
	"testing"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

// TestRequiredThroughIfThen: a topic field the schema requires only for some event types, with
// allOf and if/then pinning the type (OwnTracks' location and transition), is required for a
// route of that type, and not for a route of another type or of any type.
func TestRequiredThroughIfThen(t *testing.T) {
	schemaDoc := []byte(`{"type":"object","required":["_type"],"properties":{"_type":{"type":"string"},"tid":{"type":"string"},"rid":{"type":"string"}},
		"allOf":[{"if":{"properties":{"_type":{"const":"location"}}},"then":{"required":["tid"]}},
		         {"$ref":"#/$defs/transition"}],
		"$defs":{"transition":{"if":{"properties":{"_type":{"enum":["transition"]}}},"then":{"required":["rid"]}}}}`)
	for _, tt := range []struct {
		when, field string
		warn        bool
	}{
		{"location", "/tid", false},
		{"transition", "/rid", false},
		{"transition", "/tid", true},
		{"*", "/tid", true},
		{"lwt", "/tid", true},
	} {
		p := &policy.Policy{File: "t.yaml", Event: policy.Event{Type: "/_type"},
			Routes: []policy.Route{{When: tt.when, Topic: "x/{f}", Fields: policy.Fields{{Name: "f", From: tt.field}}}}}
		if got := len(requiredWarnings(p, schemaDoc)) > 0; got != tt.warn {
			t.Errorf("route %s on %s: warning %v, want %v", tt.when, tt.field, got, tt.warn)
		}
	}
}
