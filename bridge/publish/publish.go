// Package publish defines the contract between the pipeline and a sink, where events go: the
// embedded broker (bridge/broker) and an outside one (bridge/uplink) implement Publisher.
//
// A sink publishes an event's messages and then records the event as published (its replay
// record), durably, so that the vendor's redelivery is a duplicate: a sink that cannot share a
// transaction with the state store records through a Ledger, which the store implements, once
// every message is held; the embedded broker, whose storage hook is the store's, writes both in one
// transaction.
package publish

import (
	"context"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/route"
)

// Event is one event's output.
type Event struct {
	Vendor   string
	Token    string // pseudonymized event id, sent as the MQTT 5 user property "event"
	Messages []route.Message
	// At is when the event was taken: the time its replay record carries.
	At time.Time
}

// Publisher publishes events. Publish returns nil only when every message of every event is held
// by the broker and every event is recorded as published; otherwise no event is recorded, and the
// vendor, with no 2xx, sends them again.
type Publisher interface {
	Publish(ctx context.Context, evs ...*Event) error
}

// Ledger records events as published, durably, in one write. The state store implements it.
type Ledger interface {
	Record(evs ...*Event) error
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
