package learn

import (
	"reflect"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		formats Formats
		kinds   Kinds
		plain   bool
	}{
		{"enum word", "locked", 0, 0, true},
		{"dotted type", "lock.state_changed", 0, 0, true},
		{"upper enum", "HOME", 0, 0, true},
		{"short number", "2", FormatNumeric, 0, true},
		{"capitalized name", "Alice", 0, 0, false},
		{"two-word name", "Jane Doe", 0, 0, false},
		{"date-time", "2026-11-25T08:14:03Z", FormatDateTime, 0, false},
		{"date-time offset", "2026-11-25T08:14:03.123+01:00", FormatDateTime, 0, false},
		{"date", "2026-11-25", FormatDate, 0, false},
		{"bad date", "2026-13-45", 0, 0, false},
		{"email", "jane.doe@example.com", FormatEmail, KindEmail, false},
		{"email-like invalid", "jane@", 0, KindEmail, false},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", FormatUUID, KindID, false},
		{"mac colon", "aa:bb:cc:dd:ee:0f", FormatMAC, KindMAC, false},
		{"mac dash", "AA-BB-CC-DD-EE-0F", FormatMAC, KindMAC, false},
		{"mac mixed separators", "aa:bb-cc:dd:ee:0f", 0, KindMAC, false},
		{"uri", "https://cams.example/snap/1.jpg", FormatURI, 0, false},
		{"not uri", "lock:open", 0, 0, true},
		{"ipv4", "192.168.1.20", FormatIPv4, KindNetwork, false},
		{"numeric string", "-12.5", FormatNumeric, 0, false},
		{"long numeric", "0093318841", FormatNumeric, KindID, false},
		{"phone intl", "+49 30 1234567", 0, KindPhone, false},
		{"phone local", "(030) 123-4567", 0, KindPhone, false},
		{"serial", "SN-ACME-0093318841", 0, KindSerial, false},
		{"device id", "LCK-7734-XK19", 0, KindSerial, false},
		{"hex token", "9f86d081884c7d65", 0, KindID, false},
		{"mixed-case token", "tok_9fKmQxZpLvBwRt", 0, KindSecret, false},
		{"coordinate pair", "52.520008,13.404954", 0, KindCoordinate, false},
		{"too long for enum", "an_enum_value_that_is_far_too_long_to_be_one", 0, 0, false},
		{"space", "front door", 0, 0, false},
		{"non-ASCII", "ouvert\u00e9", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.in, allFormats)
			if got.formats != tt.formats || got.kinds != tt.kinds || got.plain != tt.plain {
				t.Errorf("classify(%q) = formats %v kinds %v plain %v, want %v %v %v",
					tt.in, got.formats, got.kinds, got.plain, tt.formats, tt.kinds, tt.plain)
			}
		})
	}
}

func TestClassifyKindsWithoutFormats(t *testing.T) {
	// A path that stopped checking formats still marks identifiers by value.
	for _, in := range []string{"jane.doe@example.com", "aa:bb:cc:dd:ee:0f", "123e4567-e89b-12d3-a456-426614174000", "10.0.0.1"} {
		if got := classify(in, 0); got.kinds == 0 || got.plain {
			t.Errorf("classify(%q, 0) = kinds %v plain %v, want an identifier kind", in, got.kinds, got.plain)
		}
	}
}

func TestKeyWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"device_id", []string{"device", "id"}},
		{"deviceSerial", []string{"device", "serial"}},
		{"MACAddress", []string{"mac", "address"}},
		{"devEUI", []string{"dev", "eui"}},
		{"e-mail", []string{"e", "mail"}},
		{"ipv4", []string{"ipv4"}},
		{"battery_pct", []string{"battery", "pct"}},
	}
	for _, tt := range tests {
		if got := keyWords(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("keyWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNameKinds(t *testing.T) {
	tests := []struct {
		in   string
		want Kinds
	}{
		{"device_id", KindID},
		{"camera_serial", KindSerial},
		{"email_address", KindEmail},
		{"mac_address", KindMAC},
		{"ip_address", KindNetwork},
		{"address", KindAddress},
		{"holder", KindName},
		{"firstName", KindName},
		{"lat", KindCoordinate},
		{"longitude", KindCoordinate},
		{"phone_number", KindPhone},
		{"account_number", KindAccount},
		{"api_key", KindSecret},
		{"user_ids", KindName | KindID},
		{"emails", KindEmail},
		{"state", 0},
		{"battery_pct", 0},
		{"method", 0},
		{"type", 0},
		{"valid_from", 0},
	}
	for _, tt := range tests {
		if got := nameKinds(tt.in); got != tt.want {
			t.Errorf("nameKinds(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNameable(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"device_id", true},
		{"temp\u00e9rature", true},
		{"*", true},
		{"aa:bb:cc:dd:ee:ff", false},
		{"jane@example.com", false},
		{"2026-11-25", false},
		{"17", false},
		{"123e4567-e89b-12d3-a456-426614174000", false},
		{"SN-ACME-0093318841", false},
		{"has space", false},
		{"line\u2028sep", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := nameable(tt.in); got != tt.want {
			t.Errorf("nameable(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCoarse(t *testing.T) {
	tests := []struct {
		in       float64
		down, up float64
	}{
		{0, 0, 0},
		{87, 80, 90},
		{100, 100, 100},
		{12, 10, 20},
		{0.37, 0.3, 0.4},
		{-3.7, -4, -3},
		{52.520008, 50, 60},
		{123456789, 100000000, 200000000},
		{95, 90, 100},
		{1e-7, 1e-7, 1e-7},
	}
	for _, tt := range tests {
		if got := coarseDown(tt.in); got != tt.down {
			t.Errorf("coarseDown(%v) = %v, want %v", tt.in, got, tt.down)
		}
		if got := coarseUp(tt.in); got != tt.up {
			t.Errorf("coarseUp(%v) = %v, want %v", tt.in, got, tt.up)
		}
	}
}
