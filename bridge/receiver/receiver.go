// Package receiver is the partner-facing HTTP listener. It serves only POST /hooks/{vendor} (and
// /hooks/{vendor}/{segment} for a vendor whose policy gives that segment a meaning: a path token,
// or the event type), and HEAD of a vendor that declares a URL check. It runs the cheap refusals
// first, hands the rest to the pipeline, and translates the outcome into the partner contract's
// status table (README, "Partner HTTP contract"), or into the success answer a vendor's policy
// asks for.
//
// The path after /hooks/{vendor}/ may be a secret (a path token): it is never logged, counted,
// audited or answered, and no error text holds it. Go's http.Server logs no request paths either.
//
// The order, so that a cheap refusal never costs an expensive one and unverified traffic never
// spends what the vendor's real webhooks need:
//
//  1. method, vendor, the path segment after it (if the vendor has a use for one), kill switch,
//     source CIDR;
//  2. source rate: the source address's own request budget (source_rate_per_minute);
//  3. failure budgets (ratelimit.Failures): a source that failed authentication too often (a
//     tenth of source_rate_per_minute), or that failed recently while its vendor is flooded with
//     failures (a tenth of its rate_per_minute), is refused here, before its body is read;
//  4. content type (what the vendor takes: JSON, a form, or no body with the data in the query
//     string) and content encoding, then size (the declared length, then the bounded read);
//  5. in the pipeline: signature and timestamp (a path token, Basic credentials), then the
//     vendor's rate (rate_per_minute), which only verified requests spend, where a HEAD of a URL
//     check ends; then parse (where a handshake or an ignored empty body ends), event ids, replay,
//     schema, routing, publish.
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
	"github.com/hookbridge/hookbridge/bridge/policy"
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
	ErrContentType    = outcome.Err(outcome.ContentType, "unsupported content type")
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

// contentTypeError says, in general terms, which bodies a vendor takes.
type contentTypeError struct{ accepted string }

func (e *contentTypeError) Error() string { return "unsupported content type: send " + e.accepted }
func (e *contentTypeError) Unwrap() error { return ErrContentType }

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

// MaxTypeSegment bounds the path segment that is an event type (event.type_path), in bytes.
const MaxTypeSegment = 64

// typeSegment reports whether a path segment may be an event type: 1 to MaxTypeSegment of the
// URL's unreserved characters (no escapes: what arrives is what the sender was set up with), and
// not "." or "..".
func typeSegment(s string) bool {
	return s != "" && len(s) <= MaxTypeSegment && verify.PathTokenChars(s) && s != "." && s != ".."
}

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
	ev, err := rc.handle(w, r, out)
	rc.respond(w, r, out, ev, err)
	out.Latency = rc.now().Sub(start)
	rc.log(out, ev, err)
	outs := []*Outcome{out}
	if ev != nil && ev.Batch && out.Reason.Taken() {
		outs = batchOutcomes(out, ev)
	}
	for _, o := range rc.cfg.Observers {
		for _, oc := range outs {
			o.Observe(oc)
		}
	}
}

// batchOutcomes returns one outcome per event of a batch that was taken: each accepted or a
// duplicate, with its own token and topics, and the request's status and times.
func batchOutcomes(out *Outcome, ev *pipeline.Event) []*Outcome {
	outs := make([]*Outcome, 0, len(ev.Items))
	for _, it := range ev.Items {
		o := *out
		o.Token, o.Topics, o.Skipped, o.Unrouted, o.UnknownFields = it.Token, nil, 0, false, 0
		o.ShadowTopics = nil
		o.Reason = outcome.Duplicate
		if !it.Duplicate {
			o.Reason = outcome.Accepted
			o.Skipped = len(it.Routed.Skipped)
			o.UnknownFields = it.UnknownFields
			setRouted(&o, it, ev.Vendor.Mode)
		}
		outs = append(outs, &o)
	}
	return outs
}

// setRouted records what an event's routes published: its topics, or in shadow mode the topics it
// would have published (kept apart, so nothing counts them as published); learn mode routes
// nothing, which is not "unrouted".
func setRouted(o *Outcome, it *pipeline.Item, mode vendor.Mode) {
	o.Unrouted = it.Routed.Matched == 0 && mode != vendor.ModeLearn
	if mode.Publishes() {
		o.Topics = topics(it)
	} else {
		o.ShadowTopics = topics(it)
	}
}

func topics(it *pipeline.Item) []string {
	if len(it.Routed.Messages) == 0 {
		return nil
	}
	out := make([]string, len(it.Routed.Messages))
	for i, m := range it.Routed.Messages {
		out[i] = m.Topic
	}
	return out
}

// handle runs the checks in the contract's order and then the pipeline. It returns the pipeline's
// event once the vendor is known and the request passed the cheap refusals.
func (rc *Receiver) handle(w http.ResponseWriter, r *http.Request, out *Outcome) (*pipeline.Event, error) {
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), "/hooks/")
	if !ok {
		return nil, ErrNotFound
	}
	name, rest, hasRest := strings.Cut(path, "/")
	head := r.Method == http.MethodHead
	if r.Method != http.MethodPost && !head {
		w.Header().Set("Allow", rc.allow(name))
		return nil, ErrMethod
	}
	if rc.draining.Load() {
		return nil, &retryError{err: ErrShuttingDown, wait: 5 * time.Second}
	}
	if !slugRE.MatchString(name) {
		return nil, ErrUnknownVendor
	}
	v, ok := rc.cfg.Vendors[name]
	if !ok {
		return nil, ErrUnknownVendor
	}
	out.Vendor = v.Name
	if !v.Mode.Publishes() {
		out.Mode = string(v.Mode)
	}
	if head && !v.Intake.URLCheck {
		w.Header().Set("Allow", http.MethodPost)
		return nil, ErrMethod
	}
	if hasRest {
		switch v.Intake.Rest {
		case vendor.RestNone:
			return nil, ErrNotFound
		case vendor.RestType:
			if !typeSegment(rest) {
				return nil, ErrNotFound
			}
		} // vendor.RestToken: any path is the scheme's to judge (a wrong token is a 401)
	}
	if !rc.cfg.Switches.Open(v.Name) {
		return nil, &retryError{err: ErrDisabled, wait: disabledRetryWait}
	}
	src := rc.source(r)
	if !v.AllowsSource(src) {
		return nil, ErrSourceDenied
	}
	now := rc.now()
	if ok, wait := rc.cfg.Sources.Allow(src, now); !ok {
		return nil, &ratelimit.LimitError{Budget: ratelimit.BudgetSource, RetryAfter: wait}
	}
	if err := rc.cfg.Failures.Allow(v.FailLimiter, src, now); err != nil {
		return nil, err
	}
	// The URL comes from public_url (v.URL), never from Host or X-Forwarded-*: whoever sends the
	// request chooses those.
	ev := &pipeline.Event{Vendor: v, Header: r.Header, Received: now, Method: r.Method, Query: r.URL.RawQuery,
		Rest: rest, URL: vendor.RequestURL(v.URL, rest, r.URL.RawQuery)}
	if head {
		// A check of the vendor's URL: authenticated like a POST, and nothing else.
		err := rc.cfg.Pipeline.Authenticate(r.Context(), ev)
		rc.account(v, src, now, ev, err)
		out.Verified = ev.Verified
		return ev, err
	}
	kind, err := content(v, r)
	if err != nil {
		return ev, err
	}
	ev.Content = kind
	if !identityEncoding(r.Header.Values("Content-Encoding")) {
		return ev, ErrContentEncoding
	}
	if r.ContentLength > rc.cfg.MaxBody {
		return ev, ErrTooLarge
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
			return ev, ErrTooLarge
		}
		return ev, ErrBadBody
	}
	ev.Body = buf.Bytes()
	err = rc.cfg.Pipeline.Process(r.Context(), ev)
	rc.account(v, src, now, ev, err)
	out.Verified = ev.Verified
	out.PublishLatency = ev.PublishLatency
	if len(ev.Items) == 1 {
		it := ev.Items[0]
		out.Token = it.Token
		out.UnknownFields = it.UnknownFields
		out.Skipped = len(it.Routed.Skipped)
		if err == nil {
			setRouted(out, it, v.Mode)
		}
	}
	return ev, err
}

// account tells the failure budgets how authentication went.
func (rc *Receiver) account(v *vendor.Vendor, src netip.Addr, now time.Time, ev *pipeline.Event, err error) {
	switch {
	case ev.Verified:
		rc.cfg.Failures.Verified(src)
	case errors.Is(err, verify.ErrBadSignature), errors.Is(err, verify.ErrTimestamp):
		rc.cfg.Failures.Fail(v.FailLimiter, src, now)
	}
}

// allow returns the Allow header of a 405 for the endpoint of vendor name.
func (rc *Receiver) allow(name string) string {
	if v, ok := rc.cfg.Vendors[name]; ok && v.Intake.URLCheck {
		return "POST, HEAD"
	}
	return http.MethodPost
}

// content returns the kind of body a request carries, if its vendor takes it: JSON or a form by
// its Content-Type (exactly one, parameters allowed), or, for a vendor that takes its data in the
// query string, no body at all.
func content(v *vendor.Vendor, r *http.Request) (string, error) {
	if v.Intake.Query && r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return policy.ContentQuery, nil
	}
	if values := r.Header.Values("Content-Type"); len(values) == 1 {
		if mt, _, err := mime.ParseMediaType(values[0]); err == nil {
			switch {
			case mt == "application/json" && v.Intake.JSON:
				return policy.ContentJSON, nil
			case mt == "application/x-www-form-urlencoded" && v.Intake.Form:
				return policy.ContentForm, nil
			}
		}
	}
	return "", &contentTypeError{accepted: v.Intake.Accepted}
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

// challenger is a verifier that asks for credentials on a 401 (WWW-Authenticate), as HTTP Basic
// does.
type challenger interface {
	Challenge() string
}

func (rc *Receiver) respond(w http.ResponseWriter, r *http.Request, out *Outcome, ev *pipeline.Event, err error) {
	reason, body := Answer(err)
	switch {
	case err != nil:
	case r.Method == http.MethodHead, ev.Challenge != "":
		reason = outcome.Handshake
	case ev.Ignored:
		reason = outcome.Ignored
	}
	status := reason.Status()
	out.Reason = reason
	h := w.Header()
	var re *retryError
	var le *ratelimit.LimitError
	var ue *publish.UnavailableError
	switch {
	case errors.As(err, &le):
		h.Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(le.RetryAfter)))
	case errors.As(err, &re):
		h.Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(re.wait)))
	case errors.As(err, &ue):
		h.Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(max(ue.RetryAfter, time.Second))))
	case status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "30")
	case status == http.StatusTooManyRequests:
		h.Set("Retry-After", "60") // every 429 says when to come back
	case status == http.StatusUnauthorized && ev != nil:
		if c, ok := ev.Vendor.Verifier.(challenger); ok {
			h.Set("WWW-Authenticate", c.Challenge())
		}
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	var answer any = body
	switch {
	case reason == outcome.Handshake && ev.Challenge != "":
		// The one answer that holds input: the challenge, which the handshake checked is a short
		// string of token characters.
		answer = map[string]string{"challenge": ev.Challenge}
	case reason == outcome.Handshake:
		out.Status = status
		w.WriteHeader(status) // HEAD: no body
		return
	case (reason.Taken() || reason == outcome.Ignored) && ev.Vendor.Answer != nil:
		a := ev.Vendor.Answer
		out.Status = a.Status
		if a.Type != "" {
			h.Set("Content-Type", a.Type)
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
		return
	case reason == outcome.Ignored:
		answer = map[string]string{"status": "ignored"}
	case reason.Taken() && ev.Batch:
		answer = batchAnswer{Status: reason.Message(), Events: len(ev.Items), Duplicates: ev.Duplicates()}
	case reason == outcome.Accepted:
		body["event"] = out.Token
	}
	out.Status = status
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return // the answer to a HEAD has no body (Go's server would drop it)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(answer)
}

// batchAnswer is the answer to a batch that was taken.
type batchAnswer struct {
	Status     string `json:"status"`
	Events     int    `json:"events"`
	Duplicates int    `json:"duplicates"`
}

func (rc *Receiver) log(out *Outcome, req *pipeline.Event, err error) {
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
	if req != nil && req.Batch {
		tokens := make([]string, 0, len(req.Items))
		for _, it := range req.Items {
			if it.Token != "" {
				tokens = append(tokens, it.Token)
			}
		}
		ev = ev.Strs("events", tokens).Int("duplicates", req.Duplicates())
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
