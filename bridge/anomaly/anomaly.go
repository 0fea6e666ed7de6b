// Package anomaly watches each vendor's webhook outcomes for bursts of signature failures, schema
// failures, payloads with unknown fields, replays, and requests well above the vendor's usual rate.
// Crossing a policy's alert level raises an alert; crossing its quarantine level quarantines the
// vendor through the kill switch, and only a person lifts that.
//
// Counts are kept over a sliding window (the policy's anomaly.window, 5 minutes by default) made of
// ten buckets. The usual rate is a slow moving average of the requests per window; until three
// windows have passed there is no baseline and the rate never alerts.
package anomaly

import (
	"fmt"
	"sync"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// Action is what crossing a threshold did.
type Action string

// Actions.
const (
	ActionAlert      Action = "alert"
	ActionQuarantine Action = "quarantine"
)

// AlertsTopic is where alerts are published, under the topic prefix: {topic_prefix}/_alerts.
const AlertsTopic = "_alerts"

// Alert is one crossing of a threshold. Hookbridge publishes it as JSON on
// {topic_prefix}/_alerts (QoS 1, not retained) and logs it. Every value comes from configuration or
// from counting; none from a request. For example:
//
//	{"vendor":"acme-locks","kind":"signature_failures","action":"quarantine","event_type":"quarantine",
//	 "count":20,"threshold":20,"window":"5m0s","window_seconds":300,"time":"2026-11-25T08:14:03Z"}
//
// kind is one of signature_failures, schema_failures, unknown_fields, replays, rate; action (and
// event_type, the same word, the key a Home Assistant MQTT event entity reads) is alert or
// quarantine. count is how many in the last window; threshold the level crossed, a count per window
// (for rate: the request count the factor makes of the baseline). For rate, factor and baseline
// (the usual requests per window) are set too.
type Alert struct {
	Vendor        string    `json:"vendor"`
	Kind          Kind      `json:"kind"`
	Action        Action    `json:"action"`
	EventType     Action    `json:"event_type"`
	Count         int       `json:"count"`
	Threshold     float64   `json:"threshold"`
	Factor        float64   `json:"factor,omitempty"`
	Baseline      float64   `json:"baseline,omitempty"`
	Window        string    `json:"window"`
	WindowSeconds float64   `json:"window_seconds"`
	Time          time.Time `json:"time"`
}

// Reason returns the alert in words, for the kill switch's reason and logs.
func (a *Alert) Reason() string {
	what := map[Kind]string{
		SignatureFailures: "signature failures",
		SchemaFailures:    "schema failures",
		UnknownFields:     "payloads with unknown fields",
		Replays:           "replays",
		Rate:              "requests",
	}[a.Kind]
	s := fmt.Sprintf("%d %s in %s (threshold %g)", a.Count, what, a.Window, a.Threshold)
	if a.Kind == Rate {
		s = fmt.Sprintf("%d requests in %s, %g times the usual %.1f", a.Count, a.Window, a.Factor, a.Baseline)
	}
	return s
}

// Tuning of the rate baseline.
const (
	buckets = 10
	// baselineWeight is the weight of each new window in the moving average: slow, so a long attack
	// does not become the norm within the hour.
	baselineWeight = 0.1
	// baselineWindows is how many windows must pass before the baseline is trusted.
	baselineWindows = 3
	// rateFloor is the smallest baseline the factor applies to, so a vendor that sends one event an
	// hour does not alert on its second.
	rateFloor = 10.0
)

// Config holds a detector's dependencies.
type Config struct {
	// Thresholds are the configured vendors' levels; outcomes of other vendors are ignored.
	Thresholds map[string]Thresholds
	// Quarantine turns a vendor off until a person lifts it.
	Quarantine func(vendor, reason string) error
	// Alert receives each alert, quarantines included, after Quarantine was called. It runs in the
	// goroutine that observed the outcome, so it should not block.
	Alert func(Alert)
	// Now returns the time; time.Now by default.
	Now func() time.Time
}

// Detector is a outcome.Observer that counts outcomes per vendor and acts on thresholds.
type Detector struct {
	cfg     Config
	vendors map[string]*vendor // fixed after New
}

var _ outcome.Observer = (*Detector)(nil)

type bucket struct {
	slot   int64 // which bucket period the counts are for
	counts [len(kindIndex)]int
}

// kindIndex orders the kinds in a bucket.
var kindIndex = [...]Kind{SignatureFailures, SchemaFailures, UnknownFields, Replays, Rate}

type vendor struct {
	name string
	th   Thresholds
	step time.Duration // bucket width

	mu          sync.Mutex // guards the fields below
	ring        [buckets]bucket
	nextAlert   [len(kindIndex)]time.Time
	quarantined bool      // this detector quarantined the vendor; cleared by Reset
	winStart    time.Time // start of the current baseline window; zero before the first request
	winCount    int
	windows     int // baseline windows completed
	baseline    float64
	graceUntil  time.Time // no rate checks before this: a re-enabled vendor redelivers its backlog
}

// New returns a detector.
func New(cfg Config) *Detector {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Detector{cfg: cfg, vendors: map[string]*vendor{}}
	for name, th := range cfg.Thresholds {
		if th.Window <= 0 {
			th.Window = Defaults.Window
		}
		d.vendors[name] = &vendor{name: name, th: th, step: th.Window / buckets}
	}
	return d
}

// classify returns the kinds an outcome counts toward, besides the rate, and whether it counts
// at all: outcomes decided before the vendor could be judged (switched off, shutting down, no
// secret) do not.
func classify(o *outcome.Outcome) (kinds []Kind, counts bool) {
	switch o.Reason {
	case outcome.Disabled, outcome.ShuttingDown, outcome.NoSecret:
		return nil, false
	case outcome.BadSignature, outcome.BadTimestamp:
		kinds = append(kinds, SignatureFailures)
	case outcome.Schema, outcome.BadJSON, outcome.BadForm, outcome.JSONLimits, outcome.NoEventID, outcome.BadEventID:
		kinds = append(kinds, SchemaFailures)
	case outcome.Duplicate:
		kinds = append(kinds, Replays)
	}
	if o.UnknownFields > 0 {
		kinds = append(kinds, UnknownFields)
	}
	return kinds, true
}

func index(k Kind) int {
	for i, x := range kindIndex {
		if x == k {
			return i
		}
	}
	return -1
}

// Observe counts one outcome and acts on any threshold it crosses.
func (d *Detector) Observe(o *outcome.Outcome) {
	v, ok := d.vendors[o.Vendor]
	if !ok {
		return
	}
	kinds, counts := classify(o)
	if !counts {
		return
	}
	now := d.cfg.Now()
	kinds = append(kinds, Rate)

	v.mu.Lock()
	v.roll(now)
	v.winCount++
	b := v.bucket(now)
	for _, k := range kinds {
		b.counts[index(k)]++
	}
	var fired []Alert
	for _, k := range kinds {
		if a, ok := v.check(k, now); ok {
			fired = append(fired, a)
		}
	}
	v.mu.Unlock()

	for _, a := range fired {
		if a.Action == ActionQuarantine && d.cfg.Quarantine != nil {
			if err := d.cfg.Quarantine(v.name, "anomaly: "+a.Reason()); err != nil {
				// Not quarantined: let the next crossing try again, and still raise the alert.
				v.mu.Lock()
				v.quarantined = false
				v.mu.Unlock()
			}
		}
		if d.cfg.Alert != nil {
			d.cfg.Alert(a)
		}
	}
}

// Reset forgets a vendor's counts and alerts, for a fresh start when a person enables it or lifts
// its quarantine; its baseline stays, but the time it was off does not count toward it, and for one
// window its rate is not judged (it is redelivering what waited).
func (d *Detector) Reset(vendorName string) {
	v, ok := d.vendors[vendorName]
	if !ok {
		return
	}
	now := d.cfg.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ring = [buckets]bucket{}
	v.nextAlert = [len(kindIndex)]time.Time{}
	v.quarantined = false
	if !v.winStart.IsZero() {
		v.winStart, v.winCount = now, 0
	}
	v.graceUntil = now.Add(v.th.Window)
}

// roll closes the baseline windows that ended before now; v.mu must be held.
func (v *vendor) roll(now time.Time) {
	if v.winStart.IsZero() {
		v.winStart = now
		return
	}
	w := v.th.Window
	for n := 0; now.Sub(v.winStart) >= w; n++ {
		if n > 1000 { // idle for a long time: the average is zero by now
			v.baseline, v.winCount = 0, 0
			v.windows += int(now.Sub(v.winStart) / w)
			v.winStart = v.winStart.Add(now.Sub(v.winStart) / w * w)
			return
		}
		if v.windows == 0 {
			v.baseline = float64(v.winCount)
		} else {
			v.baseline += baselineWeight * (float64(v.winCount) - v.baseline)
		}
		v.windows++
		v.winCount = 0
		v.winStart = v.winStart.Add(w)
	}
}

// bucket returns the bucket for now, emptied if it held an older period; v.mu must be held.
func (v *vendor) bucket(now time.Time) *bucket {
	slot := now.UnixNano() / int64(v.step)
	b := &v.ring[slot%buckets]
	if b.slot != slot {
		*b = bucket{slot: slot}
	}
	return b
}

// count returns a kind's count over the last window; v.mu must be held.
func (v *vendor) count(k Kind, now time.Time) int {
	slot := now.UnixNano() / int64(v.step)
	i, n := index(k), 0
	for _, b := range v.ring {
		if b.slot > slot-buckets && b.slot <= slot {
			n += b.counts[i]
		}
	}
	return n
}

// check returns the alert a kind's count calls for, if any; v.mu must be held. An alert repeats at
// most once a window while the count stays above its level; a quarantine fires once.
func (v *vendor) check(k Kind, now time.Time) (Alert, bool) {
	lv := v.th.Level(k)
	n := v.count(k, now)
	a := Alert{Vendor: v.name, Kind: k, Count: n, Window: v.th.Window.String(),
		WindowSeconds: v.th.Window.Seconds(), Time: now.UTC()}
	alertAt, quarantineAt := lv.Alert, lv.Quarantine
	if k == Rate {
		if v.windows < baselineWindows || now.Before(v.graceUntil) {
			return Alert{}, false
		}
		base := max(v.baseline, rateFloor)
		a.Baseline = round(v.baseline)
		alertAt, quarantineAt = lv.Alert*base, lv.Quarantine*base
	}
	i := index(k)
	switch {
	case quarantineAt > 0 && float64(n) >= quarantineAt && !v.quarantined:
		v.quarantined = true
		v.nextAlert[i] = now.Add(v.th.Window)
		a.Action, a.Threshold, a.Factor = ActionQuarantine, round(quarantineAt), factor(k, lv.Quarantine)
	case alertAt > 0 && float64(n) >= alertAt && !now.Before(v.nextAlert[i]) && !v.quarantined:
		v.nextAlert[i] = now.Add(v.th.Window)
		a.Action, a.Threshold, a.Factor = ActionAlert, round(alertAt), factor(k, lv.Alert)
	default:
		return Alert{}, false
	}
	a.EventType = a.Action
	return a, true
}

func factor(k Kind, f float64) float64 {
	if k == Rate {
		return f
	}
	return 0
}

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
