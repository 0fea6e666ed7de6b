package payload

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// Form bodies (application/x-www-form-urlencoded) and query strings become a document of the same
// shape as a JSON object of strings: map[string]any whose values are all strings. Schemas,
// pointers and routes read it as they read JSON; a schema may then type some values (numbers,
// booleans) where it asks for them (schema.Schema.Coerce).
//
// Decoding follows the WHATWG URL standard's application/x-www-form-urlencoded parser, which
// browsers, Go's net/url and the senders' own libraries agree on: fields are separated by '&',
// the name from the value by the first '=', '+' is a space, and %XX is a byte. The same rules hold
// for query strings: senders put form data there (Ambient Weather's dateutc=2000-01-01+10%3A32%3A35
// means a space), and those that mean a plus encode it (Twilio sends +14158675310 as %2B14158675310).
//
// Like Parse, it refuses rather than repairs what a correct encoder never writes or what parsers
// read differently (see ParseForm). Decoded text is valid UTF-8 without control characters, except
// tab, line feed and carriage return written as %09, %0A and %0D in a value (a text message or a
// slash command may hold several lines).

// ErrForm reports a form body or query string that ParseForm or ParseQuery refuses.
var ErrForm = outcome.Err(outcome.BadForm, "invalid form data")

// ErrFormLimit reports a form body or query string over the Limits.
var ErrFormLimit = outcome.Err(outcome.BadForm, "form data over limits")

// inQuery ends the reason of an error in a query string, so that the answer says where to look.
const inQuery = " in the query string"

// ParseForm decodes an application/x-www-form-urlencoded body into a document: each field's name
// and value, percent-decoded, '+' read as a space. An empty value ("a=" or "a") is kept as "";
// empty fields ("a=1&&b=2", a trailing '&') are skipped. It refuses, with a *SyntaxError that says
// where and why and that matches ErrForm or ErrFormLimit:
//
//   - a name given twice, after decoding ("a=1&a=2", "a=1&%61=2"): parsers disagree on which value
//     wins (the first, the last, or a list), so the value the schema checked might not be the one a
//     reader of the event sees, as with duplicate JSON keys;
//   - an empty name ("=1");
//   - a '%' not followed by two hex digits;
//   - invalid UTF-8 (overlong forms and surrogates included), raw or percent-encoded;
//   - control characters: raw ones anywhere, encoded ones in names, and encoded ones in values
//     other than tab, line feed and carriage return;
//   - an unencoded space, which an encoder always writes as '+' or %20, and an unencoded ';',
//     which some servers read as a field separator (HTML 4; Go's net/url refuses it too);
//   - more than lim.MaxKeys fields, empty ones included: checked before anything is decoded, so
//     a form bomb costs one scan of the body.
//
// Error texts never quote the body.
func ParseForm(data []byte, lim Limits) (map[string]any, error) {
	if lim.MaxKeys > 0 && bytes.Count(data, ampersand) >= lim.MaxKeys {
		return nil, tooManyFields(data, lim, "")
	}
	// One copy of the body: names and values that need no decoding are parts of it.
	return parseForm(string(data), lim, "")
}

// ParseQuery decodes a raw query string (the part of a URL after '?', without it) into a
// document, by the rules of ParseForm. Error offsets count from the query string's first byte.
func ParseQuery(raw string, lim Limits) (map[string]any, error) {
	if lim.MaxKeys > 0 && strings.Count(raw, "&") >= lim.MaxKeys {
		return nil, tooManyFields(raw, lim, inQuery)
	}
	return parseForm(raw, lim, inQuery)
}

// FormJSON decodes a form body that carries a JSON document in one field, as GitHub sends it
// (payload=<url-encoded JSON>) when a webhook's content type is form: the field must be there and
// be the only one (anything else would be dropped unseen), and its value must be JSON that Parse
// takes with lim. Form errors match ErrForm or ErrFormLimit; errors in the JSON match ErrSyntax or
// ErrLimit, their offsets counting in the decoded value.
func FormJSON(data []byte, field string, lim Limits) (any, error) {
	form, err := ParseForm(data, lim)
	if err != nil {
		return nil, err
	}
	v, ok := form[field]
	if !ok {
		return nil, &SyntaxError{Offset: 0, Reason: "no JSON field", form: true}
	}
	if len(form) > 1 {
		return nil, &SyntaxError{Offset: 0, Reason: "fields besides the JSON field", form: true}
	}
	doc, err := Parse([]byte(v.(string)), lim)
	if err != nil {
		return nil, fmt.Errorf("form field %q: %w", field, err)
	}
	return doc, nil
}

var ampersand = []byte{'&'}

// tooManyFields reports the first field past lim.MaxKeys, at the byte where it starts.
func tooManyFields[T string | []byte](s T, lim Limits, where string) error {
	n, at := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '&' {
			if n++; n == lim.MaxKeys {
				at = i + 1
				break
			}
		}
	}
	return &SyntaxError{Offset: at, Reason: fmt.Sprintf("more than %d fields%s", lim.MaxKeys, where), limit: true, form: true}
}

// maxFormHint bounds the map size reserved in advance, for documents parsed without a MaxKeys.
const maxFormHint = 1024

func parseForm(s string, lim Limits, where string) (map[string]any, error) {
	doc := make(map[string]any, min(strings.Count(s, "&")+1, maxFormHint))
	for i := 0; i <= len(s); {
		end := strings.IndexByte(s[i:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		if end > i {
			rawName, rawValue, valueAt := s[i:end], "", end
			if eq := strings.IndexByte(rawName, '='); eq >= 0 {
				rawName, rawValue, valueAt = s[i:i+eq], s[i+eq+1:end], i+eq+1
			}
			name, err := decodeField(rawName, i, true, where)
			if err != nil {
				return nil, err
			}
			if name == "" {
				return nil, formError(i, "empty name", where)
			}
			if _, dup := doc[name]; dup {
				return nil, formError(i, "repeated name", where)
			}
			value, err := decodeField(rawValue, valueAt, false, where)
			if err != nil {
				return nil, err
			}
			doc[name] = value
		}
		i = end + 1
	}
	return doc, nil
}

func formError(offset int, reason, where string) error {
	return &SyntaxError{Offset: offset, Reason: reason + where, form: true}
}

// decodeField percent-decodes one name or value that starts at byte at of the input. Text that
// needs no decoding is returned as is, without allocating.
func decodeField(raw string, at int, name bool, where string) (string, error) {
	ascii := true
	for j := 0; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '%' || c == '+':
			return decodeEscapes(raw, at, name, where)
		case c < 0x20:
			return "", formError(at+j, "control character", where)
		case c == ' ':
			return "", formError(at+j, "unencoded space", where)
		case c == ';':
			return "", formError(at+j, "unencoded semicolon", where)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii {
		if j := invalidUTF8(raw); j >= 0 {
			return "", formError(at+j, "invalid UTF-8", where)
		}
	}
	return raw, nil
}

// decodeEscapes is decodeField's slow path, for text with '%' or '+'.
func decodeEscapes(raw string, at int, name bool, where string) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	for j := 0; j < len(raw); j++ {
		c := raw[j]
		switch {
		case c == '+':
			c = ' '
		case c == '%':
			if j+2 >= len(raw) || !isHex(raw[j+1]) || !isHex(raw[j+2]) {
				return "", formError(at+j, "invalid percent escape", where)
			}
			c = unhex(raw[j+1])<<4 | unhex(raw[j+2])
			if c < 0x20 && (name || (c != '\t' && c != '\n' && c != '\r')) {
				return "", formError(at+j, "control character", where)
			}
			j += 2
		case c < 0x20:
			return "", formError(at+j, "control character", where)
		case c == ' ':
			return "", formError(at+j, "unencoded space", where)
		case c == ';':
			return "", formError(at+j, "unencoded semicolon", where)
		}
		b.WriteByte(c)
	}
	s := b.String()
	if invalidUTF8(s) >= 0 {
		// Where a multi-byte sequence breaks is an offset in the decoded text; the field's start
		// is the place in the input.
		return "", formError(at, "invalid UTF-8", where)
	}
	return s, nil
}

// invalidUTF8 returns the index of the first byte of s that is not part of valid UTF-8, or -1.
func invalidUTF8(s string) int {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
