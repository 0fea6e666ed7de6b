package receiver

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestAnswer is the status table of the partner contract, from the errors the stages return: each
// maps to its reason, whose status and word the answer and the metrics use.
func TestAnswer(t *testing.T) {
	_, syntax := payload.Parse([]byte(`{"a":`), payload.DefaultLimits)
	_, limits := payload.Parse([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`), payload.DefaultLimits)
	tests := []struct {
		err    error
		reason *outcome.Reason
		status int
		text   string // the answer's error text, when it has one
	}{
		{nil, outcome.Accepted, http.StatusAccepted, ""},
		{pipeline.ErrDuplicate, outcome.Duplicate, http.StatusOK, ""},
		{ErrNotFound, outcome.NotFound, http.StatusNotFound, "not found"},
		{ErrMethod, outcome.Method, http.StatusMethodNotAllowed, "method not allowed: use POST"},
		{ErrShuttingDown, outcome.ShuttingDown, http.StatusServiceUnavailable, "shutting down; retry later"},
		{ErrUnknownVendor, outcome.UnknownVendor, http.StatusNotFound, "unknown vendor"},
		{&retryError{err: ErrDisabled}, outcome.Disabled, http.StatusServiceUnavailable, "vendor disabled; retry later"},
		{ErrSourceDenied, outcome.SourceDenied, http.StatusForbidden, "source address not allowed"},
		{&ratelimit.LimitError{Budget: "source"}, outcome.RateLimited, http.StatusTooManyRequests, "rate limited; retry later"},
		{ErrContentType, outcome.ContentType, http.StatusUnsupportedMediaType, "unsupported content type"},
		{&contentTypeError{accepted: "application/json or application/x-www-form-urlencoded"}, outcome.ContentType, http.StatusUnsupportedMediaType,
			"unsupported content type: send application/json or application/x-www-form-urlencoded"},
		{ErrContentEncoding, outcome.ContentEncoding, http.StatusUnsupportedMediaType, "content encoding must be identity: send the body uncompressed"},
		{ErrTooLarge, outcome.TooLarge, http.StatusRequestEntityTooLarge, "body too large"},
		{ErrBadBody, outcome.BadBody, http.StatusBadRequest, "could not read body"},
		{pipeline.ErrNoVerifier, outcome.NoSecret, http.StatusServiceUnavailable, "vendor not configured; retry later"},
		{verify.ErrTimestamp, outcome.BadTimestamp, http.StatusUnauthorized, "invalid signature or timestamp"},
		{fmt.Errorf("%w: missing Webhook-Id header", verify.ErrBadSignature), outcome.BadSignature, http.StatusUnauthorized, "invalid signature or timestamp"},
		{limits, outcome.JSONLimits, http.StatusBadRequest, "JSON exceeds limits: " + limits.Error()},
		{syntax, outcome.BadJSON, http.StatusBadRequest, "invalid JSON: " + syntax.Error()},
		{fmt.Errorf("%w: no challenge", pipeline.ErrBadHandshake), outcome.BadHandshake, http.StatusBadRequest, "invalid handshake: no challenge"},
		{pipeline.ErrNoEventID, outcome.NoEventID, http.StatusBadRequest, "no event id"},
		{fmt.Errorf("%w: control character", pipeline.ErrBadEventID), outcome.BadEventID, http.StatusBadRequest, "invalid event id: control character"},
		{&schema.Error{Pointer: "/a", Keyword: "type"}, outcome.Schema, http.StatusUnprocessableEntity, "payload does not match the schema (type)"},
		{&publish.UnavailableError{Err: errors.New("down")}, outcome.BrokerUnavailable, http.StatusServiceUnavailable, "broker unavailable; retry later"},
		{errors.New("anything else"), outcome.Internal, http.StatusInternalServerError, "internal error"},
	}
	for _, tt := range tests {
		r, body := Answer(tt.err)
		if r != tt.reason || r.Status() != tt.status || body["error"] != tt.text {
			t.Errorf("Answer(%v) = %s %d %q, want %s %d %q", tt.err, r.Word(), r.Status(), body["error"], tt.reason.Word(), tt.status, tt.text)
		}
	}
	if limits == nil || syntax == nil {
		t.Fatal("the payloads meant to fail parsed")
	}
}

// TestEveryReasonAnswered checks that every reason has a status and a word of its own, so none is
// counted under another's label.
func TestEveryReasonAnswered(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range outcome.All() {
		if r.Word() == "" || r.Status() < 200 || r.Status() > 599 || r.Message() == "" || seen[r.Word()] {
			t.Errorf("reason %q: status %d, message %q, repeated %v", r.Word(), r.Status(), r.Message(), seen[r.Word()])
		}
		seen[r.Word()] = true
	}
}
