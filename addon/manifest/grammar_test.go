package manifest

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// schemaElement is the Supervisor's RE_SCHEMA_ELEMENT (supervisor/apps/options.py), the grammar of
// one option type. Go's regexp picks among alternatives the way Python's re does, so it accepts
// exactly the same strings.
var schemaElement = regexp.MustCompile(`^(?:` +
	`|bool` +
	`|email` +
	`|url` +
	`|port` +
	`|device(?:\((?P<filter>subsystem=[a-z]+)\))?` +
	`|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?` +
	`|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?` +
	`|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?` +
	`|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?` +
	`|match\((?P<match>.*)\)` +
	`|list\((?P<list>.+)\)` +
	`)\??$`)

// optionType is one parsed option type, e.g. "int(1,10)?".
type optionType struct {
	base     string // bool, email, url, port, device, str, password, int, float, match, list
	optional bool
	min, max string // bounds as written, "" when absent
	pattern  string // match(...)
	choices  []string
}

// parseType checks one option type against the Supervisor's grammar, plus what the grammar lets
// through but the Supervisor then gets wrong: an empty type, bounds the wrong way round, a match()
// that is not a valid regular expression, an empty list() choice, and length bounds on str or
// password, which Supervisors before 2026-07 (supervisor#7044) apply to the text itself, refusing
// every value.
func parseType(s string) (optionType, error) {
	m := schemaElement.FindStringSubmatch(s)
	if m == nil {
		return optionType{}, errors.New("not in the Supervisor's type grammar")
	}
	g := func(name string) string { return m[schemaElement.SubexpIndex(name)] }
	ot := optionType{optional: strings.HasSuffix(s, "?")}
	body := strings.TrimSuffix(s, "?")
	if body == "" {
		return ot, errors.New("empty type")
	}
	ot.base = body
	if i := strings.IndexByte(body, '('); i >= 0 {
		ot.base = body[:i]
	}
	switch ot.base {
	case "str", "password":
		if g("s_min")+g("s_max")+g("p_min")+g("p_max") != "" || strings.Contains(body, "(") {
			return ot, errors.New("length bounds on str/password: Supervisors before 2026-07 refuse every value; let the app check lengths")
		}
	case "int":
		ot.min, ot.max = g("i_min"), g("i_max")
	case "float":
		ot.min, ot.max = g("f_min"), g("f_max")
	case "match":
		ot.pattern = g("match")
		if _, err := regexp.Compile(ot.pattern); err != nil {
			return ot, fmt.Errorf("match() pattern does not compile: %v", err)
		}
	case "list":
		ot.choices = strings.Split(g("list"), "|")
		for _, c := range ot.choices {
			if c == "" {
				return ot, errors.New("list() has an empty choice")
			}
		}
	}
	if ot.min != "" && ot.max != "" {
		lo, _ := strconv.ParseFloat(ot.min, 64)
		hi, _ := strconv.ParseFloat(ot.max, 64)
		if lo > hi {
			return ot, fmt.Errorf("minimum %s is above maximum %s", ot.min, ot.max)
		}
	}
	return ot, nil
}

// checkSchema walks a Supervisor option schema: leaves are type strings, a dict maps names to
// elements, a list holds exactly one element, and a list may not directly hold a list (the
// Supervisor's SCHEMA_ELEMENT).
func checkSchema(v any, path string) []string {
	switch x := v.(type) {
	case string:
		if _, err := parseType(x); err != nil {
			return []string{fmt.Sprintf("%s: %q: %v", path, x, err)}
		}
		return nil
	case map[string]any:
		if len(x) == 0 {
			return []string{path + ": empty dict"}
		}
		var out []string
		for _, k := range sortedKeys(x) {
			out = append(out, checkSchema(x[k], join(path, k))...)
		}
		return out
	case []any:
		if len(x) != 1 {
			return []string{fmt.Sprintf("%s: a list holds exactly one element type, not %d", path, len(x))}
		}
		if _, nested := x[0].([]any); nested {
			return []string{path + ": a list may not directly hold a list"}
		}
		return checkSchema(x[0], path+"[]")
	}
	return []string{fmt.Sprintf("%s: %T is not a type, dict or list", path, v)}
}

func TestSchemaFollowsSupervisorGrammar(t *testing.T) {
	schema := object(t, manifest(t), "schema")
	for _, p := range checkSchema(schema, "") {
		t.Errorf("config.yaml schema.%s", p)
	}
}

func TestTypeGrammar(t *testing.T) {
	tests := []struct {
		typ string
		ok  bool
	}{
		{"str", true},
		{"str?", true},
		{"password", true},
		{"password?", true},
		{"bool", true},
		{"email", true},
		{"url?", true},
		{"port", true},
		{"int", true},
		{"int(1,10)", true},
		{"int(,10)", true},
		{"int(1,)", true},
		{"int(-5,5)?", true},
		{"float", true},
		{"float(0.5,2)", true},
		{"float(-1.5,)", true},
		{"match(^[a-z]+$)", true},
		{"match(^(tcp|ssl)://.+$)?", true},
		{"list(a|b|c)", true},
		{"list(a|b)?", true},
		{"device", true},
		{"device(subsystem=tty)", true},

		{"", false},
		{"?", false},
		{"string", false},
		{"integer", false},
		{"Str", false},
		{"str=hello", false},
		{"int(1,10", false},
		{"int(1.5,10)", false},
		{"int(10,1)", false},
		{"float(2,1)", false},
		{"int(1;10)", false},
		{"int??", false},
		{"bool(1,2)", false},
		{"match()x", false},
		{"match(^[a-z$)", false},
		{"list()", false},
		{"list(a||b)", false},
		{"str(1,64)", false},
		{"password(8,)", false},
		{" str", false},
		{"str ", false},
	}
	for _, tc := range tests {
		_, err := parseType(tc.typ)
		if got := err == nil; got != tc.ok {
			t.Errorf("parseType(%q) error = %v, want ok %v", tc.typ, err, tc.ok)
		}
	}
}

func TestSchemaShape(t *testing.T) {
	tests := []struct {
		name   string
		schema any
		ok     bool
	}{
		{"scalar", "str", true},
		{"list of scalars", []any{"str"}, true},
		{"list of dicts", []any{map[string]any{"a": "str", "b": []any{"int"}}}, true},
		{"dict", map[string]any{"a": "bool?"}, true},
		{"list of lists", []any{[]any{"str"}}, false},
		{"list of two", []any{"str", "int"}, false},
		{"empty list", []any{}, false},
		{"empty dict", map[string]any{}, false},
		{"number", 5.0, false},
		{"bad leaf deep down", []any{map[string]any{"a": "strng"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkSchema(tc.schema, "x")
			if (len(got) == 0) != tc.ok {
				t.Errorf("checkSchema(%v) = %v, want ok %v", tc.schema, got, tc.ok)
			}
		})
	}
}

// supervisorValidate validates options against an option schema the way the Supervisor does
// before writing /data/options.json (AppOptions in supervisor/apps/options.py), except that it is
// strict where the Supervisor is lenient: a key the schema does not know is reported (the
// Supervisor drops it with a warning), and scalars must have their JSON type (the Supervisor
// coerces "5" to 5).
func supervisorValidate(schema map[string]any, options map[string]any) []string {
	return validateDict(schema, options, "")
}

func validateDict(schema, value map[string]any, path string) []string {
	var out []string
	for _, k := range sortedKeys(value) {
		typ, ok := schema[k]
		if !ok {
			out = append(out, join(path, k)+": not in the schema")
			continue
		}
		out = append(out, validateElement(typ, value[k], join(path, k))...)
	}
	for _, k := range sortedKeys(schema) {
		if _, ok := value[k]; ok {
			continue
		}
		typ := schema[k]
		if l, ok := typ.([]any); ok && len(l) > 0 {
			typ = l[0]
		}
		if s, ok := typ.(string); ok && strings.HasSuffix(s, "?") {
			continue
		}
		out = append(out, join(path, k)+": missing")
	}
	return out
}

func validateElement(typ, value any, path string) []string {
	switch t := typ.(type) {
	case []any:
		list, ok := value.([]any)
		if !ok {
			return []string{path + ": not a list"}
		}
		var out []string
		for i, e := range list {
			out = append(out, validateElement(t[0], e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case map[string]any:
		d, ok := value.(map[string]any)
		if !ok {
			return []string{path + ": not a dict"}
		}
		return validateDict(t, d, path)
	case string:
		if err := validateScalar(t, value); err != nil {
			return []string{fmt.Sprintf("%s: %v", path, err)}
		}
		return nil
	}
	return []string{fmt.Sprintf("%s: schema element %T", path, typ)}
}

func validateScalar(typ string, v any) error {
	if v == nil {
		return errors.New("missing required option")
	}
	ot, err := parseType(typ)
	if err != nil {
		return err
	}
	str, isStr := v.(string)
	num, isNum := v.(float64)
	inRange := func() error {
		if ot.min != "" {
			if lo, _ := strconv.ParseFloat(ot.min, 64); num < lo {
				return fmt.Errorf("%v below %s", num, ot.min)
			}
		}
		if ot.max != "" {
			if hi, _ := strconv.ParseFloat(ot.max, 64); num > hi {
				return fmt.Errorf("%v above %s", num, ot.max)
			}
		}
		return nil
	}
	switch ot.base {
	case "str", "password", "device":
		if !isStr {
			return fmt.Errorf("%v is not a string", v)
		}
	case "int":
		if !isNum || num != math.Trunc(num) {
			return fmt.Errorf("%v is not a whole number", v)
		}
		return inRange()
	case "float":
		if !isNum {
			return fmt.Errorf("%v is not a number", v)
		}
		return inRange()
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%v is not a boolean", v)
		}
	case "port":
		if !isNum || num != math.Trunc(num) || num < 1 || num > 65535 {
			return fmt.Errorf("%v is not a port", v)
		}
	case "email":
		if !isStr || !strings.Contains(strings.TrimPrefix(str, "@"), "@") {
			return fmt.Errorf("%v is not an email address", v)
		}
	case "url":
		u, err := url.Parse(str)
		if !isStr || err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("%v is not a URL", v)
		}
	case "match":
		// Python's re.match anchors at the start only.
		if !isStr || !regexp.MustCompile(`^(?:`+ot.pattern+`)`).MatchString(str) {
			return fmt.Errorf("%v does not match %s", v, ot.pattern)
		}
	case "list":
		for _, c := range ot.choices {
			if str == c {
				return nil
			}
		}
		return fmt.Errorf("%v is not one of %s", v, strings.Join(ot.choices, ", "))
	}
	return nil
}

func TestSupervisorValidator(t *testing.T) {
	schema := map[string]any{
		"level": "list(a|b)",
		"n":     "int(1,10)",
		"opt":   "str?",
		"hosts": []any{"str"},
		"tags":  []any{"str?"},
		"nest":  map[string]any{"u": "match(^tcp://)?", "p": "password"},
		"items": []any{map[string]any{"name": "str", "on": "bool?"}},
	}
	base := `"level": "a", "n": 5, "hosts": [], "nest": {"p": "x"}, "items": []`
	tests := []struct {
		name    string
		options string
		ok      bool
	}{
		{"minimal", `{` + base + `}`, true},
		{"optional set", `{` + base + `, "opt": "x", "tags": ["t"]}`, true},
		{"list items", `{"level": "b", "n": 1, "hosts": ["h"], "nest": {"p": "", "u": "tcp://x"}, "items": [{"name": "a"}, {"name": "b", "on": false}]}`, true},
		{"unknown key", `{` + base + `, "extra": 1}`, false},
		{"missing required", `{"level": "a", "hosts": [], "nest": {"p": "x"}, "items": []}`, false},
		{"missing required list", `{"level": "a", "n": 5, "nest": {"p": "x"}, "items": []}`, false},
		{"missing list of dicts", `{"level": "a", "n": 5, "hosts": [], "nest": {"p": "x"}}`, false},
		{"bad choice", `{"level": "c", "n": 5, "hosts": [], "nest": {"p": "x"}, "items": []}`, false},
		{"out of range", `{"level": "a", "n": 11, "hosts": [], "nest": {"p": "x"}, "items": []}`, false},
		{"not whole", `{"level": "a", "n": 1.5, "hosts": [], "nest": {"p": "x"}, "items": []}`, false},
		{"nested missing", `{"level": "a", "n": 5, "hosts": [], "nest": {}, "items": []}`, false},
		{"match fails", `{"level": "a", "n": 5, "hosts": [], "nest": {"p": "x", "u": "http://x"}, "items": []}`, false},
		{"item missing name", `{"level": "a", "n": 5, "hosts": [], "nest": {"p": "x"}, "items": [{"on": true}]}`, false},
		{"list not a list", `{"level": "a", "n": 5, "hosts": "h", "nest": {"p": "x"}, "items": []}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := supervisorValidate(schema, decodeJSON(t, []byte(tc.options)).(map[string]any))
			if (len(got) == 0) != tc.ok {
				t.Errorf("supervisorValidate(%s) = %v, want ok %v", tc.options, got, tc.ok)
			}
		})
	}
}
