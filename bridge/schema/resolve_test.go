package schema_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/schema"
)

func TestResolveLocal(t *testing.T) {
	var root any
	if err := json.Unmarshal([]byte(`{"$defs":{"a/b":{"type":"string"},"t~":1,"n":null},"list":[{"x":1}]}`), &root); err != nil {
		t.Fatal(err)
	}
	defs := root.(map[string]any)["$defs"].(map[string]any)
	for _, tt := range []struct {
		ref  string
		want any
		ok   bool
	}{
		{"#", root, true},
		{"#/$defs/a~1b", defs["a/b"], true},
		{"#/$defs/t~0", 1.0, true},
		{"#/$defs/n", nil, true},
		{"#/$defs/none", nil, false},
		{"#/$defs/t~0/deeper", nil, false},
		{"#/list/0", nil, false}, // array indexes are not followed
		{"#$defs", nil, false},   // an anchor, not a pointer
		{"other.json#/$defs/n", nil, false},
		{"", nil, false},
	} {
		got, ok := schema.ResolveLocal(root, tt.ref)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ResolveLocal(%q) = %v, %v; want %v, %v", tt.ref, got, ok, tt.want, tt.ok)
		}
	}
}
