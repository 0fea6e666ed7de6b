// Package outcome says what became of a webhook request: the reason it was taken or refused, each
// reason a value that carries its HTTP status and its metric word, and the Outcome that the
// receiver hands its observers (metrics, stats, audit trail, anomaly detection).
//
// A reason is also an error: the stages' sentinel errors are reasons, or wrap one, so the one
// place that turns errors into answers (receiver) finds the status with errors.As, and a reason
// cannot exist without a status and a word (the table below is the only way to make one), so no
// new refusal can silently be counted as "other".
package outcome

import (
	"errors"
	"net/http"
	"time"
)

// Reason is why a request was answered as it was. Reasons are compared by identity: use the
// variables below.
type Reason struct {
	word    string
	status  int
	message string
	// detail reports whether the answer may add the error's own text after the message: only
	// for errors whose text says where the input is wrong in general terms, never a value.
	detail bool
}

// Word is the reason's fixed word, used as a metric label and in the audit trail.
func (r *Reason) Word() string { return r.word }

// Status is the HTTP status the partner gets.
func (r *Reason) Status() int { return r.status }

// Message is the reason in words, for the answer's error field.
func (r *Reason) Message() string { return r.message }

// Detail reports whether the answer may carry the error's own text.
func (r *Reason) Detail() bool { return r.detail }

// Error makes a reason an error, so stages can return or wrap it.
func (r *Reason) Error() string { return r.message }

// Taken reports whether the request was taken (accepted or a duplicate of an accepted one).
func (r *Reason) Taken() bool { return r == Accepted || r == Duplicate }

// Answered reports whether the request was answered as its sender hoped without being an event:
// a handshake or a check of the vendor's URL, or an empty body the vendor ignores. Nothing was
// published or recorded for replays.
func (r *Reason) Answered() bool { return r == Handshake || r == Ignored }

// The reasons, in the order checks run.
var (
	Accepted          = add("accepted", http.StatusAccepted, "accepted", false)
	Duplicate         = add("duplicate", http.StatusOK, "duplicate", false)
	Handshake         = add("handshake", http.StatusOK, "handshake answered", false)
	Ignored           = add("ignored", http.StatusOK, "empty body ignored", false)
	NotFound          = add("not_found", http.StatusNotFound, "not found", false)
	Method            = add("method", http.StatusMethodNotAllowed, "method not allowed: use POST", false)
	ShuttingDown      = add("shutting_down", http.StatusServiceUnavailable, "shutting down; retry later", false)
	UnknownVendor     = add("unknown_vendor", http.StatusNotFound, "unknown vendor", false)
	Disabled          = add("disabled", http.StatusServiceUnavailable, "vendor disabled; retry later", false)
	SourceDenied      = add("source_denied", http.StatusForbidden, "source address not allowed", false)
	RateLimited       = add("rate_limited", http.StatusTooManyRequests, "rate limited; retry later", false)
	ContentType       = add("content_type", http.StatusUnsupportedMediaType, "unsupported content type", true)
	ContentEncoding   = add("content_encoding", http.StatusUnsupportedMediaType, "content encoding must be identity: send the body uncompressed", false)
	TooLarge          = add("too_large", http.StatusRequestEntityTooLarge, "body too large", false)
	BadBody           = add("bad_body", http.StatusBadRequest, "could not read body", false)
	NoSecret          = add("no_secret", http.StatusServiceUnavailable, "vendor not configured; retry later", false)
	BadTimestamp      = add("bad_timestamp", http.StatusUnauthorized, "invalid signature or timestamp", false)
	BadSignature      = add("bad_signature", http.StatusUnauthorized, "invalid signature or timestamp", false)
	JSONLimits        = add("json_limits", http.StatusBadRequest, "JSON exceeds limits", true)
	BadJSON           = add("bad_json", http.StatusBadRequest, "invalid JSON", true)
	BadForm           = add("bad_form", http.StatusBadRequest, "invalid form data", true)
	BadHandshake      = add("bad_handshake", http.StatusBadRequest, "invalid handshake", true)
	NoEventID         = add("no_event_id", http.StatusBadRequest, "no event id", false)
	BadEventID        = add("bad_event_id", http.StatusBadRequest, "invalid event id", true)
	Schema            = add("schema", http.StatusUnprocessableEntity, "payload does not match the schema", false)
	BrokerUnavailable = add("broker_unavailable", http.StatusServiceUnavailable, "broker unavailable; retry later", false)
	Internal          = add("internal", http.StatusInternalServerError, "internal error", false)
)

var all []*Reason

func add(word string, status int, message string, detail bool) *Reason {
	r := &Reason{word: word, status: status, message: message, detail: detail}
	all = append(all, r)
	return r
}

// All returns every reason, in the order checks run.
func All() []*Reason { return append([]*Reason(nil), all...) }

// Err returns a sentinel error with a text of its own that carries reason r: errors.Is matches the
// sentinel itself, and Of finds r.
func Err(r *Reason, text string) error { return &reasonError{r: r, text: text} }

type reasonError struct {
	r    *Reason
	text string
}

func (e *reasonError) Error() string { return e.text }
func (e *reasonError) Unwrap() error { return e.r }

// Of returns the reason an error carries: nil is Accepted, an error that is or wraps no reason is
// Internal.
func Of(err error) *Reason {
	if err == nil {
		return Accepted
	}
	var r *Reason
	if errors.As(err, &r) {
		return r
	}
	return Internal
}

// Outcome describes one handled request, for logs, metrics, audit and anomaly detection. Every
// string in it comes from configuration or a fixed set, never from the request.
type Outcome struct {
	Vendor        string // "" when the vendor is not configured
	Token         string // pseudonymized event id, "" before it is known
	Status        int
	Reason        *Reason
	Topics        []string
	Skipped       int // routes that matched but published nothing
	Unrouted      bool
	UnknownFields int
	// Verified reports whether the request passed the vendor's signature check.
	Verified bool
	// Mode is the vendor's mode when it publishes nothing ("shadow" or "learn"), "" otherwise.
	Mode string
	// ShadowTopics are, in shadow mode, the topics live mode would have published to; Topics,
	// what was published, stays empty then.
	ShadowTopics []string
	Received     time.Time
	Latency      time.Duration
	// PublishLatency is the publish stage's share of Latency; zero when the event did not reach it.
	PublishLatency time.Duration
}

// Observer receives each outcome after the response is written.
type Observer interface {
	Observe(o *Outcome)
}
