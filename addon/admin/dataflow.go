package admin

import (
	"sort"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/acl"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// The data-flow view: for each field of a vendor's events, whether it is dropped, published in
// clear or only as a pseudonym, on which topics, which device accounts may read those topics (by
// their allow lists, with the broker's own containment rule), and whether Home Assistant's broker
// gets it. It answers "what leaves my home's boundary, and to whom" from the policy and the
// options alone: no payload value is ever looked at.

// Audience is who can read the topics Hookbridge publishes.
type Audience struct {
	// Broker is the broker option: embedded (Hookbridge enforces each account's allow list),
	// supervisor or external (that broker decides who reads).
	Broker string
	// HA is where Home Assistant's topics go (ha_mqtt, resolved at start): off, embedded (Home
	// Assistant reads the embedded broker as the homeassistant account), supervisor (a link of
	// its own to the Supervisor's broker), events (the events' broker); or auto when not resolved
	// (read from the files, with no running bridge).
	HA string
	// Bridged are the bridge_topics forwarded to the Supervisor's broker, as absolute filters.
	Bridged []string
	// Accounts are the embedded broker's accounts with the filters each may read (absolute).
	Accounts []Account
}

// Account is a device account and what it may read.
type Account struct {
	Name string
	Read []string
}

// The values of Audience.HA besides the ha_mqtt option's own.
const (
	AudienceHAEvents = "events"
	AudienceHAAuto   = "auto"
)

// Treatments of a field.
const (
	FieldDropped       = "dropped"
	FieldClear         = "clear"
	FieldPseudonymized = "pseudonymized"
)

// DataFlow is who sees which field of a vendor's events.
type DataFlow struct {
	Fields []FieldFlow     `json:"fields"`
	Topics []TopicAudience `json:"topics"`
	Broker string          `json:"broker"`
	Notes  []string        `json:"notes,omitempty"`
	byName map[string]*FieldFlow
}

// FieldFlow is one field of a vendor's events and where it goes.
type FieldFlow struct {
	// Field is a JSON Pointer into the vendor's events: one its schema declares ("*" for every
	// element of an array), or one a route takes.
	Field string `json:"field"`
	// Treatment is dropped (no route publishes it), clear (a route publishes it as it is) or
	// pseudonymized (every route that publishes it does so as a keyed pseudonym).
	Treatment string `json:"treatment"`
	// Outputs are the routes' fields that carry it.
	Outputs []FieldOutput `json:"outputs,omitempty"`
	// Readers are the device accounts that may read a topic carrying it; with an outside broker,
	// "*": whoever that broker lets in.
	Readers []string `json:"readers,omitempty"`
	// HomeAssistant reports whether Home Assistant's broker gets it.
	HomeAssistant bool `json:"home_assistant"`
}

// FieldOutput is a route's field carrying a source field.
type FieldOutput struct {
	Topic         string `json:"topic"`
	Name          string `json:"name"`
	Pseudonymized bool   `json:"pseudonymized"`
}

// TopicAudience is who may read one route's topic.
type TopicAudience struct {
	// Topic is the route's topic; a {name} level is filled from the field of that name.
	Topic string `json:"topic"`
	// Readers are the device accounts that may read it: all its topics, or some (their allow
	// list overlaps it). Empty with an outside broker, where Everyone says who.
	Readers []Reader `json:"readers"`
	// Everyone, with broker supervisor or external, says that the broker decides.
	Everyone string `json:"everyone,omitempty"`
	// HomeAssistant says why Home Assistant's broker gets the topic, one reason each; empty when
	// it does not.
	HomeAssistant []string `json:"home_assistant"`
}

// Reader is a device account that may read a topic.
type Reader struct {
	Account string `json:"account"`
	// All reports that it may read every topic the route publishes; else only some.
	All bool `json:"all"`
}

// Flow computes a vendor's data-flow view. prefix is topic_prefix; schemaDoc, when given, is
// the vendor's JSON Schema, whose declared fields are listed even when no route takes them.
func (aud Audience) Flow(prefix string, v *vendor.Vendor, schemaDoc []byte) *DataFlow {
	df := &DataFlow{Fields: []FieldFlow{}, Topics: []TopicAudience{}, Broker: aud.Broker}
	seen := map[string]bool{}
	field := func(ptr string) {
		if !seen[ptr] {
			seen[ptr] = true
			df.Fields = append(df.Fields, FieldFlow{Field: ptr, Treatment: FieldDropped})
		}
	}
	declared := schemaFields(schemaDoc)
	for _, d := range declared {
		field(d)
	}
	switch {
	case aud.Broker != "" && aud.Broker != "embedded":
		df.Notes = append(df.Notes, "broker "+aud.Broker+": that broker decides who reads each topic; Hookbridge enforces device allow lists only on its embedded broker")
	}
	if v.Mode != "" && v.Mode != vendor.ModeLive {
		df.Notes = append(df.Notes, "mode "+string(v.Mode)+": nothing is published now; this is what live mode would publish")
	}
	type taken struct {
		from string
		out  FieldOutput
		ta   int // index in df.Topics
	}
	var outs []taken
	for _, r := range v.Policy.Routes {
		topic := v.Name + "/" + r.Topic
		if prefix != "" {
			topic = prefix + "/" + topic
		}
		ta := aud.topic(topic, len(r.Entities) > 0)
		df.Topics = append(df.Topics, ta)
		for _, fd := range r.Fields {
			outs = append(outs, taken{from: fd.From, out: FieldOutput{Topic: topic, Name: fd.Name, Pseudonymized: fd.Pseudonymize}, ta: len(df.Topics) - 1})
			if !coveredBy(fd.From, declared) || len(declared) == 0 {
				field(fd.From) // a field the schema does not declare (or no schema to say)
			}
		}
	}
	// Pointers may point into each other (an object taken whole holds its fields): a field goes
	// out with every route field that covers it.
	for i := range df.Fields {
		f := &df.Fields[i]
		readers := map[string]bool{}
		for _, o := range outs {
			if !coveredBy(f.Field, []string{o.from}) {
				continue
			}
			f.Outputs = append(f.Outputs, o.out)
			switch {
			case !o.out.Pseudonymized:
				f.Treatment = FieldClear
			case f.Treatment == FieldDropped:
				f.Treatment = FieldPseudonymized
			}
			ta := df.Topics[o.ta]
			for _, r := range ta.Readers {
				readers[r.Account] = true
			}
			if ta.Everyone != "" {
				readers["*"] = true
			}
			if len(ta.HomeAssistant) > 0 {
				f.HomeAssistant = true
			}
		}
		for r := range readers {
			f.Readers = append(f.Readers, r)
		}
		sort.Strings(f.Readers)
	}
	sort.SliceStable(df.Fields, func(i, j int) bool { return df.Fields[i].Field < df.Fields[j].Field })
	return df
}

// topic returns who may read a route's topic; entities reports that the route declares Home
// Assistant entities (their topics are forwarded to Home Assistant's broker).
func (aud Audience) topic(topic string, entities bool) TopicAudience {
	filter := topicFilter(topic)
	ta := TopicAudience{Topic: topic, Readers: []Reader{}, HomeAssistant: []string{}}
	if aud.Broker != "" && aud.Broker != "embedded" {
		ta.Everyone = "every client the " + aud.Broker + " broker lets read it"
		if aud.HA == AudienceHAEvents {
			ta.HomeAssistant = append(ta.HomeAssistant, "Home Assistant reads the "+aud.Broker+" broker that events go to")
		}
		return ta
	}
	for _, acc := range aud.Accounts {
		set := acl.NewFilters(acc.Read...)
		switch {
		case set.Covers(filter):
			ta.Readers = append(ta.Readers, Reader{Account: acc.Name, All: true})
		case overlapsAny(filter, acc.Read):
			ta.Readers = append(ta.Readers, Reader{Account: acc.Name})
		}
	}
	qualifier := ""
	if aud.HA == AudienceHAAuto {
		qualifier = " (when the Supervisor offers an MQTT service)"
	}
	if aud.HA == "embedded" {
		for _, r := range ta.Readers {
			if r.Account == "homeassistant" {
				ta.HomeAssistant = append(ta.HomeAssistant, "Home Assistant reads the embedded broker as the homeassistant account")
			}
		}
	}
	for _, b := range aud.Bridged {
		if acl.NewFilters(b).Covers(filter) || overlaps(strings.Split(filter, "/"), strings.Split(b, "/")) {
			ta.HomeAssistant = append(ta.HomeAssistant, "bridge_topics forwards "+b+" to the Supervisor's broker"+qualifier)
		}
	}
	if entities && aud.HA != "off" && aud.HA != "embedded" && aud.HA != "" {
		ta.HomeAssistant = append(ta.HomeAssistant, "the route declares Home Assistant entities: its topics are forwarded to Home Assistant's broker"+qualifier)
	}
	return ta
}

// topicFilter turns a route topic into the filter of every topic it can publish: a {name} level
// becomes "+".
func topicFilter(topic string) string {
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		if strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}") {
			levels[i] = "+"
		}
	}
	return strings.Join(levels, "/")
}

// overlapsAny reports whether a filter shares a topic with one of filters.
func overlapsAny(filter string, filters []string) bool {
	a := strings.Split(filter, "/")
	for _, f := range filters {
		if overlaps(a, strings.Split(f, "/")) {
			return true
		}
	}
	return false
}

// overlaps reports whether two topic filters, split into levels, match some topic in common.
func overlaps(a, b []string) bool {
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == "#", i < len(b) && b[i] == "#":
			return true
		case i == len(a) || i == len(b):
			return len(a) == len(b)
		case a[i] != "+" && b[i] != "+" && a[i] != b[i]:
			return false
		}
	}
}
