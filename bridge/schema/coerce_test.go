package schema_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

// weatherSchema is what a schema for Ecowitt's "Customized" upload may look like: the fields of
// the WH2650 capture (https://www.pa3hcm.nl/?p=2095; field meanings from Home Assistant's
// aioecowitt), numbered sensors by pattern, units as the gateway sends them.
const weatherSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["PASSKEY", "dateutc"],
  "additionalProperties": false,
  "properties": {
    "PASSKEY": {"type": "string", "pattern": "^[0-9A-F]{32}$"},
    "stationtype": {"type": "string", "maxLength": 40},
    "dateutc": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"},
    "freq": {"type": "string"},
    "model": {"type": "string"},
    "tempinf": {"$ref": "#/$defs/fahrenheit"},
    "tempf": {"$ref": "#/$defs/fahrenheit"},
    "humidityin": {"$ref": "#/$defs/percent"},
    "humidity": {"$ref": "#/$defs/percent"},
    "baromrelin": {"$ref": "#/$defs/inHg"},
    "baromabsin": {"$ref": "#/$defs/inHg"},
    "winddir": {"type": "integer", "minimum": 0, "maximum": 360},
    "windspeedmph": {"type": "number", "minimum": 0},
    "windgustmph": {"type": "number", "minimum": 0},
    "maxdailygust": {"type": "number", "minimum": 0},
    "solarradiation": {"type": "number", "minimum": 0},
    "uv": {"type": "integer", "minimum": 0}
  },
  "patternProperties": {
    "^temp[1-8]f$": {"$ref": "#/$defs/fahrenheit"},
    "^humidity[1-8]$": {"$ref": "#/$defs/percent"},
    "^(rainrate|eventrain|hourlyrain|dailyrain|weeklyrain|monthlyrain|yearlyrain|totalrain)in$": {"type": "number", "minimum": 0},
    "^(wh[0-9]+batt|batt[1-8])$": {"type": "integer", "enum": [0, 1]}
  },
  "$defs": {
    "fahrenheit": {"type": "number", "minimum": -100, "maximum": 200},
    "percent": {"type": "integer", "minimum": 0, "maximum": 100},
    "inHg": {"type": "number", "minimum": 0}
  }
}`

func compileOne(t testing.TB, doc string) *schema.Schema {
	t.Helper()
	set := schema.NewSet()
	set.Add("test/v1.json", []byte(doc))
	sc, err := set.Compile("test/v1.json")
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return sc
}

func form(t testing.TB, body string) map[string]any {
	t.Helper()
	doc, err := payload.ParseForm([]byte(body), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("ParseForm(%q) = %v", body, err)
	}
	return doc
}

// ecowitt returns the documented Ecowitt capture, and that parsed as the form it is: every
// value text.
func ecowitt(tb testing.TB) (body []byte, doc map[string]any) {
	tb.Helper()
	body, err := os.ReadFile("../payload/testdata/senders/ecowitt-wh2650.form")
	if err != nil {
		tb.Fatal(err)
	}
	return body, form(tb, string(body))
}

// TestCoerceEcowitt types the documented capture: the text fields stay text, the readings become
// numbers, and the document then validates, which it does not as text.
func TestCoerceEcowitt(t *testing.T) {
	sc := compileOne(t, weatherSchema)
	_, doc := ecowitt(t)
	if err := sc.Validate(doc); err == nil {
		t.Fatal("Validate(ecowitt as text) = nil, want an error (else this test proves nothing)")
	}
	sc.Coerce(doc, payload.DefaultLimits)
	if err := sc.Validate(doc); err != nil {
		t.Fatalf("Validate(Coerce(ecowitt)) = %v", err)
	}
	want := map[string]any{
		"PASSKEY": "307826236D0133E06009CE7FAFBBAFC4", "stationtype": "WH2650A_V1.6.8",
		"dateutc": "2021-12-24 11:31:57", "freq": "868M", "model": "WH2650",
		"tempinf": json.Number("66"), "humidityin": json.Number("51"), "baromrelin": json.Number("29.565"),
		"baromabsin": json.Number("29.565"), "tempf": json.Number("47.8"), "humidity": json.Number("91"),
		"winddir": json.Number("261"), "windspeedmph": json.Number("8.95"), "windgustmph": json.Number("14.76"),
		"maxdailygust": json.Number("21.7"), "solarradiation": json.Number("57.25"), "uv": json.Number("0"),
		"rainratein": json.Number("0"), "eventrainin": json.Number("0.071"), "hourlyrainin": json.Number("0"),
		"dailyrainin": json.Number("0.012"), "weeklyrainin": json.Number("0.11"), "monthlyrainin": json.Number("1.421"),
		"yearlyrainin": json.Number("24.256"), "totalrainin": json.Number("24.256"), "temp1f": json.Number("49.46"),
		"humidity1": json.Number("98"), "temp2f": json.Number("63.5"), "humidity2": json.Number("51"),
		"wh65batt": json.Number("0"), "wh25batt": json.Number("0"), "batt1": json.Number("0"), "batt2": json.Number("0"),
	}
	if !reflect.DeepEqual(doc, want) {
		for k := range want {
			if !reflect.DeepEqual(doc[k], want[k]) {
				t.Errorf("Coerce(ecowitt)[%q] = %#v, want %#v", k, doc[k], want[k])
			}
		}
		t.Fatalf("Coerce(ecowitt) = %#v", doc)
	}
	// A reading that is not a number stays text, and validation says where.
	bad := form(t, "PASSKEY=307826236D0133E06009CE7FAFBBAFC4&dateutc=2021-12-24+11:31:57&tempf=47,8&humidity1=")
	sc.Coerce(bad, payload.DefaultLimits)
	if bad["tempf"] != "47,8" || bad["humidity1"] != "" {
		t.Errorf("Coerce(tempf=47,8&humidity1=) = %#v, want both left as text", bad)
	}
	var se *schema.Error
	if err := sc.Validate(bad); !errors.As(err, &se) || se.Keyword != "type" {
		t.Errorf("Validate(tempf=47,8) = %v, want a type error", err)
	}
}

// TestCoerceSenders types the other documented form bodies with schemas such as their policies
// would hold.
func TestCoerceSenders(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		body   string
		want   map[string]any
	}{
		{
			// https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/data-api/notifications/notification-content
			// (the documented lines joined with '&'): userid, appli, startdate and enddate are
			// "int"; date is "string (YYYY-MM-DD) or int", so it stays text.
			name: "withings",
			schema: `{"type": "object", "required": ["userid", "appli"], "additionalProperties": false,
				"properties": {"userid": {"type": "integer"}, "appli": {"type": "integer", "enum": [1, 2, 4, 16, 44, 46, 50, 51, 52]},
				"startdate": {"type": "integer"}, "enddate": {"type": "integer"}, "deviceid": {"type": "string"},
				"date": {"type": ["string", "integer"]}, "action": {"enum": ["delete", "unlink", "update"]}}}`,
			body: "userid=12345&appli=1&startdate=1530576000&enddate=1530698753&date=1530576000",
			want: map[string]any{"userid": json.Number("12345"), "appli": json.Number("1"),
				"startdate": json.Number("1530576000"), "enddate": json.Number("1530698753"), "date": "1530576000"},
		},
		{
			// https://docs.particle.io/reference/cloud-apis/webhooks/ "Default data": data is
			// always a string; it stays one even when it looks like a number.
			name: "particle",
			schema: `{"type": "object", "required": ["event", "data", "published_at", "coreid"],
				"properties": {"event": {"type": "string"}, "data": {"type": "string"},
				"published_at": {"type": "string", "format": "date-time"}, "coreid": {"type": "string"}}}`,
			body: "event=temp&data=20.00&published_at=2017-02-01T21%3A08%3A05.763Z&coreid=3f002b000000000000000000",
			want: map[string]any{"event": "temp", "data": "20.00", "published_at": "2017-02-01T21:08:05.763Z",
				"coreid": "3f002b000000000000000000"},
		},
		{
			// The same, where the user's own form template asks for numbers.
			name: "particle typed",
			schema: `{"type": "object", "properties": {"data": {"type": "number"}, "lat": {"type": "number"},
				"lng": {"type": "number"}, "on": {"type": "boolean"}}}`,
			body: "data=20.00&lat=39.739155&lng=-104.984703&on=true",
			want: map[string]any{"data": json.Number("20"), "lat": json.Number("39.739155"),
				"lng": json.Number("-104.984703"), "on": true},
		},
		{
			// https://docs.slack.dev/authentication/verifying-requests-from-slack: a slash
			// command is text, empty text included.
			name:   "slack slash command",
			schema: `{"type": "object", "additionalProperties": {"type": "string"}}`,
			body:   "command=%2Fwebhook-collect&text=&team_id=T1DC2JH3J",
			want:   map[string]any{"command": "/webhook-collect", "text": "", "team_id": "T1DC2JH3J"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := compileOne(t, tt.schema)
			doc := form(t, tt.body)
			sc.Coerce(doc, payload.DefaultLimits)
			if !reflect.DeepEqual(doc, tt.want) {
				t.Errorf("Coerce(%q) = %#v, want %#v", tt.body, doc, tt.want)
			}
			if err := sc.Validate(doc); err != nil {
				t.Errorf("Validate(Coerce(%q)) = %v", tt.body, err)
			}
		})
	}
}

// keywordsSchema asks for types in every way Coerce follows, one property each.
const keywordsSchema = `{
  "type": "object",
  "properties": {
    "s": {"type": "string"},
    "n": {"type": "number"},
    "i": {"type": "integer"},
    "b": {"type": "boolean"},
    "null": {"type": "null"},
    "sn": {"type": ["string", "number"]},
    "ni": {"type": ["number", "integer"]},
    "ib": {"type": ["integer", "boolean"]},
    "nnull": {"type": ["number", "null"]},
    "enum_n": {"enum": [1, 2, 4]},
    "enum_s": {"enum": ["1", "2"]},
    "enum_mixed": {"enum": [1, "a"]},
    "const_b": {"const": true},
    "const_n": {"const": 2.5},
    "typed_enum": {"type": "integer", "enum": [0, 1]},
    "ref": {"$ref": "#/$defs/n"},
    "ref_ref": {"$ref": "#/$defs/ref"},
    "all": {"allOf": [{"type": "number"}, {"minimum": 0}]},
    "all_narrow": {"allOf": [{"type": ["number", "string"]}, {"type": "integer"}]},
    "any": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]},
    "any_s": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    "any_open": {"anyOf": [{"type": "integer"}, {"minimum": 1}]},
    "one": {"oneOf": [{"type": "integer"}, {"const": "x"}]},
    "if_else": {"if": {"minimum": 0}, "then": {"type": "integer"}, "else": {"type": "number"}},
    "if_no_else": {"if": {"minimum": 0}, "then": {"type": "integer"}},
    "no_type": {"minimum": 0},
    "empty": {},
    "true": true,
    "false": false,
    "not": {"not": {"type": "string"}},
    "format": {"type": "string", "format": "date-time"},
    "both": {"type": ["number", "string"]}
  },
  "patternProperties": {
    "^both$": {"type": "number"},
    "^p_n_": {"type": "number"},
    "^p_s_": {"type": "string"}
  },
  "additionalProperties": {"type": "integer"},
  "$defs": {"n": {"type": "number"}, "ref": {"$ref": "#/$defs/n"}}
}`

func TestCoerceKeywords(t *testing.T) {
	sc := compileOne(t, keywordsSchema)
	tests := []struct {
		name, text string
		want       any // the text itself when it stays text
	}{
		{"s", "1", "1"},
		{"n", "1", json.Number("1")},
		{"n", "20.00", json.Number("20")},
		{"n", "-3.5e2", json.Number("-350")},
		{"n", "true", "true"},
		{"i", "1", json.Number("1")},
		{"i", "1.0", json.Number("1")},
		{"i", "1e2", json.Number("100")},
		{"i", "1.5", "1.5"},
		{"b", "true", true},
		{"b", "false", false},
		{"b", "1", "1"},
		{"b", "0", "0"},
		{"b", "True", "True"},
		{"b", "on", "on"},
		{"b", "", ""},
		{"null", "null", "null"},
		{"null", "", ""},
		{"sn", "1", "1"},
		{"ni", "1.5", json.Number("1.5")},
		{"ib", "1", json.Number("1")},
		{"ib", "true", true},
		{"nnull", "7", json.Number("7")},
		{"nnull", "", ""},
		{"enum_n", "4", json.Number("4")},
		{"enum_s", "1", "1"},
		{"enum_mixed", "1", "1"},
		{"const_b", "true", true},
		{"const_n", "2.50", json.Number("2.5")},
		{"typed_enum", "1", json.Number("1")},
		{"ref", "1.25", json.Number("1.25")},
		{"ref_ref", "1.25", json.Number("1.25")},
		{"all", "3", json.Number("3")},
		{"all_narrow", "3.0", json.Number("3")},
		{"all_narrow", "3.5", "3.5"},
		{"any", "3", json.Number("3")},
		{"any", "false", false},
		{"any_s", "3", "3"},
		{"any_open", "3", "3"},
		{"one", "3", "3"},
		{"if_else", "-1.5", json.Number("-1.5")},
		{"if_no_else", "3", "3"},
		{"no_type", "3", "3"},
		{"empty", "3", "3"},
		{"true", "3", "3"},
		{"false", "3", "3"},
		{"not", "3", "3"},
		{"format", "3", "3"},
		{"both", "3", json.Number("3")},
		{"p_n_x", "3", json.Number("3")},
		{"p_s_x", "3", "3"},
		{"other", "3", json.Number("3")},
		{"other", "3.5", "3.5"},
		{"other", "x", "x"},
		// Text that is not exactly a number stays text.
		{"n", "", ""},
		{"n", " 1", " 1"},
		{"n", "1 ", "1 "},
		{"n", "+1", "+1"},
		{"n", "01", "01"},
		{"n", ".5", ".5"},
		{"n", "1.", "1."},
		{"n", "1,5", "1,5"},
		{"n", "NaN", "NaN"},
		{"n", "Infinity", "Infinity"},
		{"n", "0x10", "0x10"},
		{"n", "1e401", "1e401"},
		{"n", strings.Repeat("1", 41), strings.Repeat("1", 41)},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.text, func(t *testing.T) {
			doc := map[string]any{tt.name: tt.text}
			sc.Coerce(doc, payload.DefaultLimits)
			if got := doc[tt.name]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Coerce(%s=%q) = %#v, want %#v", tt.name, tt.text, got, tt.want)
			}
		})
	}
}

// TestCoerceApplicators checks the object schemas that apply to the document through references
// and applicators at the root.
func TestCoerceApplicators(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		body   string
		want   map[string]any
	}{
		{"root allOf", `{"allOf": [{"properties": {"a": {"type": "number"}}}, {"properties": {"a": {"minimum": 0}}}]}`,
			"a=1", map[string]any{"a": json.Number("1")}},
		{"root allOf narrows", `{"allOf": [{"properties": {"a": {"type": ["number", "string"]}}}, {"properties": {"a": {"type": "number"}}}]}`,
			"a=1", map[string]any{"a": json.Number("1")}},
		{"root anyOf with a string branch", `{"anyOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"a": {"type": "string"}}}]}`,
			"a=1", map[string]any{"a": "1"}},
		{"root anyOf with an open branch", `{"anyOf": [{"properties": {"a": {"type": "integer"}}}, {"required": ["b"]}]}`,
			"a=1&b=2", map[string]any{"a": "1", "b": "2"}},
		{"root oneOf of closed variants",
			`{"oneOf": [{"properties": {"kind": {"const": "x"}, "v": {"type": "number"}}, "additionalProperties": false},
			            {"properties": {"kind": {"const": "y"}}, "additionalProperties": false}]}`,
			"kind=x&v=2.0", map[string]any{"kind": "x", "v": json.Number("2")}},
		{"branch that takes no object", `{"anyOf": [{"properties": {"a": {"type": "integer"}}}, {"type": "string"}]}`,
			"a=1", map[string]any{"a": json.Number("1")}},
		{"root ref", `{"$ref": "#/$defs/obj", "$defs": {"obj": {"properties": {"a": {"type": "integer"}}}}}`,
			"a=1", map[string]any{"a": json.Number("1")}},
		{"root if then else", `{"if": {"required": ["x"]}, "then": {"properties": {"a": {"type": "integer"}}},
			"else": {"properties": {"a": {"type": "number"}}}}`,
			"a=1.5", map[string]any{"a": json.Number("1.5")}},
		{"root then only", `{"if": {"required": ["x"]}, "then": {"properties": {"a": {"type": "integer"}}}}`,
			"a=1", map[string]any{"a": "1"}},
		{"property and pattern both apply", `{"properties": {"p": {"type": ["number", "string"]}}, "patternProperties": {"^p$": {"type": "number"}}}`,
			"p=1", map[string]any{"p": json.Number("1")}},
		{"additional properties only where nothing else matches",
			`{"properties": {"a": {"type": "string"}}, "patternProperties": {"^n": {"type": "number"}}, "additionalProperties": {"type": "boolean"}}`,
			"a=true&n1=1&x=true&y=1", map[string]any{"a": "true", "n1": json.Number("1"), "x": true, "y": "1"}},
		{"additional properties in another allOf member", `{"allOf": [{"properties": {"a": {"type": ["integer", "string"]}}}, {"additionalProperties": {"type": "integer"}}]}`,
			"a=1&b=2", map[string]any{"a": json.Number("1"), "b": json.Number("2")}},
		{"root takes no object", `{"type": "array"}`, "a=1", map[string]any{"a": "1"}},
		{"false root", `false`, "a=1", map[string]any{"a": "1"}},
		{"true root", `true`, "a=1", map[string]any{"a": "1"}},
		// The compiler refuses a schema that applies itself ("infinite loop"); recursion through
		// properties is fine.
		{"recursive schema", `{"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
			"properties": {"a": {"type": "integer"}, "child": {"$ref": "#/$defs/node"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
			"anyOf": [{"required": ["a"]}, {"properties": {"child": {"$ref": "#/$defs/node"}}}]}}}`,
			"a=1&child=2&children=3", map[string]any{"a": json.Number("1"), "child": "2", "children": "3"}},
		// A reference inside a nested resource is relative to it: not followed.
		{"nested id", `{"properties": {"a": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"type": "integer"}, "o": {"$id": "o.json", "type": "string"}}}`,
			"a=1", map[string]any{"a": "1"}},
		{"anchor reference", `{"properties": {"a": {"$ref": "#n"}}, "$defs": {"n": {"$anchor": "n", "type": "integer"}}}`,
			"a=1", map[string]any{"a": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := compileOne(t, tt.schema)
			doc := form(t, tt.body)
			sc.Coerce(doc, payload.DefaultLimits)
			if !reflect.DeepEqual(doc, tt.want) {
				t.Errorf("Coerce(%q) = %#v, want %#v", tt.body, doc, tt.want)
			}
		})
	}
}

// TestCoerceOtherDocuments checks that values that are not text, and a schema in another file,
// are left alone.
func TestCoerceOtherDocuments(t *testing.T) {
	set := schema.NewSet()
	set.Add("v/defs.json", []byte(`{"$defs": {"n": {"type": "number"}}}`))
	set.Add("v/v1.json", []byte(`{"properties": {"a": {"$ref": "defs.json#/$defs/n"}, "b": {"type": "number"}, "c": {"type": "number"}}}`))
	sc, err := set.Compile("v/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"a": "1", "b": map[string]any{"x": "1"}, "c": json.Number("1.50")}
	sc.Coerce(doc, payload.DefaultLimits)
	want := map[string]any{"a": "1", "b": map[string]any{"x": "1"}, "c": json.Number("1.50")}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("Coerce = %#v, want %#v", doc, want)
	}
}

// TestCoerceFanOut checks that a schema whose references fan out compiles and types quickly.
func TestCoerceFanOut(t *testing.T) {
	// d0 refers to d1 twice, d1 to d2 twice, and so on: 2^40 paths.
	var b strings.Builder
	b.WriteString(`{"$ref": "#/$defs/d0", "$defs": {`)
	for i := range 40 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"d` + strconv.Itoa(i) + `": {"properties": {"a": {"type": "integer"}}, "allOf": [{"$ref": "#/$defs/d` + strconv.Itoa(i+1) + `"}, {"$ref": "#/$defs/d` + strconv.Itoa(i+1) + `"}]}`)
	}
	b.WriteString(`, "d40": {"patternProperties": {"^p": {"type": "number"}}}}}`)
	start := time.Now()
	sc := compileOne(t, b.String())
	doc := form(t, "a=1&p=2&q=3")
	sc.Coerce(doc, payload.DefaultLimits)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Compile and Coerce of a fanned-out schema took %v", d)
	}
	if doc["a"] != json.Number("1") {
		t.Errorf("Coerce(a=1) = %#v, want 1", doc["a"])
	}
}

// TestCoerceAllocs checks that typing costs no allocation beyond the canonical texts it makes.
func TestCoerceAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	sc := compileOne(t, weatherSchema)
	_, doc := ecowitt(t)
	clone := testing.AllocsPerRun(100, func() { _ = maps.Clone(doc) })
	n := testing.AllocsPerRun(100, func() {
		d := maps.Clone(doc)
		sc.Coerce(d, payload.DefaultLimits)
	}) - clone
	// Per field made a number, one value holder, and a new text where the canonical form differs
	// (9 of 28 here).
	if n > 28+9 {
		t.Errorf("Coerce(ecowitt) allocates %v times, want at most %d", n, 28+9)
	}
}

// fuzzSchemas and fuzzForms seed the coercion fuzz targets.
var (
	fuzzSchemas = []string{weatherSchema, keywordsSchema, `{"properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}}`,
		`{"additionalProperties": {"type": ["number", "boolean"]}}`,
		`{"oneOf": [{"properties": {"a": {"type": "integer"}}, "additionalProperties": false}, {"properties": {"c": {"const": "x"}}}]}`}
	fuzzForms = []string{"a=1&b=true&c=x", "tempf=47.8&humidity=91&PASSKEY=307826236D0133E06009CE7FAFBBAFC4&dateutc=2021-12-24+11:31:57",
		"userid=12345&appli=1&date=2024-01-02", "n=20.00&i=1.0&b=false&s=1&other=3", "p_n_1=1e2&p_s_1=2&both=01",
		"temp1f=-0.0&humidity9=5&batt1=1&wh65batt=2&uv=1e0&winddir=360.0"}
)

// FuzzCoerce types random forms under the test schemas; see checkCoerce.
func FuzzCoerce(f *testing.F) {
	var schemas []*schema.Schema
	for _, s := range fuzzSchemas {
		schemas = append(schemas, compileOne(f, s))
	}
	for i := range fuzzSchemas {
		for _, fm := range fuzzForms {
			f.Add(uint8(i), fm)
		}
	}
	for _, tt := range []struct{ name, text string }{{"n", "1"}, {"i", "1.5"}, {"b", "true"}, {"sn", "2"}} {
		f.Add(uint8(1), tt.name+"="+tt.text)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		checkCoerce(t, schemas[int(which)%len(schemas)], fuzzSchemas[int(which)%len(schemas)], body)
	})
}

// FuzzCoerceSchema types random forms under random schemas (slow: a schema compiles per input).
func FuzzCoerceSchema(f *testing.F) {
	for _, s := range fuzzSchemas {
		for _, fm := range fuzzForms {
			f.Add(s, fm)
		}
	}
	f.Fuzz(func(t *testing.T, schemaText, body string) {
		if len(schemaText) > 4096 {
			return
		}
		set := schema.NewSet()
		set.Add("f/v1.json", []byte(schemaText))
		sc, err := set.Compile("f/v1.json")
		if err != nil {
			return
		}
		checkCoerce(t, sc, schemaText, body)
	})
}

// checkCoerce checks, for a schema and a form: a document valid as text is never changed (Coerce
// types only where the schema refuses text); what it changes becomes the canonical number or the
// boolean the text spells; and typing twice changes nothing more.
func checkCoerce(t *testing.T, sc *schema.Schema, schemaText, body string) {
	doc, err := payload.ParseForm([]byte(body), payload.DefaultLimits)
	if err != nil {
		return
	}
	orig := maps.Clone(doc)
	validAsText := sc.Validate(orig) == nil
	sc.Coerce(doc, payload.DefaultLimits)
	if validAsText && !reflect.DeepEqual(doc, orig) {
		t.Fatalf("Coerce(%q) = %#v under %s, but the text was valid", body, doc, schemaText)
	}
	for k, v := range doc {
		text := orig[k].(string)
		switch x := v.(type) {
		case string:
			if x != text {
				t.Fatalf("Coerce(%q)[%q] = %q, want %q", body, k, x, text)
			}
		case json.Number:
			if n, ok := payload.Number(text, payload.DefaultLimits); !ok || n != x {
				t.Fatalf("Coerce(%q)[%q] = %q from %q, want payload.Number's", body, k, x, text)
			}
		case bool:
			if text != "true" && text != "false" || x != (text == "true") {
				t.Fatalf("Coerce(%q)[%q] = %v from %q", body, k, x, text)
			}
		default:
			t.Fatalf("Coerce(%q)[%q] = %#v", body, k, v)
		}
	}
	again := maps.Clone(doc)
	sc.Coerce(again, payload.DefaultLimits)
	if !reflect.DeepEqual(again, doc) {
		t.Fatalf("Coerce twice(%q) = %#v, once %#v", body, again, doc)
	}
	_ = sc.Validate(doc)
}
