package app

import (
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestReplayRetention checks the replay window: a vendor whose scheme signs no timestamp keeps its
// replay records at least 30 days, whatever its retention; one that signs a timestamp keeps its
// retention.
func TestReplayRetention(t *testing.T) {
	day := 24 * time.Hour
	withScheme := func(scheme string) *vendor.Vendor {
		a, err := verify.CompileAuth(scheme, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &vendor.Vendor{Policy: &policy.Policy{Auth: a}}
	}
	tests := []struct {
		scheme    string
		retention time.Duration
		want      time.Duration
	}{
		{"stripe", 7 * day, 7 * day},
		{"standard-webhooks", 1 * day, 1 * day},
		{"github", 7 * day, 30 * day},
		{"bearer", 1 * day, 30 * day},
		{"basic", 7 * day, 30 * day},
		{"path-token", 90 * day, 90 * day},
	}
	for _, tt := range tests {
		if got := ReplayRetention(withScheme(tt.scheme), tt.retention); got != tt.want {
			t.Errorf("ReplayRetention(%s, %v) = %v, want %v", tt.scheme, tt.retention, got, tt.want)
		}
	}
	if got := ReplayRetention(nil, 7*day); got != 7*day {
		t.Errorf("ReplayRetention(no vendor, 7d) = %v, want 7d (a vendor no longer configured)", got)
	}
}
