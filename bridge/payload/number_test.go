package payload_test

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/payload"
)

// canonicalTests are literals and their canonical form; want "" means not a number.
var canonicalTests = []struct {
	name, in, want string
}{
	{"zero", "0", "0"},
	{"negative zero", "-0", "0"},
	{"zero with a fraction", "0.000", "0"},
	{"negative zero with an exponent", "-0.0e5", "0"},
	{"zero with a negative exponent", "0e-400", "0"},
	{"integer", "42", "42"},
	{"negative integer", "-17", "-17"},
	{"exponent", "1e2", "100"},
	{"capital exponent", "1E2", "100"},
	{"exponent with plus", "1e+2", "100"},
	{"exponent with leading zeros", "1e0002", "100"},
	{"integer with a zero fraction", "100.0", "100"},
	{"trailing zero", "1.50", "1.5"},
	{"negative trailing zero", "-1.50", "-1.5"},
	{"fraction", "3.25", "3.25"},
	{"fraction as exponent", "5e-1", "0.5"},
	{"fraction moved by the exponent", "123.456e-2", "1.23456"},
	{"fraction made whole", "1.2345e4", "12345"},
	{"negative with exponent", "-1.5e3", "-1500"},
	{"one millionth", "0.000001", "0.000001"},
	{"one millionth as exponent", "1e-6", "0.000001"},
	{"one ten-millionth", "0.0000001", "1e-7"},
	{"one ten-millionth as exponent", "1e-7", "1e-7"},
	{"small with digits", "-1.5e-7", "-1.5e-7"},
	{"small with leading zeros", "0.00000012300", "1.23e-7"},
	{"twenty digits", "1e20", "100000000000000000000"},
	{"21 digits", "123456789012345678901", "123456789012345678901"},
	{"21 digits from an exponent", "1.23456789012345678901e20", "123456789012345678901"},
	{"22 digits", "1234567890123456789012", "1.234567890123456789012e+21"},
	{"10^21", "1e21", "1e+21"},
	{"10^21 written out", "1000000000000000000000", "1e+21"},
	{"2^53 + 1 stays exact", "9007199254740993", "9007199254740993"},
	{"19-digit id stays exact", "12345678901234567890", "12345678901234567890"},
	{"19-digit id with an exponent", "1.2345678901234567890e19", "12345678901234567890"},
	{"more digits than a float64", "0.30000000000000000001", "0.30000000000000000001"},
	{"battery level with 33 places", "0.000000000000000000000000000000001e33", "1"},
	{"exponent at the parser's limit", "1e400", "1e+400"},
	{"negative exponent at the parser's limit", "-2.5e-400", "-2.5e-400"},
	{"exponent of 18 digits", "1e999999999999999999", "1e+999999999999999999"},
	{"exponent of 18 digits after zeros", "7e-000000999999999999999999", "7e-999999999999999999"},
	{"exponent cancels the places", "0.00000000000000000000000000000000000001e38", "1"},
	// RFC 8785, section 3.2.2.3 and appendix B (as decimal literals).
	{"RFC 8785 4.50", "4.50", "4.5"},
	{"RFC 8785 2e-3", "2e-3", "0.002"},
	{"RFC 8785 1e-27", "0.000000000000000000000000001", "1e-27"},
	{"RFC 8785 1e+30", "1E30", "1e+30"},
	{"RFC 8785 max float64", "1.7976931348623157e308", "1.7976931348623157e+308"},
	{"RFC 8785 smallest float64", "5e-324", "5e-324"},
	// Not numbers.
	{"empty", "", ""},
	{"minus alone", "-", ""},
	{"leading zero", "01", ""},
	{"dot last", "1.", ""},
	{"dot first", ".5", ""},
	{"empty exponent", "1e", ""},
	{"signed empty exponent", "1e+", ""},
	{"plus sign", "+1", ""},
	{"space before", " 1", ""},
	{"space after", "1 ", ""},
	{"NaN", "NaN", ""},
	{"hex", "0x10", ""},
	{"exponent of 19 digits", "1e1000000000000000000", ""},
	{"value's exponent of 19 digits", "10e999999999999999999", ""},
	{"value's negative exponent of 19 digits", "0.1e-999999999999999999", ""},
}

func TestCanonicalNumber(t *testing.T) {
	for _, tt := range canonicalTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := payload.CanonicalNumber(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("CanonicalNumber(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
			}
			if !ok {
				if out, ok := payload.AppendCanonicalNumber([]byte("x"), tt.in); ok || string(out) != "x" {
					t.Errorf("AppendCanonicalNumber(x, %q) = %q, %v, want x, false", tt.in, out, ok)
				}
				return
			}
			if out, _ := payload.AppendCanonicalNumber([]byte("x"), tt.in); string(out) != "x"+tt.want {
				t.Errorf("AppendCanonicalNumber(x, %q) = %q, want %q", tt.in, out, "x"+tt.want)
			}
			if again, _ := payload.CanonicalNumber(got); again != got {
				t.Errorf("CanonicalNumber(%q) = %q, want it unchanged (canonical)", got, again)
			}
		})
	}
}

// TestCanonicalNumberRFC8785 checks the float64 values of RFC 8785's appendix B: Go's shortest
// formatting of each, made canonical, is the serialization the RFC gives.
func TestCanonicalNumberRFC8785(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		f := math.Float64frombits(tt.bits)
		lit := strconv.FormatFloat(f, 'g', -1, 64)
		if got, ok := payload.CanonicalNumber(lit); !ok || got != tt.want {
			t.Errorf("CanonicalNumber(%s) (float64 %#016x) = %q, %v, want %q", lit, tt.bits, got, ok, tt.want)
		}
	}
}

func TestCanonicalNumberAllocs(t *testing.T) {
	for _, in := range []string{"0", "42", "-17", "3.25", "0.000001", "1e-7", "1.5e+30", "12345678901234567890"} {
		if n := testing.AllocsPerRun(100, func() { payload.CanonicalNumber(in) }); n != 0 {
			t.Errorf("CanonicalNumber(%q) allocates %v times, want none for a canonical literal", in, n)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { payload.AppendCanonicalNumber(buf[:0], "1.50e2") }); n != 0 {
		t.Errorf("AppendCanonicalNumber with room allocates %v times, want none", n)
	}
}

// TestCanonicalNumberBounded feeds literals built to cost: the work stays linear in the literal and
// the result no longer than it plus the exponent's few characters.
func TestCanonicalNumberBounded(t *testing.T) {
	long := strings.Repeat("7", 1<<20)
	tests := []string{
		"1e999999999999999999",
		"-1e-999999999999999999",
		"0." + strings.Repeat("0", 1<<20) + "1e999999999999999999",
		long,
		long + "." + long + "e-999999999999999999",
		"1" + strings.Repeat("0", 1<<20) + "e-999999999999999999",
	}
	for _, in := range tests {
		start := time.Now()
		got, ok := payload.CanonicalNumber(in)
		if !ok {
			t.Errorf("CanonicalNumber(%.20q... %d bytes) refused, want a result", in, len(in))
			continue
		}
		if len(got) > len(in)+30 {
			t.Errorf("CanonicalNumber(%.20q... %d bytes) = %d bytes, want at most %d", in, len(in), len(got), len(in)+30)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("CanonicalNumber(%.20q... %d bytes) took %v", in, len(in), d)
		}
	}
}

// rat returns a literal's exact value.
func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot read %q", s)
	}
	return r
}

// FuzzCanonicalNumber checks, for any text: CanonicalNumber accepts exactly the JSON number
// literals (up to its exponent bound); for the numbers Parse takes, the result is a number of the
// same exact value, canonical itself, no longer than the literal plus a few characters, and,
// whenever the literal is exactly the shortest form of a float64, RFC 8785's serialization.
func FuzzCanonicalNumber(f *testing.F) {
	for _, tt := range canonicalTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := payload.CanonicalNumber(in)
		v, err := payload.Parse([]byte(in), payload.DefaultLimits)
		num, isNum := v.(json.Number)
		isNum = isNum && err == nil && string(num) == in // no whitespace around
		if !ok {
			if isNum {
				t.Fatalf("CanonicalNumber(%q) refused a number Parse takes", in)
			}
			return
		}
		if !json.Valid([]byte(in)) || (in[0] != '-' && (in[0] < '0' || in[0] > '9')) || strings.TrimSpace(in) != in {
			t.Fatalf("CanonicalNumber(%q) = %q, but it is not a JSON number", in, got)
		}
		if again, ok := payload.CanonicalNumber(got); !ok || again != got {
			t.Fatalf("CanonicalNumber(%q) = %q, whose canonical form is %q, %v", in, got, again, ok)
		}
		if len(got) > len(in)+30 {
			t.Fatalf("CanonicalNumber(%q) = %q, longer than the literal plus 30", in, got)
		}
		if !isNum {
			return // an exponent past Parse's bound: big.Rat would take too long
		}
		if p, err := payload.Parse([]byte(got), payload.Limits{}); err != nil || p != json.Number(got) {
			t.Fatalf("Parse(CanonicalNumber(%q) = %q) = %#v, %v, want the number", in, got, p, err)
		}
		if rat(t, in).Cmp(rat(t, got)) != 0 {
			t.Fatalf("CanonicalNumber(%q) = %q, another value", in, got)
		}
		fl, err := strconv.ParseFloat(in, 64)
		if err != nil || fl == 0 {
			return // out of float64's range, or zero (tested by the table)
		}
		shortest := strconv.FormatFloat(fl, 'g', -1, 64)
		if rat(t, shortest).Cmp(rat(t, in)) == 0 {
			if want := esNumberToString(fl); got != want {
				t.Fatalf("CanonicalNumber(%q) = %q, want %q as ECMAScript prints the float64", in, got, want)
			}
		}
	})
}

// esNumberToString follows ECMAScript's Number::toString (ECMA-262, 6.1.6.1.20) step by step, with
// Go's shortest round-trip digits for s and k: the reference RFC 8785 points to.
func esNumberToString(m float64) string {
	if m == 0 {
		return "0"
	}
	if m < 0 {
		return "-" + esNumberToString(-m)
	}
	// m = s × 10^(n−k), s of k digits, k as small as possible.
	mant, exp, _ := strings.Cut(strconv.FormatFloat(m, 'e', -1, 64), "e")
	digits := strings.Replace(mant, ".", "", 1)
	k := len(digits)
	e, _ := strconv.Atoi(exp)
	n := e + 1
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	abs := strconv.Itoa(max(n-1, 1-n))
	if k == 1 {
		return digits + "e" + sign + abs
	}
	return digits[:1] + "." + digits[1:] + "e" + sign + abs
}

// numberTests are texts from forms and what Number makes of them; want "" means not a number.
var numberTests = []struct {
	name, in, want string
}{
	{"integer", "1", "1"},
	{"zero", "0", "0"},
	{"negative", "-3.2", "-3.2"},
	// Ecowitt's values (https://www.pa3hcm.nl/?p=2095) and Particle's data
	// (https://docs.particle.io/reference/cloud-apis/webhooks/).
	{"trailing zeros", "20.00", "20"},
	{"ecowitt rain", "0.000", "0"},
	{"ecowitt pressure", "29.565", "29.565"},
	{"ecowitt gust", "21.70", "21.7"},
	{"withings epoch", "1530576000", "1530576000"},
	{"particle coordinate", "-104.984703", "-104.984703"},
	{"exponent", "1e2", "100"},
	{"negative zero", "-0", "0"},
	{"exponent at the limit", "1e400", "1e+400"},
	// The canonical form may be longer than the text: MaxNumberLen bounds what the sender wrote.
	{"forty characters", "-1234567890123456789012345678901234567.8", "-1.2345678901234567890123456789012345678e+36"},
	{"empty", "", ""},
	{"space before", " 1", ""},
	{"space after", "1 ", ""},
	{"plus sign", "+1", ""},
	{"leading zero", "01", ""},
	{"leading zero in a postcode", "01234", ""},
	{"dot first", ".5", ""},
	{"dot last", "1.", ""},
	{"comma", "1,5", ""},
	{"hex", "0x10", ""},
	{"NaN", "NaN", ""},
	{"infinity", "Infinity", ""},
	{"unit", "868M", ""},
	{"underscore", "1_000", ""},
	{"two numbers", "1 2", ""},
	{"boolean", "true", ""},
	{"forty-one characters", "12345678901234567890123456789012345678901", ""},
	{"exponent just over", "1e401", ""},
	{"value's exponent just over", "10e400", ""},
	{"negative exponent just over", "1e-401", ""},
	{"huge exponent", "1e99999999999999999999", ""},
}

func TestNumber(t *testing.T) {
	for _, tt := range numberTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := payload.Number(tt.in, payload.DefaultLimits)
			if string(got) != tt.want || ok != (tt.want != "") {
				t.Errorf("Number(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
			}
		})
	}
	if got, ok := payload.Number("1234", payload.Limits{MaxNumberLen: 3}); ok {
		t.Errorf("Number(1234, MaxNumberLen 3) = %q, want not a number", got)
	}
	if got, ok := payload.Number(strings.Repeat("9", 100), payload.Limits{}); !ok || len(got) != 105 {
		t.Errorf("Number(100 digits, no limit) = %q, %v, want the number", got, ok)
	}
}

func TestIsInteger(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0", true}, {"-0", true}, {"1", true}, {"-17", true}, {"1.0", true}, {"1e2", true}, {"1.5e1", true},
		{"1e+21", true}, {"1.5e+22", true}, {"12345678901234567890123.5", false}, {"1.5", false},
		{"1e-1", false}, {"0.5", false}, {"1.5e-7", false}, {"-2.50", false}, {"x", false}, {"", false},
	}
	for _, tt := range tests {
		if got := payload.IsInteger(json.Number(tt.in)); got != tt.want {
			t.Errorf("IsInteger(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzNumber checks that Number takes exactly the texts that Parse takes as a number, and gives
// their canonical form.
func FuzzNumber(f *testing.F) {
	for _, tt := range numberTests {
		f.Add(tt.in)
	}
	for _, tt := range canonicalTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := payload.Number(s, payload.DefaultLimits)
		doc, err := payload.Parse([]byte(s), payload.DefaultLimits)
		n, isNumber := doc.(json.Number)
		if ok != (err == nil && isNumber && string(n) == s) {
			t.Fatalf("Number(%q) = %q, %v; Parse = %#v, %v", s, got, ok, doc, err)
		}
		if !ok {
			return
		}
		if c, _ := payload.CanonicalNumber(s); string(got) != c {
			t.Fatalf("Number(%q) = %q, want the canonical %q", s, got, c)
		}
		// The canonical form is a number Parse takes in turn (it may be longer than the text).
		if again, err := payload.Parse([]byte(got), payload.Limits{}); err != nil || again != got {
			t.Fatalf("Parse(Number(%q) = %q) = %#v, %v", s, got, again, err)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat refuses %q", s)
		}
		if payload.IsInteger(got) != r.IsInt() {
			t.Fatalf("IsInteger(%q) = %v, want %v", got, payload.IsInteger(got), r.IsInt())
		}
	})
}
