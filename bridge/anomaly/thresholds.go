package anomaly

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

// Kind names what an alert is about.
type Kind string

// Kinds. The names match the policy's anomaly keys, except Rate (rate_factor).
const (
	// SignatureFailures counts requests refused for a bad signature or timestamp.
	SignatureFailures Kind = "signature_failures"
	// SchemaFailures counts authenticated requests whose payload did not parse, had no usable
	// event id, or did not match the schema.
	SchemaFailures Kind = "schema_failures"
	// UnknownFields counts payloads holding keys that the schema declares nowhere.
	UnknownFields Kind = "unknown_fields"
	// Replays counts redeliveries of events already published.
	Replays Kind = "replays"
	// Rate compares the requests in a window with the vendor's usual count per window.
	Rate Kind = "rate"
)

// Level is an alert level and a quarantine level; 0 means never. For Rate the levels are factors of
// the usual rate, for the other kinds counts per window.
type Level struct {
	Alert      float64 `json:"alert"`
	Quarantine float64 `json:"quarantine"`
}

// Thresholds are one vendor's effective levels.
type Thresholds struct {
	Window            time.Duration `json:"-"`
	WindowText        string        `json:"window"`
	SignatureFailures Level         `json:"signature_failures"`
	SchemaFailures    Level         `json:"schema_failures"`
	UnknownFields     Level         `json:"unknown_fields"`
	Replays           Level         `json:"replays"`
	RateFactor        Level         `json:"rate_factor"`
}

// Level returns the levels of a kind.
func (t *Thresholds) Level(k Kind) Level {
	switch k {
	case SignatureFailures:
		return t.SignatureFailures
	case SchemaFailures:
		return t.SchemaFailures
	case UnknownFields:
		return t.UnknownFields
	case Replays:
		return t.Replays
	case Rate:
		return t.RateFactor
	}
	return Level{}
}

// Defaults are the thresholds of a policy without an anomaly block. Signature failures are what an
// attacker or a botched secret rotation produce, so they quarantine early; a quarantined vendor is
// answered 503 with Retry-After, so the real vendor's events wait instead of being lost. Schema
// failures mean the vendor changed its format: they quarantine late, so the events wait for a new
// schema. Unknown fields, replays (vendors do redeliver) and a high rate only alert; the rate
// limiter already holds a flood back.
var Defaults = Thresholds{
	Window:            5 * time.Minute,
	SignatureFailures: Level{Alert: 5, Quarantine: 20},
	SchemaFailures:    Level{Alert: 5, Quarantine: 50},
	UnknownFields:     Level{Alert: 10},
	Replays:           Level{Alert: 20},
	RateFactor:        Level{Alert: 10},
}

// Window bounds.
const (
	MinWindow = 10 * time.Second
	MaxWindow = 24 * time.Hour
)

// Compile returns a policy's effective thresholds. A kind the policy leaves out (both levels zero)
// takes its default; in a kind the policy sets, a level of 0 or below means never, so
// {alert: -1, quarantine: -1} turns a kind off. A window of zero takes the default. It reports every
// level that makes no sense.
func Compile(p policy.Anomaly) (Thresholds, error) {
	t := Defaults
	var errs []error
	if w := time.Duration(p.Window); w != 0 {
		if w < MinWindow || w > MaxWindow {
			errs = append(errs, fmt.Errorf("anomaly.window must be between %s and %s", MinWindow, MaxWindow))
		}
		t.Window = w
	}
	set := func(k Kind, dst *Level, src policy.Threshold) {
		if src.Alert == 0 && src.Quarantine == 0 {
			return
		}
		*dst = Level{Alert: max(src.Alert, 0), Quarantine: max(src.Quarantine, 0)}
		if dst.Alert > 0 && dst.Quarantine > 0 && dst.Quarantine < dst.Alert {
			errs = append(errs, fmt.Errorf("anomaly.%s: quarantine (%g) is below alert (%g)", policyKey(k), dst.Quarantine, dst.Alert))
		}
		if k == Rate && (dst.Alert > 0 && dst.Alert <= 1 || dst.Quarantine > 0 && dst.Quarantine <= 1) {
			errs = append(errs, fmt.Errorf("anomaly.rate_factor: a factor must be above 1 (times the usual rate)"))
		}
	}
	set(SignatureFailures, &t.SignatureFailures, p.SignatureFailures)
	set(SchemaFailures, &t.SchemaFailures, p.SchemaFailures)
	set(UnknownFields, &t.UnknownFields, p.UnknownFields)
	set(Replays, &t.Replays, p.Replays)
	set(Rate, &t.RateFactor, p.RateFactor)
	t.WindowText = t.Window.String()
	return t, errors.Join(errs...)
}

func policyKey(k Kind) string {
	if k == Rate {
		return "rate_factor"
	}
	return string(k)
}
