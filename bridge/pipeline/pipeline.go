// Package pipeline runs an authenticated webhook through Hookbridge's stages: verify, parse,
// identify, replay guard, validate, route (minimize and pseudonymize), publish. It knows nothing of
// HTTP: the receiver translates requests into Events and errors into statuses.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

var (
	// ErrNoEventID reports an event with no id in the scheme's header nor at the policy's pointer.
	ErrNoEventID = errors.New("no event id")
	// ErrBadEventID reports an event id that is too long, not text, or holds control characters.
	ErrBadEventID = errors.New("invalid event id")
	// ErrDuplicate reports an event id already published (within retention).
	ErrDuplicate = errors.New("duplicate event")
	// ErrNoVerifier reports a vendor without a secret; it cannot take webhooks.
	ErrNoVerifier = errors.New("vendor has no secret")
)

// MaxEventIDLen bounds an event id in bytes.
const MaxEventIDLen = 256

// Event is one webhook going through the pipeline.
type Event struct {
	Vendor   *Vendor
	Header   verify.Header
	Body     []byte
	Received time.Time

	ID    string // the vendor's event id; never logged or stored in clear
	Token string // pseudonymized event id
	Type  string
	Doc   any

	Routed        route.Result
	UnknownFields int
	// PublishLatency is how long the publish stage took (the broker holding every message and the
	// replay record being on disk), for metrics; zero when the event did not reach it.
	PublishLatency time.Duration
}

// Ledger answers whether an event was already published.
type Ledger interface {
	Seen(token string) (bool, error)
}

// Pipeline runs events through the stages.
type Pipeline struct {
	pseudo    *pseudo.Pseudonymizer
	ledger    Ledger
	publisher publish.Publisher
	limits    payload.Limits
	now       func() time.Time

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

// Process runs an event through every stage. It returns nil when the event was published (or, if
// no route took it, recorded), ErrDuplicate for an event already published, or the first stage's
// error.
func (p *Pipeline) Process(ctx context.Context, ev *Event) error {
	if err := p.verify(ctx, ev); err != nil {
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
	id, err := ev.Vendor.Verifier.Verify(ev.Header, ev.Body, ev.Received)
	if err != nil {
		return err
	}
	ev.ID = id
	return nil
}

func (p *Pipeline) parse(_ context.Context, ev *Event) error {
	doc, err := payload.Parse(ev.Body, p.limits)
	if err != nil {
		return err
	}
	ev.Doc = doc
	if v, ok := payload.Resolve(doc, ev.Vendor.typeTokens); ok && len(ev.Vendor.typeTokens) > 0 {
		if s, ok := v.(string); ok {
			ev.Type = s
		}
	}
	return nil
}

func (p *Pipeline) identify(_ context.Context, ev *Event) error {
	if ev.ID == "" && len(ev.Vendor.idTokens) > 0 {
		if v, ok := payload.Resolve(ev.Doc, ev.Vendor.idTokens); ok {
			s, scalar := payload.Scalar(v)
			if !scalar {
				return fmt.Errorf("%w: not a string or number", ErrBadEventID)
			}
			ev.ID = s
		}
	}
	if ev.ID == "" {
		return ErrNoEventID
	}
	if err := CheckEventID(ev.ID); err != nil {
		return err
	}
	ev.Token = p.pseudo.Token(pseudo.DomainEvent, ev.Vendor.Name, ev.ID)
	return nil
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
	for {
		p.mu.Lock()
		f := p.inflight[ev.Token]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			p.inflight[ev.Token] = f
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
		f := p.inflight[ev.Token]
		delete(p.inflight, ev.Token)
		p.mu.Unlock()
		f.published = published
		close(f.done)
	}
	seen, err := p.ledger.Seen(ev.Token)
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
	return p.publisher.Publish(ctx, &publish.Event{
		Vendor:   ev.Vendor.Name,
		Token:    ev.Token,
		Messages: ev.Routed.Messages,
		Seen:     store.SeenOps(ev.Vendor.Name, ev.Token, p.now()),
	})
}
