// Package publish defines what the pipeline hands to a broker: an event's messages and the replay
// record to keep with them. The embedded broker (bridge/broker) and an external one
// (bridge/uplink) implement Publisher.
package publish

import (
	"context"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// Event is one event's output.
type Event struct {
	Vendor   string
	Token    string // pseudonymized event id, sent as the MQTT 5 user property "event"
	Messages []route.Message
	// Seen is the replay record. A Publisher writes it only once every message is held by the
	// broker, and durably, before it returns nil.
	Seen []store.Op
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, ev *Event) error
}

// ErrUnavailable reports a broker that cannot take messages now; the vendor should retry.
var ErrUnavailable = outcome.Err(outcome.BrokerUnavailable, "broker unavailable")

// UnavailableError carries how long the vendor should wait.
type UnavailableError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return "broker unavailable: " + e.Err.Error()
	}
	return "broker unavailable"
}

// Unwrap returns ErrUnavailable, so errors.Is matches it and the error carries its reason, and
// the cause.
func (e *UnavailableError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.Err}
}
