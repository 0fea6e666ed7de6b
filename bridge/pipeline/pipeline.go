// Package pipeline runs a webhook through Hookbridge's stages: verify, vendor rate, parse,
// identify, replay guard, validate, route (minimize and pseudonymize), publish. It knows nothing of
// HTTP: the receiver translates requests into Events and errors into statuses.
package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/route"
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
)

// MaxEventIDLen bounds an event id in bytes.
const MaxEventIDLen = 256

// Event is one webhook going through the pipeline.
type Event struct {
	Vendor   *vendor.Vendor
	Header   verify.Header
	Body     []byte
	Received time.Time
	// Method, URL, Query and Rest are what verify.Request says they are: the HTTP method, the
	// URL the sender was given ("" without public_url), the raw query and the path after
	// /hooks/{vendor}/ (never logged: it may be a token).
	Method, URL, Query, Rest string

	// Verified is set once the signature check passed: only then may the event spend the
	// vendor's rate budget, and only then is its source known to speak for the vendor.
	Verified bool

	ID    string // the replay key in clear (see identify); never logged or stored
	Token string // pseudonymized replay key: the event id everything outside sees
	Type  string
	Doc   any

	Routed        route.Result
	UnknownFields int
	// PublishLatency is how long the publish stage took (the broker holding every message and the
	// replay record being on disk), for metrics; zero when the event did not reach it.
	PublishLatency time.Duration
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

// Process runs an event through every stage. It returns nil when the event was published (or, if
// no route took it, recorded), ErrDuplicate for an event already published, or the first stage's
// error. A vendor in shadow mode gets the same answers without a publish (see hold); one in
// learn mode has its event learnt instead of validated, routed and published (see learn).
func (p *Pipeline) Process(ctx context.Context, ev *Event) error {
	if err := p.verify(ctx, ev); err != nil {
		return err
	}
	if err := p.spend(ctx, ev); err != nil {
		return err
	}
	if err := p.parse(ctx, ev); err != nil {
		return err
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
	ev.ID = res.ID
	return nil
}

// spend takes one token of the vendor's rate budget. It runs after verify, so that only requests
// the vendor signed spend it: junk from anywhere cannot turn the vendor's webhooks into 429s
// (unverified requests have budgets of their own, in the receiver).
func (p *Pipeline) spend(_ context.Context, ev *Event) error {
	if ev.Vendor.Limiter == nil {
		return nil
	}
	if ok, wait := ratelimit.Allow(ev.Vendor.Limiter, ev.Received); !ok {
		return &ratelimit.LimitError{Budget: ratelimit.BudgetVendor, RetryAfter: wait}
	}
	return nil
}

func (p *Pipeline) parse(_ context.Context, ev *Event) error {
	doc, err := payload.Parse(ev.Body, p.limits)
	if err != nil {
		return err
	}
	ev.Doc = doc
	if v, ok := payload.Resolve(doc, ev.Vendor.TypePointer); ok && len(ev.Vendor.TypePointer) > 0 {
		if s, ok := v.(string); ok {
			ev.Type = s
		}
	}
	return nil
}

// identify sets the event's replay key. It comes from signed bytes only, in this order:
//
//  1. the id the scheme signs (Standard Webhooks' webhook-id), as verify returned it. When the
//     body also holds an id at event.id and it differs, the signed one still wins: both are
//     signed, and the scheme's own id is the one its sender keeps across redeliveries;
//  2. else, when the policy names event.id, the body's id there (400 "no event id" without one);
//  3. else a digest of the raw body. The body, not the whole signed string: senders that sign a
//     timestamp re-sign a retry with a fresh one, and a retry must stay a duplicate.
//
// An unsigned header (X-GitHub-Delivery, a policy's id_header) never enters the key: whoever
// captured a request could resend it with a new one. Nor does an unsigned event type header. For
// a bearer token, which signs nothing, "signed" means the body that came with the token.
func (p *Pipeline) identify(_ context.Context, ev *Event) error {
	switch {
	case ev.ID != "":
	case len(ev.Vendor.IDPointer) > 0:
		v, ok := payload.Resolve(ev.Doc, ev.Vendor.IDPointer)
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
		ev.ID = s
	default:
		ev.ID = BodyKey(ev.Body)
		ev.Token = p.pseudo.Token(pseudo.DomainEvent, ev.Vendor.Name, ev.ID)
		return nil
	}
	if err := CheckEventID(ev.ID); err != nil {
		return err
	}
	ev.Token = p.pseudo.Token(pseudo.DomainEvent, ev.Vendor.Name, ev.ID)
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

// reserve makes this request the only one processing its event id. A second request for the same
// id waits for the first: if the first published, the second is a duplicate; if it failed, the
// second takes over, so a failure never makes a retry look like a duplicate.
func (p *Pipeline) reserve(ctx context.Context, ev *Event) (func(published bool), error) {
	key := ReplayKey(ev.Vendor.Mode, ev.Token)
	for {
		p.mu.Lock()
		f := p.inflight[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			p.inflight[key] = f
			p.mu.Unlock()
			break
		}
		p.mu.Unlock()
		select {
		case <-f.done:
			if f.published {
				return nil, ErrDuplicate
			}
		case <-ctx.Done():
			return nil, &publish.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
		}
	}
	release := func(published bool) {
		p.mu.Lock()
		f := p.inflight[key]
		delete(p.inflight, key)
		p.mu.Unlock()
		f.published = published
		close(f.done)
	}
	seen, err := p.seen(ev)
	if err != nil {
		release(false)
		return nil, &publish.UnavailableError{RetryAfter: 5 * time.Second, Err: fmt.Errorf("replay store: %w", err)}
	}
	if seen {
		release(true)
		return nil, ErrDuplicate
	}
	return release, nil
}

func (p *Pipeline) validate(_ context.Context, ev *Event) error {
	if err := ev.Vendor.Schema.Validate(ev.Doc); err != nil {
		return err
	}
	ev.UnknownFields = ev.Vendor.Schema.UnknownFields(ev.Doc)
	return nil
}

func (p *Pipeline) route(_ context.Context, ev *Event) {
	ev.Routed = ev.Vendor.Routes.Apply(ev.Doc, ev.Type)
}

func (p *Pipeline) publish(ctx context.Context, ev *Event) error {
	start := time.Now()
	defer func() { ev.PublishLatency = time.Since(start) }()
	if !ev.Vendor.Mode.Publishes() {
		return p.hold(ctx, ev)
	}
	return p.publisher.Publish(ctx, &publish.Event{
		Vendor:   ev.Vendor.Name,
		Token:    ev.Token,
		Messages: ev.Routed.Messages,
		At:       p.now(),
	})
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

// seen reports whether the event was already taken in its vendor's mode. Shadow mode answers
// what live mode would answer, so an event published while the vendor was live is a duplicate
// in shadow mode too; learn mode only asks whether it learnt the event already.
func (p *Pipeline) seen(ev *Event) (bool, error) {
	mode := ev.Vendor.Mode
	if mode == vendor.ModeShadow {
		if seen, err := p.ledger.Seen(ev.Token); err != nil || seen {
			return seen, err
		}
	}
	return p.ledger.Seen(ReplayKey(mode, ev.Token))
}

// hold takes a shadow-mode event the way publishing takes a live one, without publishing: its
// replay record (under the shadow key) is on disk when it returns, so a resend is a duplicate as
// it would be in live mode. The routed messages stay in ev.Routed for the audit trail: they say
// what live mode would have published.
func (p *Pipeline) hold(_ context.Context, ev *Event) error {
	return p.record(ev)
}

// learn records a learn-mode event's structure (never a value) once its replay record is on
// disk: a resend is a duplicate and teaches nothing twice. It runs after verify, so a request
// the vendor did not sign teaches nothing.
func (p *Pipeline) learn(_ context.Context, ev *Event) error {
	if err := p.record(ev); err != nil {
		return err
	}
	if r := p.recorders[ev.Vendor.Name]; r != nil {
		r.Record(ev.Doc, ev.Type)
	}
	return nil
}

// record writes the replay record of an event its mode does not publish.
func (p *Pipeline) record(ev *Event) error {
	err := p.ledger.Record(&publish.Event{Vendor: ev.Vendor.Name, Token: ReplayKey(ev.Vendor.Mode, ev.Token), At: p.now()})
	if err != nil {
		return &publish.UnavailableError{RetryAfter: 5 * time.Second, Err: fmt.Errorf("replay store: %w", err)}
	}
	return nil
}
