package draft_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/learn"
)

// canaryEvent carries personal values under personal names and under neutral ones, as keys
// too. Every one of them repeats from event to event, as one household's data does, so each
// would pass a rule that only asked for low cardinality.
func canaryEvent(i int) event {
	typ := []string{"device.seen", "device.gone"}[i%2]
	return event{typ, fmt.Sprintf(`{
	"id": "evt_%06d", "type": %q,
	"data": {
		"owner": {"name": "Margarethe Quistorp", "email": "m.quistorp@example.org", "phone": "+49 30 9876543"},
		"holder": "Quistorp",
		"first_name": "Quirin",
		"contact_email": "canary.one@example.net",
		"note": "canary.two@example.net",
		"device_mac": "3c:71:bf:a4:09:e2",
		"wifi": "3C-71-BF-A4-09-E3",
		"device_serial": "SN-QX7734-991",
		"ref": "ACME-88231-ZZ",
		"session_token": "tok_9fKmQxZpLvBwRt2",
		"code": "x9K2mQ7vZ1pL3vB8nR",
		"hash": "5d41402abc4b2a76b9719d911017c592",
		"uid": "123e4567-e89b-12d3-a456-426614174000",
		"location": {"lat": 52.520008, "lon": 13.404954, "label": "Keizersgracht 123"},
		"position": "52.520008,13.404954",
		"reading": 52.520008,
		"account_number": 123456789012,
		"meter": "987654321",
		"iban": "DE89370400440532013000",
		"ip": "192.168.178.23",
		"caller": "+4915112345678",
		"devices": {"3c:71:bf:a4:09:e4": {"state": "on"}},
		"users": {"quirin@example.com": {"level": "admin"}},
		"state": %q
	}}`, 1000+i, typ, []string{"on", "off"}[i%2])}
}

// canaries are the values, and telling pieces of them, that must appear nowhere.
var canaries = []string{
	"Margarethe", "Quistorp", "Quirin", "quistorp@", "example.org", "9876543",
	"canary.one", "canary.two", "example.net", "quirin@", "example.com",
	"3c:71:bf", "3C-71-BF", "a4:09", "A4-09", "09:e2", "09-E3", "09:e4",
	"QX7734", "88231", "9fKmQ", "x9K2m", "5d41402a", "123e4567",
	"52.52", "13.40", "52,52", "Keizersgracht",
	"123456789012", "1234567", "987654321", "DE8937", "0532013000", "192.168", "178.23", "4915112345678",
}

func TestNoCanaryInStateOrDraft(t *testing.T) {
	var evs []event
	for i := range 20 {
		evs = append(evs, canaryEvent(i))
	}
	r := learn.New("acme-locks", learn.Limits{})
	for _, e := range evs {
		r.Record(parse(t, e.Body), e.Type)
	}
	state, err := r.Snapshot().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The state as a restarted bridge holds it, stored and merged back.
	stored, err := learn.Unmarshal(state)
	if err != nil {
		t.Fatal(err)
	}
	restarted := learn.New("acme-locks", learn.Limits{})
	if err := restarted.Merge(stored); err != nil {
		t.Fatal(err)
	}
	merged, err := restarted.Snapshot().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d := makeDraft(t, restarted.Snapshot(), learnPolicy)
	for _, out := range []struct {
		name string
		data []byte
	}{{"recorder state", state}, {"merged state", merged}, {"draft policy", d.Policy}, {"draft schema", d.Schema}} {
		lower := bytes.ToLower(out.data)
		for _, c := range canaries {
			if bytes.Contains(lower, []byte(strings.ToLower(c))) {
				t.Errorf("%s holds canary %q:\n%s", out.name, c, out.data)
			}
		}
	}
	// The structure is learnt all the same: the draft accepts the events.
	sc := compile(t, d)
	for i, e := range evs {
		if err := sc.Validate(parse(t, e.Body)); err != nil {
			t.Errorf("event %d: Validate = %v, want nil", i, err)
		}
	}
	// And the plain enum next to them is kept.
	if !bytes.Contains(d.Schema, []byte(`"on"`)) {
		t.Errorf("draft schema lacks the enum of /data/state:\n%s", d.Schema)
	}
	// Every identifier-like path is marked in the policy.
	for _, p := range []string{"/data/owner/email", "/data/device_mac", "/data/wifi", "/data/device_serial", "/data/ref",
		"/data/session_token", "/data/code", "/data/uid", "/data/location/lat", "/data/position", "/data/account_number",
		"/data/meter", "/data/iban", "/data/ip", "/data/caller", "/data/note", "/data/hash"} {
		line := lineOf(string(d.Policy), "#   "+p+"  ")
		if !strings.Contains(line, "IDENTIFIER") {
			t.Errorf("policy line for %s = %q, want it marked IDENTIFIER", p, line)
		}
	}
}

func lineOf(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
