package uplink

import (
	"github.com/prometheus/client_golang/prometheus"
)

// descs are the uplink's metric descriptions under one name prefix.
type descs struct {
	connected, inflight, connects, losses, failedAttempts, published, events, refused, storeErrors *prometheus.Desc
}

func newDescs(prefix, what string) *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+"_"+name, help, labels, nil)
	}
	return &descs{
		connected:      d("connected", "Whether the bridge is connected to "+what+" (1) or not (0)."),
		inflight:       d("inflight_messages", "Messages published to "+what+" and not yet acknowledged."),
		connects:       d("connects_total", "Successful connections to "+what+"."),
		losses:         d("connection_losses_total", "Connections to "+what+" that were lost."),
		failedAttempts: d("connect_failures_total", "Connection attempts to "+what+" that failed."),
		published:      d("messages_acknowledged_total", "Messages "+what+" acknowledged."),
		events:         d("events_total", "Events whose messages "+what+" acknowledged and whose replay record was written."),
		refused:        d("publish_refused_total", "Publishes to "+what+" refused (for an event, the vendor got 503), by reason.", "reason"),
		storeErrors:    d("store_errors_total", "Replay records that could not be written after "+what+" acknowledged the event."),
	}
}

// uplinkDescs are the metrics of the uplink that carries events (broker: supervisor or external).
var uplinkDescs = newDescs("hookbridge_uplink", "the outside MQTT broker")

// Collector returns a Prometheus collector for the uplink's connection state and counters, named
// hookbridge_uplink_*.
func (u *Uplink) Collector() prometheus.Collector { return collector{u, uplinkDescs} }

// CollectorNamed returns the same collector with its metrics named prefix_* instead, for a second
// uplink in one process (the connection to Home Assistant's broker); what names the broker in
// the help texts, such as "Home Assistant's MQTT broker".
func (u *Uplink) CollectorNamed(prefix, what string) prometheus.Collector {
	return collector{u, newDescs(prefix, what)}
}

type collector struct {
	u *Uplink
	d *descs
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, x := range []*prometheus.Desc{d.connected, d.inflight, d.connects, d.losses,
		d.failedAttempts, d.published, d.events, d.refused, d.storeErrors} {
		ch <- x
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	u, s, d := c.u, &c.u.stats, c.d
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
	gauge(d.connected, connected)
	gauge(d.inflight, float64(len(u.slots)))
	counter(d.connects, s.connects.Load())
	counter(d.losses, s.losses.Load())
	counter(d.failedAttempts, s.failedAttempts.Load())
	counter(d.published, s.published.Load())
	counter(d.events, s.events.Load())
	counter(d.refused, s.unavailable.Load(), "not_connected")
	counter(d.refused, s.timeouts.Load(), "ack_timeout")
	counter(d.refused, s.rejected.Load(), "publish_failed")
	counter(d.refused, s.busy.Load(), "busy")
	counter(d.storeErrors, s.storeErrors.Load())
}
