package vendor

import (
	"strings"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

// Intake is a vendor's policy intake, compiled: what the receiver and the pipeline accept from
// its sender and how they answer it.
type Intake struct {
	// JSON, Form and Query say which bodies the vendor takes (intake.content).
	JSON, Form, Query bool
	// FormJSON names the form field that holds the JSON document ("" when none).
	FormJSON string
	// Batch splits a JSON array body into events.
	Batch bool
	// URLCheck answers HEAD of the endpoint once authenticated.
	URLCheck bool
	// IgnoreEmpty takes an authenticated empty body with no other effect.
	IgnoreEmpty bool
	// Handshake, when not nil, says which JSON bodies are handshakes and where their challenge is.
	Handshake *Handshake
	// Rest says what the path segment after /hooks/{vendor}/ is to this vendor.
	Rest RestUse
	// Accepted lists the accepted media types, for the 415's text ("application/json or ...").
	Accepted string
}

// Handshake is a policy's intake.handshake, its pointers split.
type Handshake struct {
	At, Challenge []string
	Equals        string
}

// RestUse is what a vendor makes of a path segment after /hooks/{vendor}/.
type RestUse int

const (
	// RestNone: the vendor's endpoint is /hooks/{vendor} only; anything longer is not found.
	RestNone RestUse = iota
	// RestToken: the segment is the vendor's path token (a secret); its scheme checks it, and a
	// request without one fails authentication.
	RestToken
	// RestType: the segment, when there is one, is the event type (event.type_path).
	RestType
)

// EventType is where a vendor's event type comes from.
type EventType struct {
	Source  policy.TypeSource
	Pointer []string // TypeFromBody
	Header  string   // TypeFromHeader
	Const   string   // TypeConst
}

// Answer is the success answer a vendor's sender expects (policy answer:), ready to write.
type Answer struct {
	Status int
	Type   string // "" with no body
	Body   []byte
}

// compileIntake compiles a policy's intake, event type and answer.
func compileIntake(p *policy.Policy) (Intake, EventType, *Answer) {
	in := Intake{
		JSON: p.Intake.Accepts(policy.ContentJSON), Form: p.Intake.Accepts(policy.ContentForm),
		Query: p.Intake.Accepts(policy.ContentQuery), FormJSON: p.Intake.FormJSON, Batch: p.Intake.Batch,
		URLCheck: p.Intake.URLCheck, IgnoreEmpty: p.Intake.IgnoreEmpty,
	}
	if h := p.Intake.Handshake; h != nil {
		in.Handshake = &Handshake{At: policy.SplitPointer(h.At), Challenge: policy.SplitPointer(h.Challenge), Equals: h.Equals}
	}
	switch {
	case p.Auth.ReadsPath():
		in.Rest = RestToken
	case p.Event.TypePath:
		in.Rest = RestType
	}
	var accepted []string
	if in.JSON {
		accepted = append(accepted, "application/json")
	}
	if in.Form {
		accepted = append(accepted, "application/x-www-form-urlencoded")
	}
	if in.Query {
		accepted = append(accepted, "no body with the data in the query string")
	}
	in.Accepted = strings.Join(accepted, " or ")

	et := EventType{Source: p.Event.TypeSource(), Pointer: policy.SplitPointer(p.Event.Type),
		Header: p.Event.TypeHeader, Const: p.Event.TypeConst}
	var a *Answer
	if p.Answer != nil {
		a = &Answer{Status: p.Answer.Status, Type: p.Answer.Type, Body: []byte(p.Answer.Body)}
	}
	return in, et, a
}
