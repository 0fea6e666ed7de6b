// Package pipeline runs a webhook through Hookbridge's stages: verify, vendor rate, parse,
// identify, replay guard, validate, route (minimize and pseudonymize), publish. It knows nothing of
// HTTP: the receiver translates requests into Events and errors into statuses.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

var (
	// ErrNoEventID reports an event whose scheme signs no id and whose body has none at the
	// policy's event.id pointer.
	ErrNoEventID = outcome.Err(outcome.NoEventID, "no event id")
	// ErrBadEventID reports an event id that is too long, not text, or holds control characters.
	ErrBadEventID = outcome.Err(outcome.BadEventID, "invalid event id")
	// ErrDuplicate reports an event id already published (within retention).
	ErrDuplicate = outcome.Err(outcome.Duplicate, "duplicate event")
	// ErrNoVerifier reports a vendor without a secret; it cannot take webhooks.
	ErrNoVerifier = outcome.Err(outcome.NoSecret, "vendor has no secret")
	// ErrBadHandshake reports a handshake (intake.handshake) whose challenge cannot be answered.
	ErrBadHandshake = outcome.Err(outcome.BadHandshake, "invalid handshake")
)

// MaxEventIDLen bounds an event id in bytes.
const MaxEventIDLen = 256

// Event is one webhook request going through the pipeline: one event, or several when the vendor
// batches them (intake.batch), or none (a handshake, an ignored empty body).
type Event struct {
	Vendor   *vendor.Vendor
	Header   verify.Header
	Body     []byte
	Received time.Time
	// Method, URL, Query and Rest are what verify.Request says they are: the HTTP method, the
	// URL the sender was given ("" without public_url), the raw query and the path after
	// /hooks/{vendor}/ (never logged: it may be a token).
	Method, URL, Query, Rest string
	// Content is the kind of body the receiver found: policy.ContentJSON (also when ""),
	// ContentForm, or ContentQuery (no body: the document is the query string).
	Content string

	// Verified is set once the signature check passed: only then may the event spend the
	// vendor's rate budget, and only then is its source known to speak for the vendor.
	Verified bool

	// Challenge is set when the request was a handshake (intake.handshake): the value to answer.
	// Nothing else happened: no event, no replay record, nothing published.
	Challenge string
	// Ignored reports an empty body taken with no other effect (intake.ignore_empty).
	Ignored bool
	// Batch reports a body that was a JSON array of events (intake.batch).
	Batch bool
	// Items are the request's events in body order: one, unless a batch.
	Items []*Item

	// PublishLatency is how long the publish stage took (the broker holding every message and the
	// replay records being on disk), for metrics; zero when the request did not reach it.
	PublishLatency time.Duration

	signedID string // the event id the scheme signs, "" when none
}

// Item is one event of a request.
type Item struct {
	// Raw is what keys the event's replays when it has no id: the raw body, the element's raw
	// bytes in a batch, or the raw query string of a query document.
	Raw  []byte
	Doc  any
	Type string
	ID   string // the replay key in clear (see identify); never logged or stored
	// Token is the pseudonymized replay key: the event id everything outside sees.
	Token string
	// Duplicate reports an event already published (or earlier in the same batch): it is not
	// published again.
	Duplicate bool

	Routed        route.Result
	UnknownFields int
}

// Ledger answers whether an event was already published, and records the events of vendors
// that publish nothing (shadow and learn mode) under keys of their own (ReplayKey).
type Ledger interface {
	Seen(token string) (bool, error)
	publish.Ledger
}

// Recorder learns the structure of a learn-mode vendor's events: bridge/learn's Recorder.
type Recorder interface {
	Record(doc any, eventType string)
}

// Pipeline runs events through the stages.
type Pipeline struct {
	pseudo    *pseudo.Pseudonymizer
	ledger    Ledger
	publisher publish.Publisher
	limits    payload.Limits
	now       func() time.Time

	// recorders are the learn-mode vendors' recorders, by vendor name; set before serving.
	recorders map[string]Recorder

	mu       sync.Mutex // guards inflight
	inflight map[string]*flight
}

// flight is an event id being processed; a second request with the same id waits for it.
type flight struct {
	done      chan struct{}
	published bool // set before done is closed
}

// New builds a pipeline.
func New(ps *pseudo.Pseudonymizer, ledger Ledger, pub publish.Publisher) *Pipeline {
	return &Pipeline{pseudo: ps, ledger: ledger, publisher: pub, limits: payload.DefaultLimits,
		now: time.Now, inflight: map[string]*flight{}}
}

// SetRecorders gives the pipeline the recorders of the learn-mode vendors, by vendor name. Call
// it before the first event.
func (p *Pipeline) SetRecorders(r map[string]Recorder) { p.recorders = r }

// Process runs a request through every stage. It returns nil when its events were published
// (or, where no route took one, recorded), when it was a handshake (ev.Challenge) or an ignored
// empty body (ev.Ignored); ErrDuplicate when every event of it was already published; or the
// first stage's error. A batch is taken or refused whole: one invalid event refuses it, and its
// new events are published in one transaction. A vendor in shadow mode gets the same answers
// without a publish (see hold); one in learn mode has its events learnt instead of validated,
// routed and published (see learn).
func (p *Pipeline) Process(ctx context.Context, ev *Event) error {
	if err := p.Authenticate(ctx, ev); err != nil {
		return err
	}
	if err := p.parse(ctx, ev); err != nil {
		return err
	}
	if ev.Challenge != "" || ev.Ignored {
		return nil
	}
	if err := p.identify(ctx, ev); err != nil {
		return err
	}
	release, err := p.reserve(ctx, ev)
	if err != nil {
		return err
	}
	published := false
	defer func() { release(published) }()
	if ev.Vendor.Mode == vendor.ModeLearn {
		if err := p.learn(ctx, ev); err != nil {
			return err
		}
		published = true
		return nil
	}
	if err := p.validate(ctx, ev); err != nil {
		return err
	}
	p.route(ctx, ev)
	if err := p.publish(ctx, ev); err != nil {
		return err
	}
	published = true
	return nil
}

// Authenticate runs the first two stages, verify and the vendor's rate: all that a check of the
// vendor's URL (a HEAD, intake.url_check) goes through.
func (p *Pipeline) Authenticate(ctx context.Context, ev *Event) error {
	if err := p.verify(ctx, ev); err != nil {
		return err
	}
	return p.spend(ctx, ev)
}

func (p *Pipeline) verify(_ context.Context, ev *Event) error {
	if ev.Vendor.Verifier == nil {
		return ErrNoVerifier
	}
	res, err := ev.Vendor.Verifier.Verify(&verify.Request{Method: ev.Method, Header: ev.Header, Body: ev.Body,
		URL: ev.URL, Query: ev.Query, Rest: ev.Rest, Now: ev.Received})
	if err != nil {
		return err
	}
	ev.Verified = true
	ev.signedID = res.ID
	return nil
}

// spend takes one token of the vendor's rate budget. It runs after verify, so that only requests
// the vendor signed spend it: junk from anywhere cannot turn the vendor's webhooks into 429s
// (unverified requests have budgets of their own, in the receiver). A batch spends one, as it is
// one request.
func (p *Pipeline) spend(_ context.Context, ev *Event) error {
	if ev.Vendor.Limiter == nil {
		return nil
	}
	if ok, wait := ratelimit.Allow(ev.Vendor.Limiter, ev.Received); !ok {
		return &ratelimit.LimitError{Budget: ratelimit.BudgetVendor, RetryAfter: wait}
	}
	return nil
}

// parse turns the body (or the query string) into the request's events, by the vendor's intake:
//
//   - a query document (ev.Content query): the query string, typed where the schema asks;
//   - an empty body (or query), where the vendor ignores those: nothing (ev.Ignored);
//   - a form body: its fields, typed where the schema asks; or, with intake.form_json, the JSON
//     document in that one field, as JSON (never typed);
//   - a JSON array, where the vendor batches: one event per element;
//   - else one JSON document, which may be a handshake (ev.Challenge).
func (p *Pipeline) parse(_ context.Context, ev *Event) error {
	in := &ev.Vendor.Intake
	switch {
	case ev.Content == policy.ContentQuery && ev.Query == "" && in.IgnoreEmpty:
		ev.Ignored = true
		return nil
	case ev.Content == policy.ContentQuery:
		doc, err := payload.ParseQuery(ev.Query, p.limits)
		if err != nil {
			return err
		}
		ev.Vendor.Schema.Coerce(doc, p.limits)
		ev.Items = []*Item{{Raw: []byte(ev.Query), Doc: doc}}
	case len(ev.Body) == 0 && in.IgnoreEmpty:
		ev.Ignored = true
		return nil
	case ev.Content == policy.ContentForm && in.FormJSON != "":
		doc, err := payload.FormJSON(ev.Body, in.FormJSON, p.limits)
		if err != nil {
			return err
		}
		ev.Items = []*Item{{Raw: ev.Body, Doc: doc}}
	case ev.Content == policy.ContentForm:
		doc, err := payload.ParseForm(ev.Body, p.limits)
		if err != nil {
			return err
		}
		ev.Vendor.Schema.Coerce(doc, p.limits)
		ev.Items = []*Item{{Raw: ev.Body, Doc: doc}}
	case in.Batch:
		els, err := payload.ParseBatch(ev.Body, p.limits)
		if err != nil {
			return err
		}
		ev.Batch = isArray(ev.Body)
		ev.Items = make([]*Item, len(els))
		for i, el := range els {
			ev.Items[i] = &Item{Raw: el.Raw, Doc: el.Doc}
		}
	default:
		doc, err := payload.Parse(ev.Body, p.limits)
		if err != nil {
			return err
		}
		if in.Handshake != nil {
			challenge, ok, err := handshake(in.Handshake, doc)
			if err != nil {
				return err
			}
			if ok {
				ev.Challenge = challenge
				return nil
			}
		}
		ev.Items = []*Item{{Raw: ev.Body, Doc: doc}}
	}
	for _, it := range ev.Items {
		it.Type = eventType(ev, it.Doc)
	}
	return nil
}

// Duplicates counts the request's events that were duplicates.
func (ev *Event) Duplicates() int {
	n := 0
	for _, it := range ev.Items {
		if it.Duplicate {
			n++
		}
	}
	return n
}

// isArray reports whether a JSON body is an array: its first byte past whitespace is '['.
func isArray(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '['
	}
	return false
}

// MaxTypeLen bounds an event type taken from a header, in bytes.
const MaxTypeLen = 128

// eventType returns an event's type, from where the vendor's policy says (event.type and its
// alternatives); "" when there is none, which only routes for "*" take. A type is text or a
// number (in canonical form: Withings' appli=1 is "1" whether it came as text or was typed).
func eventType(ev *Event, doc any) string {
	t := &ev.Vendor.Type
	switch t.Source {
	case policy.TypeFromHeader:
		vals := ev.Header.Values(t.Header)
		if len(vals) == 1 && len(vals[0]) <= MaxTypeLen && CheckEventID(vals[0]) == nil {
			return vals[0]
		}
		return ""
	case policy.TypeFromPath:
		return ev.Rest // the receiver took only a segment of unreserved characters
	case policy.TypeConst:
		return t.Const
	}
	if len(t.Pointer) == 0 {
		return ""
	}
	v, ok := payload.Resolve(doc, t.Pointer)
	if !ok {
		return ""
	}
	switch v.(type) {
	case string, json.Number:
		s, _ := payload.Scalar(v)
		return s
	}
	return ""
}

// MaxChallengeLen bounds a handshake's challenge in bytes.
const MaxChallengeLen = 256

// handshake reports whether doc is the vendor's handshake, and returns its challenge. A challenge
// is answered back, so it must be a short string of token characters (Slack's are letters and
// digits): anything else is refused, never echoed.
func handshake(h *vendor.Handshake, doc any) (string, bool, error) {
	v, ok := payload.Resolve(doc, h.At)
	if s, isString := v.(string); !ok || !isString || s != h.Equals {
		return "", false, nil
	}
	v, ok = payload.Resolve(doc, h.Challenge)
	c, isString := v.(string)
	switch {
	case !ok || !isString:
		return "", false, fmt.Errorf("%w: no challenge", ErrBadHandshake)
	case c == "" || len(c) > MaxChallengeLen:
		return "", false, fmt.Errorf("%w: the challenge must be 1 to %d characters", ErrBadHandshake, MaxChallengeLen)
	}
	for i := 0; i < len(c); i++ {
		if !challengeChar(c[i]) {
			return "", false, fmt.Errorf("%w: the challenge holds a character other than letters, digits and -._~+/=", ErrBadHandshake)
		}
	}
	return c, true, nil
}

func challengeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/=", c) >= 0
}

// identify sets each event's replay key. It comes from signed bytes only, in this order:
//
//  1. the id the scheme signs (Standard Webhooks' webhook-id), as verify returned it. When the
//     body also holds an id at event.id and it differs, the signed one still wins: both are
//     signed, and the scheme's own id is the one its sender keeps across redeliveries. Not in a
//     batch, whose events would all share it;
//  2. else, when the policy names event.id, the document's id there (400 "no event id" without
//     one);
//  3. else a digest of the raw body (of the element's raw bytes in a batch, of the raw query for a
//     query document). The body, not the whole signed string: senders that sign a timestamp
//     re-sign a retry with a fresh one, and a retry must stay a duplicate.
//
// An unsigned header (X-GitHub-Delivery, a policy's id_header) never enters the key: whoever
// captured a request could resend it with a new one. Nor does an unsigned event type header. For
// a token (bearer, basic, path-token), which signs nothing, "signed" means the body that came
// with the token. Two events of one batch with the same key: the second is a duplicate.
func (p *Pipeline) identify(_ context.Context, ev *Event) error {
	var seen map[string]bool
	if len(ev.Items) > 1 {
		seen = make(map[string]bool, len(ev.Items))
	}
	for i, it := range ev.Items {
		if err := p.identifyItem(ev, it); err != nil {
			if ev.Batch {
				return fmt.Errorf("%w (event %d of the batch)", err, i)
			}
			return err
		}
		if seen != nil {
			it.Duplicate = seen[it.Token]
			seen[it.Token] = true
		}
	}
	return nil
}

func (p *Pipeline) identifyItem(ev *Event, it *Item) error {
	switch {
	case ev.signedID != "" && !ev.Batch:
		it.ID = ev.signedID
	case len(ev.Vendor.IDPointer) > 0:
		v, ok := payload.Resolve(it.Doc, ev.Vendor.IDPointer)
		if !ok {
			return ErrNoEventID
		}
		s, scalar := payload.Scalar(v) // a number in its canonical form: 100 and 1e2 are one id
		if !scalar {
			return fmt.Errorf("%w: not a string or number", ErrBadEventID)
		}
		if s == "" {
			return ErrNoEventID
		}
		it.ID = s
	default:
		it.ID = BodyKey(it.Raw)
		it.Token = p.pseudo.Token(pseudo.DomainEvent, ev.Vendor.Name, it.ID)
		return nil
	}
	if err := CheckEventID(it.ID); err != nil {
		return err
	}
	it.Token = p.pseudo.Token(pseudo.DomainEvent, ev.Vendor.Name, it.ID)
	return nil
}

// bodyKeyPrefix starts every body digest key. A vendor's id can hold no control character
// (CheckEventID), so no id can ever equal a digest key.
const bodyKeyPrefix = "\x00sha256:"

// BodyKey returns the replay key of an event that has no id: the SHA-256 of its raw body, under a
// prefix no event id can have. Like an id, it is only ever used through a keyed, per-vendor
// pseudonym (pseudo.DomainEvent), so neither the body nor its plain digest is kept anywhere.
func BodyKey(body []byte) string {
	sum := sha256.Sum256(body)
	return bodyKeyPrefix + string(sum[:])
}

// CheckEventID reports what is wrong with an event id, if anything.
func CheckEventID(id string) error {
	if len(id) > MaxEventIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadEventID, MaxEventIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: not UTF-8", ErrBadEventID)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character", ErrBadEventID)
		}
	}
	return nil
}

// reserve makes this request the only one processing its events' ids. A second request with an
// id being processed waits for the first: if the first published, the event is a duplicate; if it
// failed, the second takes over, so a failure never makes a retry look like a duplicate. A batch
// reserves its ids in sorted order, so two batches that share ids never wait for each other in a
// circle. It returns ErrDuplicate, holding nothing, when every event is a duplicate.
func (p *Pipeline) reserve(ctx context.Context, ev *Event) (func(published bool), error) {
	mode := ev.Vendor.Mode
	tokens := make([]string, 0, len(ev.Items))
	for _, it := range ev.Items {
		if !it.Duplicate {
			tokens = append(tokens, it.Token)
		}
	}
	if len(tokens) > 1 {
		slices.Sort(tokens)
	}
	type hold struct {
		token string
		f     *flight
	}
	var held []hold
	release := func(published bool) {
		for _, h := range held {
			p.unreserve(ReplayKey(mode, h.token), h.f, published)
		}
	}
	dup := map[string]bool{}
	for _, tok := range tokens {
		f, seen, err := p.reserveOne(ctx, mode, tok)
		if err != nil {
			release(false)
			return nil, err
		}
		if seen {
			dup[tok] = true
			continue
		}
		held = append(held, hold{tok, f})
	}
	for _, it := range ev.Items {
		if dup[it.Token] {
			it.Duplicate = true
		}
	}
	if len(held) == 0 {
		return nil, ErrDuplicate
	}
	return release, nil
}

// reserveOne reserves one event id in a mode (see ReplayKey), or reports it already taken.
func (p *Pipeline) reserveOne(ctx context.Context, mode vendor.Mode, token string) (*flight, bool, error) {
	key := ReplayKey(mode, token)
	var f *flight
	for f == nil {
		p.mu.Lock()
		other := p.inflight[key]
		if other == nil {
			f = &flight{done: make(chan struct{})}
			p.inflight[key] = f
			p.mu.Unlock()
			break
		}
		p.mu.Unlock()
		select {
		case <-other.done:
			if other.published {
				return nil, true, nil
			}
		case <-ctx.Done():
			return nil, false, &publish.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
		}
	}
	seen, err := p.seen(mode, token)
	if err != nil {
		p.unreserve(key, f, false)
		return nil, false, &publish.UnavailableError{RetryAfter: 5 * time.Second, Err: fmt.Errorf("replay store: %w", err)}
	}
	if seen {
		p.unreserve(key, f, true)
		return nil, true, nil
	}
	return f, false, nil
}

// unreserve ends a reservation (by its ReplayKey), telling whoever waits for it whether the event
// was taken.
func (p *Pipeline) unreserve(key string, f *flight, published bool) {
	p.mu.Lock()
	delete(p.inflight, key)
	p.mu.Unlock()
	f.published = published
	close(f.done)
}

// validate checks each new event against the schema. In a batch, the first invalid event refuses
// the whole request, and the error's path points into the body (/3/data/x).
func (p *Pipeline) validate(_ context.Context, ev *Event) error {
	for i, it := range ev.Items {
		if it.Duplicate {
			continue
		}
		if err := ev.Vendor.Schema.Validate(it.Doc); err != nil {
			var se *schema.Error
			if ev.Batch && errors.As(err, &se) {
				return &schema.Error{Pointer: "/" + strconv.Itoa(i) + se.Pointer, Keyword: se.Keyword}
			}
			return err
		}
		it.UnknownFields = ev.Vendor.Schema.UnknownFields(it.Doc)
	}
	return nil
}

func (p *Pipeline) route(_ context.Context, ev *Event) {
	for _, it := range ev.Items {
		if !it.Duplicate {
			it.Routed = ev.Vendor.Routes.Apply(it.Doc, it.Type)
		}
	}
}

// publish hands every new event of the request to the sink at once: one transaction, all or none.
func (p *Pipeline) publish(ctx context.Context, ev *Event) error {
	start := time.Now()
	defer func() { ev.PublishLatency = time.Since(start) }()
	if !ev.Vendor.Mode.Publishes() {
		// Shadow mode takes the new events the way publishing takes live ones, without
		// publishing: their replay records (under the shadow key) are on disk when it returns, so
		// a resend is a duplicate as it would be in live mode. The routed messages stay in the
		// items for the audit trail: they say what live mode would have published.
		return p.record(ev)
	}
	return p.publisher.Publish(ctx, p.newEvents(ev)...)
}

// newEvents returns a request's new events for publishing or recording: each with its replay key
// in the vendor's mode, and its messages when the mode publishes.
func (p *Pipeline) newEvents(ev *Event) []*publish.Event {
	at, mode := p.now(), ev.Vendor.Mode
	evs := make([]*publish.Event, 0, len(ev.Items))
	for _, it := range ev.Items {
		if it.Duplicate {
			continue
		}
		e := &publish.Event{Vendor: ev.Vendor.Name, Token: ReplayKey(mode, it.Token), At: at}
		if mode.Publishes() {
			e.Messages = it.Routed.Messages
		}
		evs = append(evs, e)
	}
	return evs
}

// Replay key prefixes of the modes that publish nothing. A replay key with one of them is not
// hex, so the store keys it by its digest: it can never equal a live event's record.
const (
	shadowKeyPrefix = "shadow:"
	learnKeyPrefix  = "learn:"
)

// ReplayKey returns the key of an event's replay record in a mode: its token in live mode; in
// shadow and learn mode the token under a prefix of the mode's own. So an event taken in shadow
// or learn mode, which was never published, does not make the same event a duplicate once the
// vendor is live.
func ReplayKey(mode vendor.Mode, token string) string {
	switch mode {
	case vendor.ModeShadow:
		return shadowKeyPrefix + token
	case vendor.ModeLearn:
		return learnKeyPrefix + token
	}
	return token
}

// seen reports whether an event was already taken in a mode. Shadow mode answers what live mode
// would answer, so an event published while the vendor was live is a duplicate in shadow mode
// too; learn mode only asks whether it learnt the event already.
func (p *Pipeline) seen(mode vendor.Mode, token string) (bool, error) {
	if mode == vendor.ModeShadow {
		if seen, err := p.ledger.Seen(token); err != nil || seen {
			return seen, err
		}
	}
	return p.ledger.Seen(ReplayKey(mode, token))
}

// learn records the structure of a learn-mode request's new events (never a value) once their
// replay records are on disk: a resend is a duplicate and teaches nothing twice. It runs after the
// signature check, so a request the vendor did not sign teaches nothing.
func (p *Pipeline) learn(_ context.Context, ev *Event) error {
	if err := p.record(ev); err != nil {
		return err
	}
	if r := p.recorders[ev.Vendor.Name]; r != nil {
		for _, it := range ev.Items {
			if !it.Duplicate {
				r.Record(it.Doc, it.Type)
			}
		}
	}
	return nil
}

// record writes the replay records of a request's new events whose mode publishes nothing, in
// one transaction.
func (p *Pipeline) record(ev *Event) error {
	if err := p.ledger.Record(p.newEvents(ev)...); err != nil {
		return &publish.UnavailableError{RetryAfter: 5 * time.Second, Err: fmt.Errorf("replay store: %w", err)}
	}
	return nil
}
