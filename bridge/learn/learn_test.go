package learn_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/payload"
)

// parse parses a JSON document as the pipeline does.
func parse(t testing.TB, s string) any {
	t.Helper()
	v, err := payload.Parse([]byte(s), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("payload.Parse(%s) = %v", s, err)
	}
	return v
}

// path returns the node at a display pointer, failing the test when it is absent.
func path(t testing.TB, s *learn.Structure, ptr string) *learn.Node {
	t.Helper()
	for _, p := range s.Paths() {
		if p.Pointer == ptr {
			return p.Node
		}
	}
	t.Fatalf("no learnt path %q", ptr)
	return nil
}

func hasPath(s *learn.Structure, ptr string) bool {
	for _, p := range s.Paths() {
		if p.Pointer == ptr {
			return true
		}
	}
	return false
}

// sampleEvents returns n events of two types with optional members, an optional object with a
// required member of its own, and an array of objects with an optional member.
func sampleEvents(n int) []struct {
	Type string
	Body string
} {
	var out []struct {
		Type string
		Body string
	}
	for i := range n {
		typ := "lock.state_changed"
		if i%3 == 2 {
			typ = "lock.battery_low"
		}
		var data []string
		data = append(data, fmt.Sprintf(`"battery_pct": %d`, 20+i*2))
		if typ == "lock.state_changed" {
			state := []string{"locked", "unlocked"}[i%2]
			data = append(data, fmt.Sprintf(`"state": %q`, state))
			if i%4 != 0 {
				data = append(data, fmt.Sprintf(`"method": %q`, []string{"keypad", "app", "key"}[i%3]))
			}
			if i%5 < 3 {
				user := fmt.Sprintf(`"id": "usr_%04d"`, 1000+i)
				if i%2 == 0 {
					user += fmt.Sprintf(`, "role": %q`, []string{"admin", "guest"}[i%4/2])
				}
				data = append(data, `"user": {`+user+`}`)
			}
			var items []string
			for j := range 1 + i%3 {
				item := fmt.Sprintf(`{"at": "2026-03-%02dT10:%02d:00Z", "kind": %q`, 1+i%28, j, []string{"bolt", "latch"}[j%2])
				if j > 0 {
					item += fmt.Sprintf(`, "ms": %d`, 100+j)
				}
				items = append(items, item+"}")
			}
			data = append(data, `"steps": [`+strings.Join(items, ",")+`]`)
		} else {
			data = append(data, fmt.Sprintf(`"voltage": %d.%d`, 3, i%10), `"tags": ["battery", "low"]`)
			if i%2 == 0 {
				data = append(data, `"note": null`)
			} else {
				data = append(data, `"note": "replace soon"`)
			}
		}
		body := fmt.Sprintf(`{"id": "evt_%08x", "type": %q, "created_at": "2026-03-01T10:%02d:00Z", "data": {%s}}`,
			0x5eed0000+i, typ, i%60, strings.Join(data, ", "))
		out = append(out, struct {
			Type string
			Body string
		}{typ, body})
	}
	return out
}

func record(t testing.TB, r *learn.Recorder, events []struct {
	Type string
	Body string
}) {
	t.Helper()
	for _, e := range events {
		r.Record(parse(t, e.Body), e.Type)
	}
}

func TestRecordCounts(t *testing.T) {
	r := learn.New("acme-locks", learn.Limits{})
	events := sampleEvents(30)
	record(t, r, events)
	s := r.Snapshot()
	if s.Events != 30 {
		t.Fatalf("Events = %d, want 30", s.Events)
	}
	if want := []learn.TypeCount{{Name: "lock.battery_low", Events: 10}, {Name: "lock.state_changed", Events: 20}}; !reflect.DeepEqual(s.Types, want) {
		t.Fatalf("Types = %v, want %v", s.Types, want)
	}
	tests := []struct {
		ptr            string
		types          learn.Types
		events, count  uint64
		byType         []uint64
		objects        uint64
		formats        learn.Formats
		identifierKind learn.Kinds
	}{
		{ptr: "", types: learn.TypeObject, events: 30, count: 30, byType: []uint64{10, 20}, objects: 30},
		{ptr: "/id", types: learn.TypeString, events: 30, count: 30, byType: []uint64{10, 20}, identifierKind: learn.KindID | learn.KindSerial},
		{ptr: "/created_at", types: learn.TypeString, events: 30, count: 30, byType: []uint64{10, 20}, formats: learn.FormatDateTime},
		{ptr: "/data/state", types: learn.TypeString, events: 20, count: 20, byType: []uint64{0, 20}},
		{ptr: "/data/method", types: learn.TypeString, events: 14, count: 14, byType: []uint64{0, 14}},
		{ptr: "/data/user", types: learn.TypeObject, events: 12, count: 12, byType: []uint64{0, 12}, objects: 12, identifierKind: learn.KindName},
		{ptr: "/data/voltage", types: learn.TypeNumber, events: 10, count: 10, byType: []uint64{10}},
		{ptr: "/data/note", types: learn.TypeString | learn.TypeNull, events: 10, count: 10, byType: []uint64{10}},
		{ptr: "/data/steps", types: learn.TypeArray, events: 20, count: 20, byType: []uint64{0, 20}},
		{ptr: "/data/steps/*", types: learn.TypeObject, events: 20, count: 30, byType: []uint64{0, 20}, objects: 30},
		{ptr: "/data/steps/*/ms", types: learn.TypeInteger, events: 10, count: 10, byType: []uint64{0, 10}},
		{ptr: "/data/tags/*", types: learn.TypeString, events: 10, count: 20, byType: []uint64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.ptr, func(t *testing.T) {
			n := path(t, s, tt.ptr)
			if n.Types != tt.types || n.Events != tt.events || n.Count != tt.count || !reflect.DeepEqual(n.ByType, tt.byType) || n.Objects != tt.objects {
				t.Errorf("%s = types %v events %d count %d by type %v objects %d, want %v %d %d %v %d",
					tt.ptr, n.Types, n.Events, n.Count, n.ByType, n.Objects, tt.types, tt.events, tt.count, tt.byType, tt.objects)
			}
			if n.Formats != tt.formats {
				t.Errorf("%s formats = %v, want %v", tt.ptr, n.Formats, tt.formats)
			}
			if n.Kinds() != tt.identifierKind {
				t.Errorf("%s identifier kinds = %v, want %v", tt.ptr, n.Kinds(), tt.identifierKind)
			}
		})
	}
	if got, want := path(t, s, "/data/state").EnumValues(), []string{"locked", "unlocked"}; !reflect.DeepEqual(got, want) {
		t.Errorf("/data/state EnumValues() = %q, want %q", got, want)
	}
	if got := path(t, s, "/data/user/role").EnumValues(); got != nil {
		t.Errorf("/data/user/role EnumValues() = %q, want none (under a personal name)", got)
	}
	if got := path(t, s, "/data/user/role"); got.Enum != nil || !got.Personal {
		t.Errorf("/data/user/role = enum %v personal %v, want no values kept and personal", got.Enum, got.Personal)
	}
	b := path(t, s, "/data/battery_pct")
	if b.Min == nil || b.Max == nil || *b.Min != 20 || *b.Max != 80 {
		t.Errorf("/data/battery_pct range = %v..%v, want 20..80 (rounded outward from 20..78)", b.Min, b.Max)
	}
	if id := path(t, s, "/data/user/id"); id.Min != nil || id.Strings != 12 || id.MinLen != 8 || id.MaxLen != 8 {
		t.Errorf("/data/user/id = strings %d len %d..%d, want 12 strings of 8", id.Strings, id.MinLen, id.MaxLen)
	}
}

func TestEnumRules(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		values []string
		want   []string // EnumValues
		kept   bool     // candidates still stored
	}{
		{"low cardinality", "state", []string{"on", "off", "on", "off", "on"}, []string{"off", "on"}, true},
		{"a value seen once", "state", []string{"on", "on", "on", "on", "off"}, nil, true},
		{"too few samples", "state", []string{"on", "off", "on", "off"}, nil, true},
		{"too many values", "state", []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a1"}, nil, false},
		{"an email later", "note", []string{"on", "on", "on", "jane.doe@example.com", "on", "on"}, nil, false},
		{"a name", "note", []string{"Alice", "Alice", "Alice", "Alice", "Alice"}, nil, false},
		{"a serial", "note", []string{"SN-1234", "SN-1234", "SN-1234", "SN-1234", "SN-1234"}, nil, false},
		{"personal path", "holder", []string{"on", "on", "on", "on", "on"}, nil, false},
		{"coordinates path", "lat", []string{"n", "n", "n", "n", "n"}, nil, false},
		{"spaces", "label", []string{"front door", "front door", "front door", "front door", "front door"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := learn.New("v", learn.Limits{})
			for _, v := range tt.values {
				r.Record(map[string]any{tt.key: v}, "t")
			}
			n := path(t, r.Snapshot(), "/"+tt.key)
			if got := n.EnumValues(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EnumValues() = %q, want %q", got, tt.want)
			}
			if kept := len(n.Enum) > 0; kept != tt.kept {
				t.Errorf("candidates kept = %v (%v), want %v", kept, n.Enum, tt.kept)
			}
		})
	}
}

func TestEnumWindow(t *testing.T) {
	r := learn.New("v", learn.Limits{EnumWindow: 10})
	for i := range 20 {
		r.Record(map[string]any{"state": []string{"on", "off"}[i%2]}, "t")
	}
	if got := path(t, r.Snapshot(), "/state").EnumValues(); len(got) != 2 {
		t.Fatalf("EnumValues() after the window = %q, want on and off", got)
	}
	r.Record(map[string]any{"state": "dim"}, "t")
	s := r.Snapshot()
	if got := path(t, s, "/state"); got.EnumValues() != nil || got.Enum != nil {
		t.Errorf("a new value after the window: enum %v, want none (it would refuse that event)", got.Enum)
	}
	if !s.Overflow.EnumClosed {
		t.Errorf("Overflow.EnumClosed = false, want true")
	}
}

func TestLimits(t *testing.T) {
	t.Run("paths", func(t *testing.T) {
		r := learn.New("v", learn.Limits{MaxPaths: 50})
		m := map[string]any{}
		for i := range 100 {
			m[fmt.Sprintf("field_%c%c", 'a'+i/26, 'a'+i%26)] = true
		}
		r.Record(m, "t")
		r.Record(m, "t")
		s := r.Snapshot()
		if n := s.CountPaths(); n != 50 {
			t.Errorf("CountPaths() = %d, want 50", n)
		}
		if s.Overflow.Dropped != 2*51 || !s.Root.Truncated {
			t.Errorf("Overflow.Dropped = %d, root truncated %v; want 102 and true", s.Overflow.Dropped, s.Root.Truncated)
		}
		// Which paths fit does not depend on map order: the first 49 keys in key order.
		for range 5 {
			again := learn.New("v", learn.Limits{MaxPaths: 50})
			again.Record(m, "t")
			again.Record(m, "t")
			if got, want := marshal(t, again.Snapshot()), marshal(t, s); !bytes.Equal(got, want) {
				t.Fatalf("the same event past the path limit learnt\n%s\nthen\n%s", want, got)
			}
		}
		if !hasPath(s, "/field_aa") || hasPath(s, "/field_dd") {
			t.Errorf("paths = %v, want the first keys in key order", pointers(s))
		}
	})
	t.Run("depth", func(t *testing.T) {
		r := learn.New("v", learn.Limits{MaxDepth: 4})
		r.Record(parse(t, `{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}`), "t")
		s := r.Snapshot()
		if !hasPath(s, "/a/b/c/d") || hasPath(s, "/a/b/c/d/e") {
			t.Errorf("paths = %v, want down to /a/b/c/d only", pointers(s))
		}
		if s.Overflow.Deep != 1 || !path(t, s, "/a/b/c/d").Truncated {
			t.Errorf("Overflow.Deep = %d, want 1 and /a/b/c/d truncated", s.Overflow.Deep)
		}
	})
	t.Run("types", func(t *testing.T) {
		r := learn.New("v", learn.Limits{MaxTypes: 3})
		for i := range 5 {
			r.Record(map[string]any{}, fmt.Sprintf("type.%c", 'a'+i))
		}
		r.Record(map[string]any{}, "jane.doe@example.com")
		r.Record(map[string]any{}, "")
		s := r.Snapshot()
		if len(s.Types) != 3 || s.Overflow.OtherTypes != 4 {
			t.Errorf("Types = %v, OtherTypes = %d; want 3 types and 4 others", s.Types, s.Overflow.OtherTypes)
		}
	})
}

func pointers(s *learn.Structure) []string {
	var out []string
	for _, p := range s.Paths() {
		out = append(out, p.Pointer)
	}
	return out
}

func TestFoldedKeys(t *testing.T) {
	r := learn.New("v", learn.Limits{})
	r.Record(parse(t, `{"devices": {"aa:bb:cc:dd:ee:01": {"state": "on"}, "aa:bb:cc:dd:ee:02": {"state": "off"}}, "by_day": {"2026-03-01": 3}}`), "t")
	s := r.Snapshot()
	got := pointers(s)
	want := []string{"", "/by_day", "/by_day/{key}", "/devices", "/devices/{key}", "/devices/{key}/state"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	if s.Overflow.Folded != 3 {
		t.Errorf("Overflow.Folded = %d, want 3", s.Overflow.Folded)
	}
	if n := path(t, s, "/devices/{key}/state"); !n.Personal || n.Enum != nil {
		t.Errorf("a member of a folded key: personal %v enum %v, want personal and no values", n.Personal, n.Enum)
	}
}

func marshal(t testing.TB, s *learn.Structure) []byte {
	t.Helper()
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMergeEqualsOneRecorder(t *testing.T) {
	events := sampleEvents(30)
	whole := learn.New("acme-locks", learn.Limits{})
	record(t, whole, events)

	first, second := learn.New("acme-locks", learn.Limits{}), learn.New("acme-locks", learn.Limits{})
	record(t, first, events[:13])
	record(t, second, events[13:])
	stored, err := learn.Unmarshal(marshal(t, first.Snapshot()))
	if err != nil {
		t.Fatal(err)
	}
	// As after a restart: a fresh recorder takes what was stored, then records on.
	restarted := learn.New("acme-locks", learn.Limits{})
	if err := restarted.Merge(stored); err != nil {
		t.Fatal(err)
	}
	record(t, restarted, events[13:])
	if got, want := marshal(t, restarted.Snapshot()), marshal(t, whole.Snapshot()); !bytes.Equal(got, want) {
		t.Errorf("stored, merged and recorded on:\n%s\nwant as one recorder:\n%s", got, want)
	}
	// Two structures merged give the same.
	merged := learn.New("acme-locks", learn.Limits{})
	for _, r := range []*learn.Recorder{second, first} {
		if err := merged.Merge(r.Snapshot()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := marshal(t, merged.Snapshot()), marshal(t, whole.Snapshot()); !bytes.Equal(got, want) {
		t.Errorf("two structures merged:\n%s\nwant as one recorder:\n%s", got, want)
	}
}

func TestDeterministic(t *testing.T) {
	events := sampleEvents(30)
	a := learn.New("acme-locks", learn.Limits{})
	record(t, a, events)
	shuffled := append(events[:0:0], events...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := learn.New("acme-locks", learn.Limits{})
	record(t, b, shuffled)
	if got, want := marshal(t, b.Snapshot()), marshal(t, a.Snapshot()); !bytes.Equal(got, want) {
		t.Errorf("the same events in another order encode as\n%s\nwant\n%s", got, want)
	}
	if got, want := marshal(t, a.Snapshot()), marshal(t, a.Snapshot()); !bytes.Equal(got, want) {
		t.Errorf("two snapshots of one recorder differ")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := marshal(t, func() *learn.Structure {
		r := learn.New("v", learn.Limits{})
		r.Record(map[string]any{"a": "b"}, "t")
		return r.Snapshot()
	}())
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not JSON", "{", learn.ErrCorrupt},
		{"other version", `{"version": 2}`, learn.ErrVersion},
		{"no version", `{}`, learn.ErrVersion},
		{"unknown field", strings.Replace(string(good), `"events"`, `"evil":1,"events"`, 1), learn.ErrCorrupt},
		{"unknown type name", strings.Replace(string(good), `"object"`, `"objet"`, 1), learn.ErrCorrupt},
		{"too deep", `{"version":1,"root":` + strings.Repeat(`{"types":[],"events":1,"count":1,"items":`, 70) + `{"types":[],"events":1,"count":1}` + strings.Repeat("}", 70) + `}`, learn.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := learn.Unmarshal([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("Unmarshal(%.40s...) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	if _, err := learn.Unmarshal(good); err != nil {
		t.Errorf("Unmarshal(Marshal()) = %v, want nil", err)
	}
	s, _ := learn.Unmarshal(good)
	if err := learn.New("other", learn.Limits{}).Merge(s); !errors.Is(err, learn.ErrVendor) {
		t.Errorf("Merge(another vendor's) = %v, want ErrVendor", err)
	}
}

// TestMergeReappliesRules: a stored structure is held to the recorder's rules, so a value or a
// key that a looser build (or a damaged file) kept does not survive a restart.
func TestMergeReappliesRules(t *testing.T) {
	stored := `{"version":1,"vendor":"v","events":5,"types":[{"name":"t","events":5}],"overflow":{},
	"root":{"types":["object"],"events":5,"count":5,"objects":5,"keys":{
	  "note":{"types":["string"],"events":5,"count":5,"strings":5,"min_len":5,"max_len":5,"enum":[{"value":"Alice","count":5}]},
	  "jane@example.com":{"types":["string"],"events":5,"count":5,"strings":5,"enum":[{"value":"on","count":5}]}}}}`
	s, err := learn.Unmarshal([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	r := learn.New("v", learn.Limits{})
	if err := r.Merge(s); err != nil {
		t.Fatal(err)
	}
	out := marshal(t, r.Snapshot())
	for _, bad := range []string{"Alice", "jane@example.com"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("merged structure keeps %q: %s", bad, out)
		}
	}
}

func TestConcurrentRecord(t *testing.T) {
	r := learn.New("acme-locks", learn.Limits{})
	events := sampleEvents(30)
	docs := make([]any, len(events))
	for i, e := range events {
		docs[i] = parse(t, e.Body)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e := (g + i) % len(events)
				r.Record(docs[e], events[e].Type)
				if i%50 == 0 {
					if _, err := r.Snapshot().Marshal(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if events, _ := r.Size(); events != 1600 {
		t.Errorf("Size() events = %d, want 1600", events)
	}
	if r.Generation() < 1600 {
		t.Errorf("Generation() = %d, want at least 1600", r.Generation())
	}
}

func TestFields(t *testing.T) {
	r := learn.New("acme-locks", learn.Limits{})
	record(t, r, sampleEvents(30))
	byPointer := map[string]learn.Field{}
	for _, f := range r.Snapshot().Fields() {
		byPointer[f.Pointer] = f
	}
	tests := []learn.Field{
		{Pointer: "/created_at", Types: []string{"string"}, Events: 30, Format: "date-time"},
		{Pointer: "/data/state", Types: []string{"string"}, Events: 20, Enum: []string{"locked", "unlocked"}},
		{Pointer: "/data/user/id", Types: []string{"string"}, Events: 12, Identifier: []string{"id", "serial"}, Personal: true},
		{Pointer: "/data/steps/*/ms", Types: []string{"integer"}, Events: 10},
	}
	for _, want := range tests {
		if got := byPointer[want.Pointer]; !reflect.DeepEqual(got, want) {
			t.Errorf("Fields()[%s] = %+v, want %+v", want.Pointer, got, want)
		}
	}
	if _, ok := byPointer[""]; ok || len(byPointer) != 19 {
		t.Errorf("Fields() = %d paths, want the 19 below the root", len(byPointer))
	}
}
