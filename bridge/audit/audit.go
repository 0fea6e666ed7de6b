// Package audit keeps the audit trail: one record per webhook request (time, vendor, pseudonymized
// event id, outcome and reason, topics published, latency), and one per thing a person or
// Hookbridge did (Action: kill switch changes, incidents, secrets, policies and schemas that
// changed between starts), appended to hourly files, purged after the vendor's retention, and
// exported as JSON lines for sharing with a vendor during an incident.
//
// The trail is tamper-evident: each vendor's records form a chain of keyed MACs (chain.go), which
// Verify checks, and which a retention purge keeps whole with a checkpoint record.
//
// A record is built from a outcome.Outcome only, whose strings come from configuration or a fixed
// set of words; the event id is its keyed pseudonym. So a record holds no clear identifier, no
// body and no secret, and an export, which re-encodes each record through Record (or Action),
// cannot either.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// Record is one audit entry, one JSON object per line in an export.
type Record struct {
	Time time.Time `json:"time"`
	// Vendor is the configured vendor the request named; empty when it named none.
	Vendor string `json:"vendor,omitempty"`
	// Event is the pseudonymized event id, the same token devices see in the MQTT user property
	// "event"; empty when the request was refused before the id was known.
	Event string `json:"event,omitempty"`
	// Status is the HTTP status answered; Outcome sums it up (accepted, duplicate, rejected) and
	// Reason is the fixed word that says why (bad_signature, schema, rate_limited, ...).
	Status  int    `json:"status"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	// Mode is the vendor's mode when it publishes nothing: "shadow" or "learn". Empty in live
	// mode.
	Mode string `json:"mode,omitempty"`
	// Topics are the topics the event was published on; in shadow mode, the topics live mode
	// would have published to, of which none was published.
	Topics        []string `json:"topics,omitempty"`
	RoutesSkipped int      `json:"routes_skipped,omitempty"`
	Unrouted      bool     `json:"unrouted,omitempty"`
	UnknownFields int      `json:"unknown_fields,omitempty"`
	// LatencyMS is the whole request's time; PublishMS the publish stage's share.
	LatencyMS float64 `json:"latency_ms"`
	PublishMS float64 `json:"publish_ms,omitempty"`
	// Suppressed counts this vendor's refusals that went unrecorded since its previous record,
	// because they came faster than RefusalsPerMinute.
	Suppressed int64 `json:"suppressed,omitempty"`
}

// Outcomes.
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
	OutcomeRejected  = "rejected"
	// OutcomeAnswered is a request answered without an event: a handshake, a check of the
	// vendor's URL, an empty body the vendor ignores (Reason says which). Nothing was published.
	OutcomeAnswered = "answered"
)

// FromOutcome builds the record of one outcome.
func FromOutcome(o *outcome.Outcome) Record {
	r := Record{
		Time: o.Received.UTC(), Vendor: o.Vendor, Event: o.Token, Status: o.Status, Reason: o.Reason.Word(),
		Mode: o.Mode, Topics: o.Topics, RoutesSkipped: o.Skipped, Unrouted: o.Unrouted, UnknownFields: o.UnknownFields,
		LatencyMS: ms(o.Latency), PublishMS: ms(o.PublishLatency),
	}
	if o.Mode != "" && len(o.ShadowTopics) > 0 {
		r.Topics = o.ShadowTopics
	}
	// By the reason, not the status: a vendor's policy may answer its sender 200 for an accepted
	// event (OwnTracks, Twilio), and a handshake is answered 200 too.
	switch o.Reason {
	case outcome.Accepted:
		r.Outcome = OutcomeAccepted
	case outcome.Duplicate:
		r.Outcome = OutcomeDuplicate
	case outcome.Handshake, outcome.Ignored:
		r.Outcome = OutcomeAnswered
	default:
		r.Outcome = OutcomeRejected
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Appender is where records go: a Log.
type Appender interface {
	Append(at time.Time, vendor string, record []byte) error
}

// DefaultRefusalsPerMinute is how many refusals per vendor (and for requests that name no
// configured vendor) are recorded one by one; beyond it they are only counted, so a flood of
// junk cannot fill the disk. Accepted events and duplicates are always recorded.
const DefaultRefusalsPerMinute = 600

// Recorder is a outcome.Observer that appends one record per outcome.
type Recorder struct {
	app     Appender
	budgets map[string]*budget // by vendor, "" for requests naming no configured vendor; fixed after New
}

type budget struct {
	lim        *rate.Limiter
	mu         sync.Mutex // guards suppressed
	suppressed int64
}

var _ outcome.Observer = (*Recorder)(nil)

// NewRecorder returns a recorder for the configured vendors. refusalsPerMinute <= 0 takes the
// default.
func NewRecorder(app Appender, vendors []string, refusalsPerMinute int) *Recorder {
	if refusalsPerMinute <= 0 {
		refusalsPerMinute = DefaultRefusalsPerMinute
	}
	r := &Recorder{app: app, budgets: map[string]*budget{}}
	for _, v := range append([]string{""}, vendors...) {
		r.budgets[v] = &budget{lim: rate.NewLimiter(rate.Limit(float64(refusalsPerMinute)/60), refusalsPerMinute)}
	}
	return r
}

// Observe appends the outcome's record; it does not wait for the disk.
func (r *Recorder) Observe(o *outcome.Outcome) {
	rec := FromOutcome(o)
	b, ok := r.budgets[o.Vendor]
	if !ok {
		b, rec.Vendor = r.budgets[""], "" // never a name that configuration does not hold
	}
	b.mu.Lock()
	if rec.Outcome == OutcomeRejected && !b.lim.AllowN(o.Received, 1) {
		b.suppressed++
		b.mu.Unlock()
		return
	}
	rec.Suppressed, b.suppressed = b.suppressed, 0
	b.mu.Unlock()
	_ = r.app.Append(o.Received, rec.Vendor, rec.AppendJSON(nil)) // a full disk shows in the store's own errors first
}

// AppendJSON appends the record's JSON encoding, the same as encoding/json's (a test holds them
// equal) without its reflection: one record is written per request.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Vendor != "" {
		b = append(b, `,"vendor":`...)
		b = appendJSONString(b, r.Vendor)
	}
	if r.Event != "" {
		b = append(b, `,"event":`...)
		b = appendJSONString(b, r.Event)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, r.Outcome)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, r.Reason)
	if r.Mode != "" {
		b = append(b, `,"mode":`...)
		b = appendJSONString(b, r.Mode)
	}
	if len(r.Topics) > 0 {
		b = append(b, `,"topics":[`...)
		for i, t := range r.Topics {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		b = append(b, ']')
	}
	if r.RoutesSkipped != 0 {
		b = append(b, `,"routes_skipped":`...)
		b = strconv.AppendInt(b, int64(r.RoutesSkipped), 10)
	}
	if r.Unrouted {
		b = append(b, `,"unrouted":true`...)
	}
	if r.UnknownFields != 0 {
		b = append(b, `,"unknown_fields":`...)
		b = strconv.AppendInt(b, int64(r.UnknownFields), 10)
	}
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, r.LatencyMS, 'f', -1, 64)
	if r.PublishMS != 0 {
		b = append(b, `,"publish_ms":`...)
		b = strconv.AppendFloat(b, r.PublishMS, 'f', -1, 64)
	}
	if r.Suppressed != 0 {
		b = append(b, `,"suppressed":`...)
		b = strconv.AppendInt(b, r.Suppressed, 10)
	}
	return append(b, '}')
}

// appendJSONString quotes s for JSON. Topics come from configuration and escaped field values, so
// the slow path (encoding/json) is for what strconv's Go quoting would get wrong.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Source reads records back: a Log.
type Source interface {
	Audit(since time.Time, fn func(at time.Time, record []byte) bool) error
}

// Filter selects records for an export.
type Filter struct {
	Since  time.Time
	Vendor string // empty: every vendor
	// Actions adds the Action records (kill switch changes, incidents, secrets, policies and
	// schemas by digest, purges) to the webhook records.
	Actions bool
}

// Export writes the records the filter selects as JSON lines, oldest first, and returns how many.
// Each record is decoded into Record (an Action record into Action) and encoded again, so only
// their fields ever leave: never the chain's seq and MACs, which are of no use without the key.
func Export(w io.Writer, src Source, f Filter) (int, error) {
	n := 0
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var werr error
	err := src.Audit(f.Since, func(_ time.Time, raw []byte) bool {
		var r struct {
			Record
			Kind string `json:"kind"`
		}
		if json.Unmarshal(raw, &r) != nil || (f.Vendor != "" && r.Vendor != f.Vendor) {
			return true
		}
		switch {
		case r.Kind == "":
			werr = enc.Encode(&r.Record)
		case !f.Actions:
			return true
		default:
			var a Action
			if json.Unmarshal(raw, &a) != nil {
				return true
			}
			a.LastSeq, a.LastMAC = 0, ""
			werr = enc.Encode(&a)
		}
		if werr != nil {
			return false
		}
		n++
		return true
	})
	if err != nil {
		return n, fmt.Errorf("read audit trail: %w", err)
	}
	return n, werr
}

// ErrSince reports a --since value that is neither a duration nor a time.
var ErrSince = errors.New("since must be a duration like 24h, 90m or 7d, or a time like 2026-11-25T08:00:00Z")

// ParseSince reads a since value: a duration before now (24h, 90m, 7d) or an RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 36500 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
		return time.Time{}, ErrSince
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, ErrSince
	}
	return now.Add(-d), nil
}
