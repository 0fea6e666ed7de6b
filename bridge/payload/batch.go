package payload

import "fmt"

// Element is one event of a batch body.
type Element struct {
	// Raw is the element's bytes exactly as they are in the body, without the whitespace around
	// them: what a replay key digests when the event has no id. It shares the body's memory.
	Raw []byte
	// Doc is the element parsed, as Parse would return it for Raw.
	Doc any
}

// ParseBatch parses a body that may hold several events, as senders that batch them send it
// (Enode posts "an array of Events"): a JSON array of objects, each an event of its own. Each
// element is held to lim as a body of its own would be (MaxDepth, MaxKeys and MaxNumberLen count
// from the element, not from the array), and the array to lim.MaxBatch elements: parsing stops at
// the first element past it, so a huge array costs no more than MaxBatch elements.
//
// A body that is not an array is one event: one Element whose Raw is the whole body, as a vendor
// without batches would key it. An array must hold at least one element, and objects only: an
// array in an array is not a batch of batches, and a bare number or string is no event. Errors
// are *SyntaxError, matching ErrSyntax or ErrLimit, with offsets in the body.
func ParseBatch(data []byte, lim Limits) ([]Element, error) {
	p := parser{data: data, lim: lim}
	p.skipSpace()
	if p.i >= len(data) || data[p.i] != '[' {
		doc, err := Parse(data, lim)
		if err != nil {
			return nil, err
		}
		return []Element{{Raw: data, Doc: doc}}, nil
	}
	p.i++ // [
	p.skipSpace()
	if p.i < len(data) && data[p.i] == ']' {
		return nil, p.fail("empty array: no events")
	}
	var out []Element
	for {
		p.skipSpace()
		if lim.MaxBatch > 0 && len(out) == lim.MaxBatch {
			return nil, p.limit(fmt.Sprintf("more than %d events in the array", lim.MaxBatch))
		}
		if p.i >= len(data) {
			return nil, p.fail("unexpected end of input")
		}
		switch data[p.i] {
		case '{':
		case '[':
			return nil, p.fail("array in the array: events must be objects")
		default:
			return nil, p.fail("event is not an object")
		}
		start := p.i
		p.keys = 0 // each element's own count
		doc, err := p.object(1)
		if err != nil {
			return nil, err
		}
		out = append(out, Element{Raw: data[start:p.i], Doc: doc})
		p.skipSpace()
		if p.i >= len(data) {
			return nil, p.fail("unexpected end of input")
		}
		switch data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.skipSpace()
			if p.i != len(data) {
				return nil, p.fail("data after the JSON value")
			}
			return out, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}
