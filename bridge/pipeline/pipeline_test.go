package pipeline_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/pipeline"
)

// TestBodyKey checks the replay key of events without an id: one per body, not the body itself
// nor its plain hex digest, and never equal to an id a vendor could send.
func TestBodyKey(t *testing.T) {
	bodies := [][]byte{nil, []byte(`{}`), []byte(`{"a":1}`), []byte(`{"a":1} `), []byte(`{"device":"LCK-7734-XK19"}`)}
	seen := map[string]int{}
	for i, b := range bodies {
		k := pipeline.BodyKey(b)
		if j, dup := seen[k]; dup {
			t.Errorf("BodyKey(%q) = BodyKey(%q)", b, bodies[j])
		}
		seen[k] = i
		if k != pipeline.BodyKey(bytes.Clone(b)) {
			t.Errorf("BodyKey(%q) differs between calls", b)
		}
		if len(b) > 2 && strings.Contains(k, string(b)) {
			t.Errorf("BodyKey(%q) holds the body", b)
		}
		sum := sha256.Sum256(b)
		if strings.Contains(k, hex.EncodeToString(sum[:])) {
			t.Errorf("BodyKey(%q) holds the plain hex digest", b)
		}
		if err := pipeline.CheckEventID(k); !errors.Is(err, pipeline.ErrBadEventID) {
			t.Errorf("CheckEventID(BodyKey(%q)) = %v, want ErrBadEventID: a vendor's id could equal it", b, err)
		}
	}
}
