// Package metrics exposes Hookbridge's Prometheus metrics on a registry of its own (never the
// global one): webhook requests by vendor and outcome, request and publish latency, alerts, vendor
// states, incidents' time to acknowledge and to contain, and gauges the caller wires in (replay
// store size, broker clients and subscriptions).
//
// Label values come only from configuration or fixed sets: the vendor label is a configured vendor
// name or "unknown", the outcome label a reason's word (outcome.All). Nothing a request carries can add
// a label value, so the number of series stays bounded whatever partners send.
package metrics

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// UnknownVendor is the vendor label of a request whose path names no configured vendor.
const UnknownVendor = "unknown"

// States are the kill-switch modes reported by hookbridge_vendor_state.
var States = []string{"enabled", "disabled", "quarantined"}

// Metrics holds the collectors. It is a outcome.Observer.
type Metrics struct {
	reg       *prometheus.Registry
	vendors   map[string]bool // fixed after New
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	publish   *prometheus.HistogramVec
	published *prometheus.CounterVec
	alerts    *prometheus.CounterVec
	state     *prometheus.GaugeVec
	ack       *prometheus.HistogramVec
	contain   *prometheus.HistogramVec
}

// incidentBuckets span an automatic quarantine (0 s) to a week-long wait for a person, in
// seconds.
var incidentBuckets = []float64{1, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800}

var _ outcome.Observer = (*Metrics)(nil)

// New returns metrics for the configured vendors, with the Go runtime and process collectors.
func New(vendors []string) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		vendors: map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_webhook_requests_total",
			Help: "Webhook requests by vendor (\"unknown\" when the path names no configured vendor) and outcome reason.",
		}, []string{"vendor", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookbridge_webhook_request_duration_seconds",
			Help:    "Time from a webhook request's arrival to its answer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookbridge_publish_duration_seconds",
			Help:    "Time to publish an event: the broker holding every message and the replay record on disk.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"vendor"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_messages_published_total",
			Help: "MQTT messages published from accepted events.",
		}, []string{"vendor"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_anomaly_alerts_total",
			Help: "Anomaly alerts by vendor, kind and action (alert or quarantine).",
		}, []string{"vendor", "kind", "action"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookbridge_vendor_state",
			Help: "1 for a vendor's current kill-switch state (enabled, disabled, quarantined), 0 for the others.",
		}, []string{"vendor", "state"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookbridge_incident_time_to_acknowledge_seconds",
			Help:    "Per incident (a vendor quarantined or disabled by a person): from the first alert that reached people (else the detection) to a person's acknowledgement; a disable is its own acknowledgement, and a lift acknowledges one not acknowledged before.",
			Buckets: incidentBuckets,
		}, []string{"vendor"}),
		contain: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookbridge_incident_time_to_contain_seconds",
			Help:    "Per incident: from its detection (the first alert within the hour before, else the vendor being turned off) to the vendor being turned off, by quarantine or by a person.",
			Buckets: incidentBuckets,
		}, []string{"vendor"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.publish, m.published, m.alerts, m.state, m.ack, m.contain,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, v := range vendors {
		m.vendors[v] = true
		m.requests.WithLabelValues(v, "accepted")
		m.published.WithLabelValues(v)
	}
	return m
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// vendor returns the vendor label for a name: the name when configured, else "unknown".
func (m *Metrics) vendor(name string) string {
	if m.vendors[name] {
		return name
	}
	return UnknownVendor
}

// Observe counts one webhook outcome.
func (m *Metrics) Observe(o *outcome.Outcome) {
	v := m.vendor(o.Vendor)
	m.requests.WithLabelValues(v, o.Reason.Word()).Inc()
	m.latency.WithLabelValues(v).Observe(o.Latency.Seconds())
	if o.PublishLatency > 0 {
		m.publish.WithLabelValues(v).Observe(o.PublishLatency.Seconds())
	}
	if n := len(o.Topics); n > 0 && o.Reason == outcome.Accepted {
		m.published.WithLabelValues(v).Add(float64(n))
	}
}

// Alert counts one anomaly alert. kind and action must come from fixed sets (the anomaly package's
// kinds and actions); the vendor is reduced like a request's.
func (m *Metrics) Alert(vendor, kind, action string) {
	m.alerts.WithLabelValues(m.vendor(vendor), kind, action).Inc()
}

// SetState records a vendor's kill-switch state.
func (m *Metrics) SetState(vendor, state string) {
	if !m.vendors[vendor] || !slices.Contains(States, state) {
		return
	}
	for _, s := range States {
		val := 0.0
		if s == state {
			val = 1
		}
		m.state.WithLabelValues(vendor, s).Set(val)
	}
}

// TimeToAcknowledge observes an incident's time to acknowledge (killswitch.Incident says how it
// is measured); the vendor is reduced like a request's.
func (m *Metrics) TimeToAcknowledge(vendor string, d time.Duration) {
	m.ack.WithLabelValues(m.vendor(vendor)).Observe(max(d, 0).Seconds())
}

// TimeToContain observes an incident's time to contain.
func (m *Metrics) TimeToContain(vendor string, d time.Duration) {
	m.contain.WithLabelValues(m.vendor(vendor)).Observe(max(d, 0).Seconds())
}

// GaugeFunc registers a gauge whose value fn returns at each scrape.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterFunc registers a counter whose value fn returns at each scrape.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
