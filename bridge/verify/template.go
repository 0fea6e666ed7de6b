package verify

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// partKind is what one piece of a recipe's signed template stands for.
type partKind uint8

const (
	partLiteral   partKind = iota // text as written
	partBody                      // the raw body
	partTimestamp                 // the timestamp's text, as the request carried it
	partID                        // the event id's text
	partURL                       // the URL the sender was given
	partHeader                    // a header's only value
	partForm                      // the form body's parameters, sorted: name+value each
)

// part is one piece of a signed template.
type part struct {
	kind partKind
	text string // the literal, or the header's name
	lit  []byte // the literal, as written to a hash
}

// Template limits: a recipe is written by hand, and a longer one is a mistake.
const (
	maxTemplateLen   = 1024
	maxTemplateParts = 32
)

// parseTemplate compiles a signed template: text with the placeholders {body}, {timestamp},
// {id}, {url}, {form} and {header:Name}; "{{" and "}}" stand for a literal brace.
func parseTemplate(s string) ([]part, error) {
	if s == "" {
		return nil, errors.New("is required")
	}
	if len(s) > maxTemplateLen {
		return nil, fmt.Errorf("must be at most %d characters", maxTemplateLen)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f }) {
		return nil, errors.New("must not hold control characters but tab, CR and LF")
	}
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{kind: partLiteral, text: lit.String(), lit: []byte(lit.String())})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("has a '}' without its '{' at character %d (write }} for a literal brace)", i+1)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("has a '{' without its '}' at character %d (write {{ for a literal brace)", i+1)
			}
			name := s[i+1 : i+end]
			p, err := placeholder(name)
			if err != nil {
				return nil, err
			}
			flush()
			parts = append(parts, p)
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if len(parts) > maxTemplateParts {
		return nil, fmt.Errorf("must have at most %d parts", maxTemplateParts)
	}
	return parts, nil
}

var placeholders = map[string]partKind{
	"body": partBody, "timestamp": partTimestamp, "id": partID, "url": partURL, "form": partForm,
}

func placeholder(name string) (part, error) {
	if k, ok := placeholders[name]; ok {
		return part{kind: k}, nil
	}
	if h, ok := strings.CutPrefix(name, "header:"); ok {
		if !headerNameRE.MatchString(h) {
			return part{}, fmt.Errorf("{header:%s} does not name an HTTP header", h)
		}
		return part{kind: partHeader, text: h}, nil
	}
	known := make([]string, 0, len(placeholders)+1)
	for k := range placeholders {
		known = append(known, "{"+k+"}")
	}
	sort.Strings(known)
	return part{}, fmt.Errorf("unknown placeholder {%s} (known: %s, {header:Name})", name, strings.Join(known, ", "))
}

// has reports whether the template holds a placeholder of kind k.
func has(parts []part, k partKind) bool {
	for _, p := range parts {
		if p.kind == k {
			return true
		}
	}
	return false
}

// templateString writes a template back, for messages and docs.
func templateString(parts []part) string {
	var b strings.Builder
	for _, p := range parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(strings.NewReplacer("{", "{{", "}", "}}").Replace(p.text))
		case partHeader:
			b.WriteString("{header:" + p.text + "}")
		default:
			for name, k := range placeholders {
				if k == p.kind {
					b.WriteString("{" + name + "}")
				}
			}
		}
	}
	return b.String()
}
