package learn

import (
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// The rules that decide what a value or a key looks like. They err on the side of privacy: a
// false "identifier" costs an enum in the draft and adds a pseudonymize hint; a false "plain"
// would put a value in the store and the draft.

// Format validators of the schema library itself (bridge/schema compiles with it and asserts
// formats), so that a format the draft names accepts every value it was learnt from.
var (
	isDateTime = jsonschema.Formats["date-time"]
	isDate     = jsonschema.Formats["date"]
	isEmail    = jsonschema.Formats["email"]
	isURI      = jsonschema.Formats["uri"]
	isIPv4     = jsonschema.Formats["ipv4"]
	isUUID     = jsonschema.Formats["uuid"]
)

// Limits on enum candidates: a value longer than this is never one.
const maxEnumLen = 32

// formatKinds are the identifier kinds a format implies.
func formatKinds(f Formats) Kinds {
	var k Kinds
	if f&FormatEmail != 0 {
		k |= KindEmail
	}
	if f&FormatMAC != 0 {
		k |= KindMAC
	}
	if f&FormatUUID != 0 {
		k |= KindID
	}
	if f&FormatIPv4 != 0 {
		k |= KindNetwork
	}
	return k
}

// class is what a string value looks like.
type class struct {
	formats Formats // formats it matches, among those asked for
	kinds   Kinds   // identifier kinds it looks like
	plain   bool    // it may be an enum value: short, a word, nothing identifier-like
	runes   int     // length in code points, as JSON Schema's maxLength counts
}

// classify looks at a string value. want holds the formats worth checking exactly (some cost a
// parse); the others are left out of the result. The identifier checks always run.
func classify(s string, want Formats) class {
	var digits, lower, upper, hexLetters, space, ctrl, nonASCII, cont, at, dot, dash, colon, comma, plus, paren, other int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
			if c <= 'f' {
				hexLetters++
			}
		case c >= 'A' && c <= 'Z':
			upper++
			if c <= 'F' {
				hexLetters++
			}
		case c == ' ' || c == '\t':
			space++
		case c < 0x20 || c == 0x7f:
			ctrl++
		case c >= 0x80:
			nonASCII++
			if c&0xC0 == 0x80 {
				cont++
			}
		case c == '@':
			at++
		case c == '.':
			dot++
		case c == '-':
			dash++
		case c == ':':
			colon++
		case c == ',':
			comma++
		case c == '+':
			plus++
		case c == '(' || c == ')':
			paren++
		default:
			other++
		}
	}
	n := len(s)
	cl := class{runes: n - cont}
	letters := lower + upper

	// Formats: a cheap shape test first, the schema library's validator only when it passes.
	if want&FormatNumeric != 0 && digits > 0 && digits+dot+dash == n && isNumeric(s) {
		cl.formats |= FormatNumeric
	}
	if want&FormatIPv4 != 0 && dot == 3 && digits+dot == n && n <= 15 && isIPv4(s) {
		cl.formats |= FormatIPv4
	}
	if want&FormatDate != 0 && n == 10 && digits == 8 && s[4] == '-' && s[7] == '-' && isDate(s) {
		cl.formats |= FormatDate
	}
	if want&FormatDateTime != 0 && n >= 20 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') && isDateTime(s) {
		cl.formats |= FormatDateTime
	}
	if want&FormatUUID != 0 && n == 36 && dash == 4 && digits+hexLetters == 32 && isUUID(s) {
		cl.formats |= FormatUUID
	}
	if want&FormatMAC != 0 && n == 17 && digits+hexLetters == 12 && isMAC(s) {
		cl.formats |= FormatMAC
	}
	if want&FormatEmail != 0 && at > 0 && isEmail(s) {
		cl.formats |= FormatEmail
	}
	if want&FormatURI != 0 && colon > 0 && letters > 0 && strings.Contains(s, "://") && isURI(s) {
		cl.formats |= FormatURI
	}

	// Identifier kinds by value. The format checks above may have been skipped (not wanted), so
	// the shapes that imply a kind are tested here on their own, cheaply.
	cl.kinds = formatKinds(cl.formats)
	switch {
	case at > 0 && space == 0:
		cl.kinds |= KindEmail // anything shaped like user@host or @handle, valid or not
	case n == 17 && digits+hexLetters == 12 && colon+dash == 5:
		cl.kinds |= KindMAC
	case n == 36 && dash == 4 && digits+hexLetters == 32:
		cl.kinds |= KindID // a UUID
	case dot == 3 && digits+dot == n && n <= 15:
		cl.kinds |= KindNetwork // an IPv4 address
	}
	date := n >= 10 && digits >= 6 && s[4] == '-' && s[7] == '-' && isDigit(s[0])
	switch {
	case plus == 1 && s[0] == '+' && digits >= 7 && digits+plus+space+dash+paren+dot == n:
		cl.kinds |= KindPhone
	case !date && digits >= 7 && digits <= 15 && space+dash+paren > 0 && digits+space+dash+paren == n:
		cl.kinds |= KindPhone
	case !date && digits >= 6 && digits+dot+dash == n && dot <= 1 && dash <= 1:
		cl.kinds |= KindID // a long number written as a string: account numbers, serials
	}
	switch {
	case cl.kinds != 0:
	case n >= 12 && digits >= 1 && digits+hexLetters == n:
		cl.kinds |= KindID // a hex token
	case !date && space == 0 && n >= 6 && letters >= 1 && digits >= 4 && cl.formats&(FormatURI|FormatDateTime|FormatDate) == 0:
		cl.kinds |= KindSerial // letters and many digits: serials, reference numbers
	case space == 0 && n >= 16 && upper >= 1 && lower >= 1 && digits >= 1:
		cl.kinds |= KindSecret // a mixed-case token
	}
	if comma == 1 && dot >= 2 && isCoordinatePair(s) {
		cl.kinds |= KindCoordinate
	}

	cl.plain = n >= 1 && n <= maxEnumLen && ctrl == 0 && nonASCII == 0 && space == 0 && at == 0 &&
		digits <= 3 && cl.kinds == 0 && cl.formats&^FormatNumeric == 0 && !titleWord(s, upper, lower) &&
		(digits+dot+dash < n || (digits == n && n <= 2)) // a number as a string only when tiny ("1", "12")
	return cl
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isNumeric reports whether s matches ^-?[0-9]+(\.[0-9]+)?$ (the draft's pattern for it).
func isNumeric(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// isMAC reports whether s matches ^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$ with one separator
// throughout (the draft's pattern for it).
func isMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return false
	}
	for i := 0; i < 17; i++ {
		if i%3 == 2 {
			if s[i] != sep {
				return false
			}
		} else if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isCoordinatePair reports whether s looks like "52.5200,13.4050" (a space after the comma
// allowed): two decimal numbers of at most three integer digits, each with a fraction.
func isCoordinatePair(s string) bool {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return false
	}
	return isDegrees(a) && isDegrees(strings.TrimPrefix(b, " "))
}

func isDegrees(s string) bool {
	s = strings.TrimPrefix(s, "-")
	i := strings.IndexByte(s, '.')
	if i < 1 || i > 3 || i == len(s)-1 {
		return false
	}
	for j := 0; j < len(s); j++ {
		if j != i && !isDigit(s[j]) {
			return false
		}
	}
	return true
}

// titleWord reports whether s is one capitalized word ("Alice", "London"): how names look, so
// never an enum value.
func titleWord(s string, upper, lower int) bool {
	return upper == 1 && len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && lower == len(s)-1
}

// Keys. A key that looks like a value (an id, an address, a number, a date) is folded into its
// object's "dynamic" member instead of becoming a path of its own: objects keyed by device MACs
// or user emails must not put those in the store.

// maxKeyLen bounds a key kept as a path name.
const maxKeyLen = 64

// nameable reports whether an object key may be kept as a path name.
func nameable(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	allDigits := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c == 0x7f || c == ' ' {
			return false
		}
		if !isDigit(c) {
			allDigits = false
		}
	}
	if allDigits {
		return false // "0", "17": an index or an id written as a key
	}
	// Non-ASCII is fine ("température"), but not line or paragraph separators, which some YAML
	// readers treat as line breaks (the draft lists keys in comments).
	if strings.ContainsAny(k, "\u0085\u2028\u2029") {
		return false
	}
	cl := classify(k, FormatDate|FormatDateTime|FormatUUID|FormatMAC|FormatEmail|FormatIPv4|FormatNumeric)
	return cl.kinds == 0 && cl.formats == 0
}

// typeName reports whether an event type may be kept by name (to draft a route for it): printable
// ASCII without spaces, at most 64 bytes, and nothing identifier-like.
func typeName(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return classify(t, 0).kinds == 0
}

// Path names that a person would call personal, by identifier kind. A key is split into
// lowercase words (snake_case, kebab-case, camelCase, dotted); each word is looked up here, and a
// word ending in "s" without its "s" too.
var nameWords = map[string]Kinds{}

func init() {
	for kind, words := range map[Kinds]string{
		KindID:         "id uid uuid guid identifier ref reference deviceid userid customerid accountid clientid externalid",
		KindSerial:     "serial serialnumber serialno sn imei imsi iccid eui deveui joineui appeui devaddr vin plate license licence",
		KindEmail:      "email mail emailaddress",
		KindMAC:        "mac macaddress macaddr bssid",
		KindAccount:    "account acct iban bic card pan customer subscriber contract ssn passport",
		KindCoordinate: "lat lon lng long latitude longitude coord coordinate coordinates geo gps location position altitude geohash geolocation",
		KindName:       "name firstname lastname surname fullname username nickname displayname givenname familyname holder user person people owner login handle recipient author member guest visitor contact birthday birthdate dob gender",
		KindPhone:      "phone mobile tel telephone fax msisdn cell phonenumber",
		KindAddress:    "address addr street zip zipcode postcode postal postalcode city house",
		KindNetwork:    "ip ipv4 ipv6 ipaddress ipaddr ssid",
		KindSecret:     "token accesstoken refreshtoken secret password passwd pwd passphrase signature apikey key auth authorization cookie session sessionid otp pin credential credentials bearer jwt",
	} {
		for _, w := range strings.Fields(words) {
			nameWords[w] |= kind
		}
	}
}

// nameKinds returns the identifier kinds a key's words name.
func nameKinds(key string) Kinds {
	var k Kinds
	for _, w := range keyWords(key) {
		kw, ok := nameWords[w]
		if !ok && len(w) >= 3 && w[len(w)-1] == 's' {
			kw = nameWords[w[:len(w)-1]]
		}
		k |= kw
	}
	// "email_address", "mac_address", "ip_address" are the email, MAC or IP, not a postal address.
	if k&(KindEmail|KindMAC|KindNetwork) != 0 {
		k &^= KindAddress
	}
	return k
}

// keyWords splits a key into lowercase words: at anything that is not a letter or digit, and at
// camelCase boundaries ("deviceSerial", "MACAddress", "devEUI").
func keyWords(key string) []string {
	var words []string
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(key[start:end]))
		}
		start = -1
	}
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isUpper(c) && !isLower(c) && !isDigit(c) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := key[i-1]
		switch {
		case isUpper(c) && (isLower(prev) || isDigit(prev)):
			flush(i) // deviceSerial -> device | Serial
			start = i
		case isUpper(c) && isUpper(prev) && i+1 < len(key) && isLower(key[i+1]):
			flush(i) // MACAddress -> MAC | Address
			start = i
		}
	}
	flush(len(key))
	return words
}
