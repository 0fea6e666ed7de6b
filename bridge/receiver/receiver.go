// Package receiver is the partner-facing HTTP listener. It serves only POST /hooks/{vendor}, runs
// the cheap refusals first, hands the rest to the pipeline, and translates the outcome into the
// status table of DESIGN.md.
//
// The order, so that a cheap refusal never costs an expensive one and unverified traffic never
// spends what the vendor's real webhooks need:
//
//  1. method, vendor, kill switch, source CIDR;
//  2. source rate: the source address's own request budget (source_rate_per_minute);
//  3. failure budgets (ratelimit.Failures): a source that failed authentication too often (a
//     tenth of source_rate_per_minute), or that failed recently while its vendor is flooded with
//     failures (a tenth of its rate_per_minute), is refused here, before its body is read;
//  4. content type and content encoding, then size (the declared length, then the bounded read);
//  5. in the pipeline: signature and timestamp, then the vendor's rate (rate_per_minute), which
//     only verified requests spend; then parse, event id, replay, schema, routing, publish.
//
// So an unverified request costs at most one bounded body read and one MAC check, and spends only
// its source's budgets: junk from one address, or from many, never turns real webhooks into 429s.
package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Refusals decided before the pipeline runs.
var (
	ErrNotFound       = outcome.Err(outcome.NotFound, "not found")
	ErrMethod         = outcome.Err(outcome.Method, "method not allowed")
	ErrUnknownVendor  = outcome.Err(outcome.UnknownVendor, "unknown vendor")
	ErrDisabled       = outcome.Err(outcome.Disabled, "vendor disabled")
	ErrSourceDenied   = outcome.Err(outcome.SourceDenied, "source address not allowed")
	ErrContentType    = outcome.Err(outcome.ContentType, "content type must be application/json")
	ErrTooLarge       = outcome.Err(outcome.TooLarge, "body too large")
	ErrBadBody        = outcome.Err(outcome.BadBody, "could not read body")
	ErrShuttingDown   = outcome.Err(outcome.ShuttingDown, "shutting down")
	disabledRetryWait = 2 * time.Minute
)

// ErrRateLimited reports a request refused by a rate or failure budget; the error is a
// *ratelimit.LimitError that says which budget and how long to wait.
var ErrRateLimited = ratelimit.ErrLimited

// ErrContentEncoding reports a body sent with a Content-Encoding other than identity. Signatures
// cover the bytes as sent, and a decompressor is a cost and an attack surface no sender needs.
var ErrContentEncoding = outcome.Err(outcome.ContentEncoding, "content encoding must be identity")

// retryError carries a Retry-After wait with its cause.
type retryError struct {
	err  error
	wait time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Outcome and Observer are the outcome package's: what the receiver's observers see.
type (
	Outcome  = outcome.Outcome
	Observer = outcome.Observer
)

// Config holds the receiver's dependencies.
type Config struct {
	Vendors        vendor.Vendors
	Switches       *killswitch.Switches
	Pipeline       *pipeline.Pipeline
	MaxBody        int64
	TrustedProxies []netip.Prefix
	Sources        *ratelimit.Sources
	// Failures bounds the requests of each source that fail authentication; nil takes
	// ratelimit.NewFailures(ratelimit.FailureLimitsFor(Sources.PerMinute())): a tenth of what a
	// source may send may fail.
	Failures  *ratelimit.Failures
	Observers []Observer
	Log       zerolog.Logger
}

// Receiver is the partner listener's handler.
type Receiver struct {
	cfg      Config
	conns    ConnStats
	draining atomic.Bool
	bufs     sync.Pool
	now      func() time.Time
	logs     logSampler
}

var _ http.Handler = (*Receiver)(nil)

// New returns a Receiver.
func New(cfg Config) *Receiver {
	if cfg.Failures == nil {
		lim := ratelimit.DefaultFailureLimits
		if cfg.Sources != nil {
			lim = ratelimit.FailureLimitsFor(cfg.Sources.PerMinute())
		}
		cfg.Failures = ratelimit.NewFailures(lim)
	}
	return &Receiver{cfg: cfg, now: time.Now, bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
		logs: logSampler{budgets: map[string]*logBudget{}}}
}

// AddObserver adds an observer of outcomes. Call it before serving.
func (rc *Receiver) AddObserver(o Observer) { rc.cfg.Observers = append(rc.cfg.Observers, o) }

// ConnStats counts the partner listener's connections, once Limit is given it.
func (rc *Receiver) ConnStats() *ConnStats { return &rc.conns }

// Drain makes new requests answer 503 while the ones in flight finish.
func (rc *Receiver) Drain() { rc.draining.Store(true) }

// NewServer wraps a handler in an http.Server whose timeouts keep a slow client from holding a
// connection.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          nil,
		// Without it Go answers "OPTIONS *" itself with 200; the partner listener serves only
		// POST /hooks/{vendor}, so the handler refuses it like any other path.
		DisableGeneralOptionsHandler: true,
	}
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ServeHTTP handles one request.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rc.now()
	out := &Outcome{Received: start}
	if len(r.TransferEncoding) > 0 {
		// Go drops a Content-Length sent along with Transfer-Encoding, so the handler cannot tell
		// such a request (a smuggling probe, after which RFC 9112 section 6.1 wants the connection
		// closed) from a plain chunked one. Webhooks are seldom chunked: close after every one.
		w.Header().Set("Connection", "close")
	}
	err := rc.handle(w, r, out)
	rc.respond(w, out, err)
	out.Latency = rc.now().Sub(start)
	rc.log(out, err)
	for _, o := range rc.cfg.Observers {
		o.Observe(out)
	}
}

// handle runs the checks in the contract's order and then the pipeline.
func (rc *Receiver) handle(w http.ResponseWriter, r *http.Request, out *Outcome) error {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/hooks/")
	if !ok {
		return ErrNotFound
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return ErrMethod
	}
	if rc.draining.Load() {
		return &retryError{err: ErrShuttingDown, wait: 5 * time.Second}
	}
	if !slugRE.MatchString(rest) {
		return ErrUnknownVendor
	}
	v, ok := rc.cfg.Vendors[rest]
	if !ok {
		return ErrUnknownVendor
	}
	out.Vendor = v.Name
	if !v.Mode.Publishes() {
		out.Mode = string(v.Mode)
	}
	if !rc.cfg.Switches.Open(v.Name) {
		return &retryError{err: ErrDisabled, wait: disabledRetryWait}
	}
	src := rc.source(r)
	if !v.AllowsSource(src) {
		return ErrSourceDenied
	}
	now := rc.now()
	if ok, wait := rc.cfg.Sources.Allow(src, now); !ok {
		return &ratelimit.LimitError{Budget: ratelimit.BudgetSource, RetryAfter: wait}
	}
	if err := rc.cfg.Failures.Allow(v.FailLimiter, src, now); err != nil {
		return err
	}
	if !jsonContentType(r.Header.Values("Content-Type")) {
		return ErrContentType
	}
	if !identityEncoding(r.Header.Values("Content-Encoding")) {
		return ErrContentEncoding
	}
	if r.ContentLength > rc.cfg.MaxBody {
		return ErrTooLarge
	}
	buf := rc.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			rc.bufs.Put(buf)
		}
	}()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBody)); err != nil {
		// The read cost what a failed signature check costs: it counts as a failure.
		rc.cfg.Failures.Fail(v.FailLimiter, src, now)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ErrTooLarge
		}
		return ErrBadBody
	}
	// The URL comes from public_url (v.URL), never from Host or X-Forwarded-*: whoever sends the
	// request chooses those.
	ev := &pipeline.Event{Vendor: v, Header: r.Header, Body: buf.Bytes(), Received: now,
		Method: r.Method, Query: r.URL.RawQuery, URL: vendor.RequestURL(v.URL, "", r.URL.RawQuery)}
	err := rc.cfg.Pipeline.Process(r.Context(), ev)
	out.Verified = ev.Verified
	switch {
	case ev.Verified:
		rc.cfg.Failures.Verified(src)
	case errors.Is(err, verify.ErrBadSignature), errors.Is(err, verify.ErrTimestamp):
		rc.cfg.Failures.Fail(v.FailLimiter, src, now)
	}
	out.Token = ev.Token
	out.UnknownFields = ev.UnknownFields
	out.Skipped = len(ev.Routed.Skipped)
	out.PublishLatency = ev.PublishLatency
	if err == nil {
		out.Unrouted = ev.Routed.Matched == 0 && v.Mode != vendor.ModeLearn // learn mode routes nothing
		for _, m := range ev.Routed.Messages {
			if v.Mode.Publishes() {
				out.Topics = append(out.Topics, m.Topic)
			} else {
				out.ShadowTopics = append(out.ShadowTopics, m.Topic)
			}
		}
	}
	return err
}

func jsonContentType(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(values[0])
	return err == nil && mt == "application/json"
}

// identityEncoding reports whether the Content-Encoding headers name no coding but identity: in
// any of the header's copies, any element of a comma list, gzip or any other coding is refused
// (RFC 9110 section 8.4 lets a sender list several codings, applied in order).
func identityEncoding(values []string) bool {
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
}

// source returns the request's client address: the peer, or, when the peer is a trusted proxy, the
// nearest address in X-Forwarded-For that is not one.
func (rc *Receiver) source(r *http.Request) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !rc.trusted(peer) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a malformed hop: trust nothing beyond it
		}
		addr = a.Unmap()
		if !rc.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (rc *Receiver) trusted(a netip.Addr) bool {
	for _, p := range rc.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Answer maps a request's error to its reason and the body of the answer. It is the one place
// where errors become answers: the status is the reason's.
func Answer(err error) (*outcome.Reason, map[string]string) {
	r := outcome.Of(err)
	switch {
	case r == outcome.Accepted, r == outcome.Duplicate:
		return r, map[string]string{"status": r.Message()}
	case r == outcome.Schema:
		var se *schema.Error
		if errors.As(err, &se) {
			return r, map[string]string{
				"error": r.Message() + " (" + se.Keyword + ")", "path": se.Pointer, "keyword": se.Keyword,
			}
		}
	case r.Detail():
		// The error's own text says where the input is wrong in general terms, never a value.
		text := err.Error()
		if !strings.HasPrefix(text, r.Message()) {
			text = r.Message() + ": " + text
		}
		return r, errBody(text)
	}
	return r, errBody(r.Message())
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func (rc *Receiver) respond(w http.ResponseWriter, out *Outcome, err error) {
	reason, body := Answer(err)
	status := reason.Status()
	out.Status, out.Reason = status, reason
	if reason == outcome.Accepted {
		body["event"] = out.Token
	}
	var re *retryError
	var le *ratelimit.LimitError
	var ue *publish.UnavailableError
	switch {
	case errors.As(err, &le):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(le.RetryAfter)))
	case errors.As(err, &re):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(re.wait)))
	case errors.As(err, &ue):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(max(ue.RetryAfter, time.Second))))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "30")
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60") // every 429 says when to come back
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

func (rc *Receiver) log(out *Outcome, err error) {
	suppressed, ok := rc.logs.allow(out)
	if !ok {
		return
	}
	ev := rc.cfg.Log.Info()
	if out.Status >= 500 {
		ev = rc.cfg.Log.Warn()
	}
	ev = ev.Str("component", "receiver").Str("vendor", out.Vendor).Int("status", out.Status).
		Str("reason", out.Reason.Word()).Dur("latency", out.Latency)
	if out.Token != "" {
		ev = ev.Str("event", out.Token)
	}
	if len(out.Topics) > 0 {
		ev = ev.Strs("topics", out.Topics)
	}
	if out.Skipped > 0 {
		ev = ev.Int("routes_skipped", out.Skipped)
	}
	if err != nil && out.Status >= 400 {
		ev = ev.Str("error", err.Error())
	}
	if suppressed > 0 {
		ev = ev.Uint64("suppressed", suppressed)
	}
	ev.Msg("webhook")
}

// Shutdown drains the receiver and waits for in-flight requests, up to ctx.
func Shutdown(ctx context.Context, rc *Receiver, srv *http.Server) error {
	rc.Drain()
	srv.SetKeepAlivesEnabled(false) // answers in flight close their connections
	return srv.Shutdown(ctx)
}
