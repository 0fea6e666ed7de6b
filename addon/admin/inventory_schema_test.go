package admin

import (
	"strings"
	"testing"
)

// TestSchemaFieldsAnchorRef pins how a "#name" reference has always been read: as "#/name".
func TestSchemaFieldsAnchorRef(t *testing.T) {
	s := `{"addr":{"properties":{"street":{}}},"properties":{"home":{"$ref":"#addr"},"root":{"$ref":"#"}}}`
	got := strings.Join(schemaFields([]byte(s)), " ")
	if want := "/home/street /root/home/street /root/root"; got != want {
		t.Errorf("schemaFields = %q, want %q", got, want)
	}
}
