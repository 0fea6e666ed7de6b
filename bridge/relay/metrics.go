package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descQueued = prometheus.NewDesc("hookbridge_relay_queued_messages",
		"Messages on bridge_topics waiting to be forwarded to Home Assistant's broker.", nil, nil)
	descLimit = prometheus.NewDesc("hookbridge_relay_queue_limit_messages",
		"The most messages the forwarding queue holds; past it the oldest are dropped.", nil, nil)
	descOffered = prometheus.NewDesc("hookbridge_relay_offered_total",
		"Messages on bridge_topics queued for Home Assistant's broker.", nil, nil)
	descForwarded = prometheus.NewDesc("hookbridge_relay_forwarded_total",
		"Messages Home Assistant's broker acknowledged.", nil, nil)
	descDropped = prometheus.NewDesc("hookbridge_relay_dropped_total",
		"Queued messages dropped without being forwarded, by reason: queue_full (the oldest, past the limit), bad_record (a record that does not decode).",
		[]string{"reason"}, nil)
	descFailures = prometheus.NewDesc("hookbridge_relay_batch_failures_total",
		"Batches Home Assistant's broker did not acknowledge in full; they are sent again.", nil, nil)
)

// Collector returns a Prometheus collector for the relay's queue and counters
// (hookbridge_relay_*).
func (r *Relay) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Relay }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descLimit, descOffered, descForwarded, descDropped, descFailures} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	r, s := c.r, &c.r.stats
	st := r.Status()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descQueued, float64(st.Queued))
	gauge(descLimit, float64(st.Limit))
	counter(descOffered, s.offered.Load())
	counter(descForwarded, s.forwarded.Load())
	counter(descDropped, s.dropped.Load(), "queue_full")
	counter(descDropped, s.bad.Load(), "bad_record")
	counter(descFailures, s.failures.Load())
}
