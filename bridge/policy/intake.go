package policy

import (
	"mime"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Intake says what a vendor's sender sends besides one JSON object in a POST body: which bodies
// it takes, whether a JSON array is a batch of events, whether the endpoint answers a check of
// its URL and a handshake. The zero value is 0.1's intake: one JSON object per POST.
//
//	intake:
//	  content: [json, form]        # json (default), form (application/x-www-form-urlencoded),
//	                               # query (no body: the data is in the query string)
//	  form_json: payload           # a form body carries the JSON document in this one field
//	  batch: true                  # a JSON array body is a batch: each element an event
//	  url_check: true              # HEAD of the endpoint answers 200 once authenticated
//	  ignore_empty: true           # an empty body, once authenticated, is taken and does nothing
//	  handshake:                   # Slack's url_verification
//	    at: /type                  # where the body says it is a handshake...
//	    equals: url_verification   # ...and with which value
//	    challenge: /challenge      # answered as {"challenge": value}
type Intake struct {
	Content  []string `yaml:"content"`
	FormJSON string   `yaml:"form_json"`
	Batch    bool     `yaml:"batch"`
	URLCheck bool     `yaml:"url_check"`
	// IgnoreEmpty takes an empty body (once authenticated) with the success answer and no other
	// effect: OwnTracks posts one when a friend is removed, and its iOS app drops a message
	// answered 4xx.
	IgnoreEmpty bool       `yaml:"ignore_empty"`
	Handshake   *Handshake `yaml:"handshake"`
}

// The content kinds of intake.content.
const (
	ContentJSON  = "json"
	ContentForm  = "form"
	ContentQuery = "query"
)

// contentKinds are intake.content's values, in the order messages list them.
var contentKinds = []string{ContentJSON, ContentForm, ContentQuery}

// Accepts reports whether the intake takes a kind of content (json when content is not set).
func (in Intake) Accepts(kind string) bool {
	if len(in.Content) == 0 {
		return kind == ContentJSON
	}
	return slices.Contains(in.Content, kind)
}

// Handshake is a request that a sender makes to check the endpoint before it sends events
// (Slack's url_verification): a JSON body whose value at At is Equals. Once it verifies, it is
// answered with {"challenge": <the string at Challenge>} and has no other effect.
type Handshake struct {
	At        string `yaml:"at"`
	Equals    string `yaml:"equals"`
	Challenge string `yaml:"challenge"`
}

// Answer is the success answer a sender expects, for events taken (accepted or duplicates):
// OwnTracks wants a JSON array, Twilio TwiML, Particle an empty body. Without one, the answer is
// the contract's JSON ({"status":"accepted",...}, 202; {"status":"duplicate"}, 200).
//
//	answer:
//	  status: 200               # 200, 201, 202 or 204
//	  type: application/json    # the body's media type; required with a body
//	  body: "[]"                # at most MaxAnswerBody bytes of text; "" or absent: no body
type Answer struct {
	Status int    `yaml:"status"`
	Type   string `yaml:"type"`
	Body   string `yaml:"body"`
}

// MaxAnswerBody bounds answer.body in bytes.
const MaxAnswerBody = 1024

// MaxConstType bounds event.type_const in bytes.
const MaxConstType = 128

var (
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
	formFieldRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// TypeSource says where an event's type comes from.
type TypeSource int

// The sources of an event's type: exactly one of event.type, type_header, type_path and
// type_const is set.
const (
	TypeFromBody   TypeSource = iota // event.type: a JSON Pointer into the document
	TypeFromHeader                   // event.type_header: a header's value
	TypeFromPath                     // event.type_path: the path segment after /hooks/{vendor}/
	TypeConst                        // event.type_const: always this type
)

// TypeSource returns where the policy takes an event's type from.
func (e Event) TypeSource() TypeSource {
	switch {
	case e.TypeHeader != "":
		return TypeFromHeader
	case e.TypePath:
		return TypeFromPath
	case e.TypeConst != "":
		return TypeConst
	}
	return TypeFromBody
}

// checkEventSection checks the event section: an optional id pointer and exactly one source of the type.
func checkEventSection(p *Policy, doc *yaml.Node, add func(int, string, ...any)) {
	at := func(path ...string) int { return lineOf(doc, path...) }
	if err := CheckPointer(p.Event.ID); err != nil {
		add(at("event", "id"), "event.id: %v", err)
	}
	e := p.Event
	var set []string
	if e.Type != "" {
		set = append(set, "type")
		if err := CheckPointer(e.Type); err != nil {
			add(at("event", "type"), "event.type: %v", err)
		}
	}
	if e.TypeHeader != "" {
		set = append(set, "type_header")
		if !headerNameRE.MatchString(e.TypeHeader) {
			add(at("event", "type_header"), "event.type_header must be an HTTP header name")
		}
	}
	if n := nodeAt(doc, "event", "type_path"); e.TypePath || n != nil && n.Value != "false" {
		set = append(set, "type_path") // a value that is not a bool is a problem of its own
		if e.TypePath && p.Auth.ReadsPath() {
			add(at("event", "type_path"), "event.type_path: scheme %s reads its token from the path, which cannot also be the event type", p.Auth.Scheme)
		}
	}
	if nodeAt(doc, "event", "type_const") != nil {
		set = append(set, "type_const")
		switch c := e.TypeConst; {
		case c == "":
			add(at("event", "type_const"), "event.type_const must not be empty")
		case len(c) > MaxConstType || !utf8.ValidString(c) || hasControl(c):
			add(at("event", "type_const"), "event.type_const must be text of at most %d bytes without control characters", MaxConstType)
		}
	}
	switch len(set) {
	case 0:
		add(at("event"), "event.type is required (or one of event.type_header, event.type_path, event.type_const)")
	case 1:
	default:
		add(at("event"), "event: give one of type, type_header, type_path and type_const, not %s", strings.Join(set, " and "))
	}
}

// checkIntake checks the intake section.
func checkIntake(p *Policy, doc *yaml.Node, add func(int, string, ...any)) {
	in := p.Intake
	at := func(path ...string) int { return lineOf(doc, path...) }
	if n := nodeAt(doc, "intake", "content"); n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		add(at("intake", "content"), "intake.content must list at least one of %s", strings.Join(contentKinds, ", "))
	}
	seen := map[string]bool{}
	for _, c := range in.Content {
		switch {
		case !slices.Contains(contentKinds, c):
			add(at("intake", "content"), "intake.content: %q is not one of %s", c, strings.Join(contentKinds, ", "))
		case seen[c]:
			add(at("intake", "content"), "intake.content lists %s twice", c)
		}
		seen[c] = true
	}
	if nodeAt(doc, "intake", "form_json") != nil {
		switch {
		case !formFieldRE.MatchString(in.FormJSON):
			add(at("intake", "form_json"), "intake.form_json must be a form field name (letters, digits, '_', '.', '-'; at most 64)")
		case !in.Accepts(ContentForm):
			add(at("intake", "form_json"), "intake.form_json needs form in intake.content")
		}
	}
	if in.Batch && !in.Accepts(ContentJSON) {
		add(at("intake", "batch"), "intake.batch needs json in intake.content: a batch is a JSON array")
	}
	if h := in.Handshake; h != nil {
		line := at("intake", "handshake")
		if !in.Accepts(ContentJSON) {
			add(line, "intake.handshake needs json in intake.content: a handshake is a JSON body")
		}
		for _, f := range []struct{ key, ptr string }{{"at", h.At}, {"challenge", h.Challenge}} {
			if f.ptr == "" {
				add(line, "intake.handshake.%s is required (a JSON Pointer)", f.key)
			} else if err := CheckPointer(f.ptr); err != nil {
				add(at("intake", "handshake", f.key), "intake.handshake.%s: %v", f.key, err)
			}
		}
		if h.Equals == "" {
			add(line, "intake.handshake.equals is required (the value at intake.handshake.at that marks a handshake)")
		}
	}
}

// checkAnswer checks the answer section.
func checkAnswer(p *Policy, doc *yaml.Node, add func(int, string, ...any)) {
	a := p.Answer
	if a == nil {
		return
	}
	at := func(path ...string) int { return lineOf(doc, path...) }
	switch a.Status {
	case 200, 201, 202:
	case 204:
		if a.Body != "" || a.Type != "" {
			add(at("answer", "status"), "answer.status 204 has no body: remove answer.body and answer.type")
		}
	case 0:
		add(at("answer"), "answer.status is required (200, 201, 202 or 204)")
	default:
		add(at("answer", "status"), "answer.status must be 200, 201, 202 or 204")
	}
	if a.Type != "" {
		if _, _, err := mime.ParseMediaType(a.Type); err != nil || strings.ContainsAny(a.Type, "\r\n") {
			add(at("answer", "type"), "answer.type must be a media type like application/json")
		}
	}
	switch {
	case a.Body != "" && a.Type == "" && a.Status != 204:
		add(at("answer", "body"), "answer.body needs answer.type (its media type)")
	case a.Body == "" && a.Type != "":
		add(at("answer", "type"), "answer.type without answer.body: an empty answer has no type")
	case len(a.Body) > MaxAnswerBody:
		add(at("answer", "body"), "answer.body must be at most %d bytes", MaxAnswerBody)
	case !utf8.ValidString(a.Body):
		add(at("answer", "body"), "answer.body must be UTF-8 text")
	}
}

// hasControl reports whether s holds a control character.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
