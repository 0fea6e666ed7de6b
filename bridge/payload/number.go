package payload

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Numbers are kept in a document as the vendor wrote them (json.Number), so that the schema judges
// the exact value. What leaves the process is their canonical form, from CanonicalNumber: one text
// per value, whatever the spelling.
//
// The canonical form is the layout of ECMAScript's Number::toString, the one RFC 8785 (JSON
// Canonicalization Scheme) uses, applied to the exact decimal value rather than to its nearest
// float64:
//
//   - an integer of at most 21 digits is written in full: 1e2 is 100, 1.5E3 is 1500, and a 19-digit
//     id or counter keeps every digit where a float64 would have rounded it;
//   - otherwise a value whose decimal point falls within those 21 digits, or at most 6 places
//     after it, is a plain decimal: 1.50 is 1.5, 5e-1 is 0.5, 1e-6 is 0.000001;
//   - anything else is one digit, a point and the other significant digits, and e+/e- and the
//     exponent: 1e21 is 1e+21, 1e-7 is 1e-7, 0.000…01e33 (a 1 with 33 places) is 1;
//   - zero is 0, negative zero and 0.000e5 included; trailing zeros of a fraction go.
//
// For every literal that is the shortest spelling of a float64 (what JavaScript and Go print, and
// so nearly all that vendors send), the result is exactly RFC 8785's. For literals with more digits
// than a float64 holds, it differs in keeping them all: canonical, lossless, and never rounded. The
// work is linear in the literal's length: the exponent is arithmetic, never a run of zeros beyond
// the 21 or 6 places above, so a huge exponent cannot cost memory or time.

// CanonicalNumber returns the canonical text of a JSON number literal (see above), or ok false
// when s is not a JSON number or its exponent, as written or as the value's, does not fit in 18
// digits. A literal already in
// canonical form is returned as is, without allocating.
func CanonicalNumber(s string) (canonical string, ok bool) {
	var buf [64]byte
	out, ok := AppendCanonicalNumber(buf[:0], s)
	if !ok {
		return "", false
	}
	if string(out) == s {
		return s, true
	}
	return string(out), true
}

// AppendCanonicalNumber appends the canonical text of a JSON number literal to dst; see
// CanonicalNumber. When ok is false dst is returned unchanged.
func AppendCanonicalNumber(dst []byte, s string) (out []byte, ok bool) {
	n, ok := splitNumber(s)
	if !ok {
		return dst, false
	}
	k := n.len()
	if k == 0 {
		return append(dst, '0'), true
	}
	if n.neg {
		dst = append(dst, '-')
	}
	point := n.point // value = 0.digits × 10^point
	switch {
	case k <= point && point <= 21:
		dst = n.appendDigits(dst, 0, k)
		for range point - k {
			dst = append(dst, '0')
		}
	case 0 < point && point <= 21:
		dst = n.appendDigits(dst, 0, point)
		dst = append(dst, '.')
		dst = n.appendDigits(dst, point, k)
	case -6 < point && point <= 0:
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		dst = n.appendDigits(dst, 0, k)
	default:
		dst = n.appendDigits(dst, 0, 1)
		if k > 1 {
			dst = append(dst, '.')
			dst = n.appendDigits(dst, 1, k)
		}
		dst = append(dst, 'e')
		if e := point - 1; e >= 0 {
			dst = append(dst, '+')
			dst = strconv.AppendInt(dst, e, 10)
		} else {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, -e, 10)
		}
	}
	return dst, true
}

// number is a JSON number literal taken apart: the value is ±0.digits × 10^point, where digits,
// the significant digits, are hi followed by lo (substrings of the literal, so that taking it apart
// allocates nothing), without leading or trailing zeros; none for zero.
type number struct {
	neg    bool
	hi, lo string
	point  int64
}

func (n number) len() int64 { return int64(len(n.hi) + len(n.lo)) }

// appendDigits appends the significant digits [from, to).
func (n number) appendDigits(dst []byte, from, to int64) []byte {
	h := int64(len(n.hi))
	if from < h {
		dst = append(dst, n.hi[from:min(to, h)]...)
	}
	if to > h {
		dst = append(dst, n.lo[max(from, h)-h:to-h]...)
	}
	return dst
}

// maxExponentDigits bounds the exponent's significant digits: with it and a literal shorter than
// 2^31 bytes, point fits an int64 with room to spare. maxCanonicalExponent is the same bound on
// the value's exponent, so that a canonical form is itself accepted.
const (
	maxExponentDigits    = 18
	maxCanonicalExponent = 999_999_999_999_999_999
)

// splitNumber parses a JSON number literal (RFC 8259 grammar, nothing around it).
func splitNumber(s string) (number, bool) {
	var n number
	i := 0
	if i < len(s) && s[i] == '-' {
		n.neg = true
		i++
	}
	intStart := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return number{}, false
	}
	intPart := s[intStart:i]
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return number{}, false
		}
		fracPart = s[start:i]
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		start := i
		for i < len(s) && s[i] == '0' {
			i++
		}
		sig := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i-sig > maxExponentDigits {
			return number{}, false
		}
		for _, c := range []byte(s[sig:i]) {
			exp = exp*10 + int64(c-'0')
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return number{}, false
	}

	// The value is 0.(intPart fracPart) × 10^(len(intPart)+exp). Drop leading zeros, each moving
	// the point one place left, then trailing zeros.
	point := int64(len(intPart)) + exp
	ip := trimLeadingZeros(intPart)
	point -= int64(len(intPart) - len(ip))
	switch f := trimTrailingZeros(fracPart); {
	case ip == "":
		fp := trimLeadingZeros(f)
		point -= int64(len(f) - len(fp))
		n.hi = fp
	case f == "":
		n.hi = trimTrailingZeros(ip)
	default:
		n.hi, n.lo = ip, f
	}
	if n.hi == "" {
		return number{}, true // zero, which has no sign
	}
	if e := point - 1; e > maxCanonicalExponent || e < -maxCanonicalExponent {
		return number{}, false // its canonical form would be refused in turn
	}
	n.point = point
	return n, true
}

func trimLeadingZeros(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

func trimTrailingZeros(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

// canonicalScalar returns the canonical text of a number Parse produced. Parse bounds the
// exponent, so this cannot fail for its numbers; for a json.Number made elsewhere that is not a
// number literal, the text is returned unchanged.
func canonicalScalar(n json.Number) string {
	if c, ok := CanonicalNumber(string(n)); ok {
		return c
	}
	return string(n)
}

// Number returns the number that s holds when s is exactly a JSON number literal that Parse would
// take with lim (RFC 8259 grammar: no '+', no leading zeros, no spaces, no NaN or Infinity; at
// most lim.MaxNumberLen characters; an exponent, as written and as the value's, within Parse's
// range), in canonical form (CanonicalNumber), so that it is published like a number that came as
// JSON. ok is false otherwise. It is how text from a form or query string becomes a number.
func Number(s string, lim Limits) (n json.Number, ok bool) {
	if lim.MaxNumberLen > 0 && len(s) > lim.MaxNumberLen {
		return "", false
	}
	if e := strings.IndexAny(s, "eE"); e >= 0 {
		digits := strings.TrimLeft(s[e+1:], "+-")
		if exp, err := strconv.Atoi(digits); err != nil || exp > maxExponent {
			return "", false
		}
	}
	sn, ok := splitNumber(s)
	if !ok || sn.len() > 0 && (sn.point-1 > maxExponent || sn.point-1 < -maxExponent) {
		return "", false
	}
	c, ok := CanonicalNumber(s)
	if !ok {
		return "", false
	}
	return json.Number(c), true
}

// IsInteger reports whether n is a number literal whose value is an integer, however it is
// written: 1, 1.0, 1e2 and 1.5e1 are integers (as in JSON Schema), 1.5 and 1e-1 are not.
func IsInteger(n json.Number) bool {
	sn, ok := splitNumber(string(n))
	return ok && sn.len() <= sn.point
}
