package uplink

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descConnected = prometheus.NewDesc("hookbridge_uplink_connected",
		"Whether the bridge is connected to the outside MQTT broker (1) or not (0).", nil, nil)
	descInflight = prometheus.NewDesc("hookbridge_uplink_inflight_messages",
		"Messages published to the outside broker and not yet acknowledged.", nil, nil)
	descConnects = prometheus.NewDesc("hookbridge_uplink_connects_total",
		"Successful connections to the outside MQTT broker.", nil, nil)
	descLosses = prometheus.NewDesc("hookbridge_uplink_connection_losses_total",
		"Connections to the outside MQTT broker that were lost.", nil, nil)
	descFailedAttempts = prometheus.NewDesc("hookbridge_uplink_connect_failures_total",
		"Connection attempts to the outside MQTT broker that failed.", nil, nil)
	descPublished = prometheus.NewDesc("hookbridge_uplink_messages_acknowledged_total",
		"Messages the outside broker acknowledged.", nil, nil)
	descEvents = prometheus.NewDesc("hookbridge_uplink_events_total",
		"Events whose messages the outside broker acknowledged and whose replay record was written.", nil, nil)
	descRefused = prometheus.NewDesc("hookbridge_uplink_publish_refused_total",
		"Publishes refused (the vendor got 503), by reason.", []string{"reason"}, nil)
	descStoreErrors = prometheus.NewDesc("hookbridge_uplink_store_errors_total",
		"Replay records that could not be written after the broker acknowledged the event.", nil, nil)
)

// Collector returns a Prometheus collector for the uplink's connection state and counters.
func (u *Uplink) Collector() prometheus.Collector { return collector{u} }

type collector struct{ u *Uplink }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descInflight, descConnects, descLosses,
		descFailedAttempts, descPublished, descEvents, descRefused, descStoreErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	u, s := c.u, &c.u.stats
	connected := 0.0
	if u.Connected() {
		connected = 1
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConnected, connected)
	gauge(descInflight, float64(len(u.slots)))
	counter(descConnects, s.connects.Load())
	counter(descLosses, s.losses.Load())
	counter(descFailedAttempts, s.failedAttempts.Load())
	counter(descPublished, s.published.Load())
	counter(descEvents, s.events.Load())
	counter(descRefused, s.unavailable.Load(), "not_connected")
	counter(descRefused, s.timeouts.Load(), "ack_timeout")
	counter(descRefused, s.rejected.Load(), "publish_failed")
	counter(descRefused, s.busy.Load(), "busy")
	counter(descStoreErrors, s.storeErrors.Load())
}
