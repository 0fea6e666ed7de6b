package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/broker"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// opsConfig is what the operations side watches and serves.
type opsConfig struct {
	App      *App
	Admin    *admin.Admin
	Receiver *receiver.Receiver
	Store    *store.Store
	Broker   *broker.Broker // nil unless the embedded broker runs
	Events   *uplink.Uplink // nil unless events go to an outside broker
	Bridge   *hamqtt.Bridge // the MQTT bridge's links
	Switches *killswitch.Switches
	HA       hamqtt.Conn // where alerts are published; nil when ha_mqtt is off
	// Entities are the routes' Home Assistant entities; nil when none are announced.
	Entities *discovery.RouteEntities
	// Trail is the audit trail, open.
	Trail *audit.Log
	// Plan says where Home Assistant's topics go and what is bridged, for the data-flow view.
	Plan hamqtt.Plan
}

// ops is the running operations side: anomaly detection, metrics, alerts, the inventory's
// details and the audit export on the admin listener. The audit trail is the App's.
type ops struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startOps starts the operations side. It runs after the receiver is built and before the admin
// listener serves; the parts that watch webhooks are added as the receiver's observers.
func startOps(c opsConfig) (*ops, error) {
	a := c.App
	thresholds, err := opsThresholds(a.vendors)
	if err != nil {
		return nil, err
	}
	aud := audience(a.opts, c.Plan)
	c.Admin.SetInventory(admin.InventoryConfig{
		TopicPrefix: a.opts.TopicPrefix, RetentionDays: a.opts.RetentionDays, Schemas: schemaDocs(a.cfg.Catalog, a.vendors), Anomaly: thresholds,
		Audience: &aud,
	})

	m := metrics.New(a.names)
	m.GaugeFunc("hookbridge_replay_records", "Replay records held (events already published, within retention).",
		func() float64 { return float64(c.Store.Stats().Seen) })
	m.CounterFunc("hookbridge_store_commits_total", "State store transactions written.",
		func() float64 { return float64(c.Store.Stats().Commits) })
	conns := c.Receiver.ConnStats()
	m.GaugeFunc("hookbridge_http_connections", "Partner connections open (at most "+strconv.Itoa(receiver.MaxConns)+").",
		func() float64 { return float64(conns.Open()) })
	m.CounterFunc("hookbridge_http_connections_shed_total", "Idle partner keep-alive connections closed to make room at the cap.",
		func() float64 { return float64(conns.Shed()) })
	m.CounterFunc("hookbridge_http_connections_waited_total", "Partner connections that waited for a slot at the cap.",
		func() float64 { return float64(conns.Waited()) })
	if b := c.Broker; b != nil {
		m.GaugeFunc("hookbridge_mqtt_clients", "MQTT clients connected to the embedded broker.",
			func() float64 { return float64(b.Stats().Clients) })
		m.GaugeFunc("hookbridge_mqtt_subscriptions", "Subscriptions on the embedded broker.",
			func() float64 { return float64(b.Stats().Subscriptions) })
		m.GaugeFunc("hookbridge_mqtt_inflight", "QoS 1 and 2 messages awaiting acknowledgement on the embedded broker.",
			func() float64 { return float64(b.Stats().Inflight) })
		m.GaugeFunc("hookbridge_mqtt_retained", "Retained messages on the embedded broker.",
			func() float64 { return float64(b.Stats().Retained) })
		m.CounterFunc("hookbridge_mqtt_dropped_total", "Messages the embedded broker dropped because a client's queue was full.",
			func() float64 { return float64(b.Stats().Dropped) })
		m.GaugeFunc("hookbridge_mqtt_pending_logins", "Connections to the embedded broker that have not sent their CONNECT yet.",
			func() float64 { return float64(b.Stats().PendingLogins) })
		m.GaugeFunc("hookbridge_mqtt_send_queued_bytes", "Bytes the embedded broker holds for clients that have not read them yet.",
			func() float64 { return float64(b.Stats().SendQueued) })
		// The device-side bounds (DOCS.md, "Security model and its limits"): what each refused.
		for _, c := range []struct {
			name, help string
			get        func(broker.Stats) int64
		}{
			{"logins_refused", "CONNECTs refused for a wrong username or password.", func(s broker.Stats) int64 { return s.LoginsRefused }},
			{"wills_refused", "CONNECTs refused because the account may not publish their Will.", func(s broker.Stats) int64 { return s.WillsRefused }},
			{"sessions_refused", "CONNECTs refused past an account's session bounds.", func(s broker.Stats) int64 { return s.SessionsRefused }},
			{"subscriptions_refused", "Subscription filters refused past a session's subscription bound.", func(s broker.Stats) int64 { return s.SubscriptionsRefused }},
			{"subscribes_refused", "SUBSCRIBE packets refused whole past the filters-per-SUBSCRIBE bound.", func(s broker.Stats) int64 { return s.SubscribesRefused }},
			{"session_expiry_capped", "MQTT 5 CONNECTs whose session expiry was shortened to the account's bound.", func(s broker.Stats) int64 { return s.ExpiryCapped }},
			{"logins_shed", "Pending connections closed to make room for newer ones.", func(s broker.Stats) int64 { return s.LoginsShed }},
			{"login_timeouts", "Connections closed for sending no whole CONNECT in time.", func(s broker.Stats) int64 { return s.LoginTimeouts }},
			{"logins_malformed", "Connections closed for a first packet that is no CONNECT, or too large.", func(s broker.Stats) int64 { return s.LoginsMalformed }},
			{"logins_busy", "CONNECTs refused because the broker held its maximum of clients.", func(s broker.Stats) int64 { return s.LoginsBusy }},
			{"unsubscribes_refused", "UNSUBSCRIBE packets refused whole past the filters-per-packet bound.", func(s broker.Stats) int64 { return s.UnsubscribesRefused }},
			{"retained_refused", "Retained messages refused past an account's retained bounds.", func(s broker.Stats) int64 { return s.RetainedRefused }},
			{"slow_clients_cut", "Connections closed because their client did not read what the broker sent it.", func(s broker.Stats) int64 { return s.SlowClientsCut }},
			{"qos2_refused", "QoS 2 PUBLISHes refused because their session held its maximum of messages awaiting acknowledgement.", func(s broker.Stats) int64 { return s.QoS2Refused }},
		} {
			m.CounterFunc("hookbridge_mqtt_"+c.name+"_total", c.help, func() float64 { return float64(c.get(b.Stats())) })
		}
	}
	if c.Events != nil {
		// The outside broker's connection state and counters (hookbridge_uplink_*).
		if err := m.Registry().Register(c.Events.Collector()); err != nil {
			return nil, fmt.Errorf("uplink metrics: %w", err)
		}
	}
	// The Supervisor's broker link and the bridge_topics relay (hookbridge_ha_mqtt_*, hookbridge_relay_*).
	for _, col := range c.Bridge.Collectors() {
		if err := m.Registry().Register(col); err != nil {
			return nil, fmt.Errorf("mqtt bridge metrics: %w", err)
		}
	}
	if c.Entities != nil {
		// Devices announced per vendor and messages refused past the device cap.
		if err := m.Registry().Register(c.Entities.Collector()); err != nil {
			return nil, fmt.Errorf("entity metrics: %w", err)
		}
	}
	for _, name := range a.names {
		if st, ok := c.Switches.Get(name); ok {
			m.SetState(name, string(st.Mode))
		}
	}
	if err := m.Registry().Register(modeGauge(a.vendors)); err != nil {
		return nil, fmt.Errorf("mode metrics: %w", err)
	}
	c.Admin.Handle("GET /metrics", m.Handler())

	lifeAlerts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hookbridge_lifecycle_alerts_total",
		Help: "Lifecycle alerts by vendor, kind (silence, rotation_due) and action (alert, recovered)."}, []string{"vendor", "kind", "action"})
	if err := m.Registry().Register(lifeAlerts); err != nil {
		return nil, fmt.Errorf("lifecycle metrics: %w", err)
	}
	if err := m.Registry().Register(a.tracker.collector()); err != nil {
		return nil, fmt.Errorf("lifecycle metrics: %w", err)
	}
	alerts := &alerter{log: a.log, m: m, ha: c.HA, topic: a.opts.TopicPrefix + "/" + anomaly.AlertsTopic, queue: make(chan queuedAlert, 256),
		contacts: map[string][]alertContact{}, lifeAlerts: lifeAlerts,
		detected: func(vendor string, at time.Time) { _ = c.Switches.Detected(vendor, at) },
		alerted:  func(vendor string, at time.Time) { _ = c.Switches.Alerted(vendor, at) }}
	for name, v := range a.vendors {
		if v.Policy != nil {
			alerts.contacts[name] = alertContacts(v.Policy.Contacts)
		}
	}
	a.tracker.alert = alerts.lifecycle
	det := anomaly.New(anomaly.Config{
		Thresholds: thresholds,
		Quarantine: c.Switches.Quarantine,
		Alert:      alerts.raise,
	})
	c.Switches.Watch(func(vendor string, s killswitch.State) {
		m.SetState(vendor, string(s.Mode))
		if s.Mode == killswitch.Enabled {
			det.Reset(vendor) // a person turned it on: a fresh start
			a.offboard.takenOn(vendor)
		}
		a.log.Info().Str("component", "killswitch").Str("vendor", vendor).Str("mode", string(s.Mode)).
			Str("by", s.By).Str("reason", s.Reason).Msg("vendor state changed")
	})

	trail := c.Trail
	watchLifecycle(c.Switches, m, trail, a.log)
	lifecycleRoutes(c.Admin, a, trail, a.log)
	rec := audit.NewRecorder(trail, a.names, 0)
	for _, o := range []outcome.Observer{m, rec, det, a.tracker} {
		c.Receiver.AddObserver(o)
	}
	c.Admin.Handle("GET /api/audit", auditHandler(trail, a.vendors, a.log))

	loopCtx, cancel := context.WithCancel(context.Background())
	o := &ops{cancel: cancel}
	o.wg.Go(func() { alerts.run(loopCtx) })
	a.tracker.start()
	return o, nil
}

// close stops publishing alerts, after those queued.
func (o *ops) close() {
	if o == nil {
		return
	}
	o.cancel()
	o.wg.Wait()
}

// modeGauge is hookbridge_vendor_mode{vendor, mode}: 1 for each vendor's mode, 0 for the others.
// Modes are set at start, so the requests a shadow or learn vendor's counters count are all in
// that mode: joining on this gauge tells them from live ones, with 3 series per vendor.
func modeGauge(vendors vendor.Vendors) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hookbridge_vendor_mode",
		Help: "Each vendor's mode: 1 for live, shadow or learn (shadow and learn publish nothing)."}, []string{"vendor", "mode"})
	for name, v := range vendors {
		for _, m := range vendor.Modes {
			val := 0.0
			if m == v.Mode {
				val = 1
			}
			g.WithLabelValues(name, string(m)).Set(val)
		}
	}
	return g
}

// opsThresholds compiles each vendor's anomaly thresholds, reporting every bad one with its file.
func opsThresholds(vendors vendor.Vendors) (map[string]anomaly.Thresholds, error) {
	out := map[string]anomaly.Thresholds{}
	var errs []error
	for name, v := range vendors {
		th, err := anomaly.Compile(v.Policy.Anomaly)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Policy.File, err))
		}
		// Signature failures need no secret: with no allowed_cidrs, anyone on the internet could
		// make them and so quarantine a vendor at will (a denial of service by bad input). Unless
		// the policy asks for it, they only alert then; with allowed_cidrs they come from the
		// vendor's own network, and the default quarantine stands.
		if len(v.CIDRs) == 0 && v.Policy.Anomaly.SignatureFailures == (policy.Threshold{}) {
			th.SignatureFailures.Quarantine = 0
		}
		out[name] = th
	}
	return out, errors.Join(errs...)
}

// schemaDocs returns each configured vendor's schema document, as the catalog read it.
func schemaDocs(cat *catalog.Catalog, vendors vendor.Vendors) map[string][]byte {
	out := map[string][]byte{}
	for name := range vendors {
		if cv, ok := cat.Vendor(name); ok {
			out[name] = cv.SchemaDoc
		}
	}
	return out
}

// auditHandler serves GET /api/audit?since=24h|RFC3339[&vendor=NAME][&actions=true]: the audit
// trail as JSON lines, the same as `hookbridge audit export`; actions=true adds the records of what
// people and Hookbridge did.
func auditHandler(trail *audit.Log, vendors vendor.Vendors, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sinceText := q.Get("since")
		if sinceText == "" {
			sinceText = "24h"
		}
		since, err := audit.ParseSince(sinceText, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		vendor := q.Get("vendor")
		if _, ok := vendors[vendor]; vendor != "" && !ok {
			writeError(w, http.StatusNotFound, "unknown vendor")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="hookbridge-audit.jsonl"`)
		f := audit.Filter{Since: since, Vendor: vendor, Actions: q.Get("actions") == "true"}
		if _, err := audit.Export(w, trail, f); err != nil {
			log.Error().Err(err).Str("component", "audit").Msg("audit export")
		}
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// alerter logs each alert, counts it, and publishes it on {topic_prefix}/_alerts from a goroutine
// of its own, so that a slow broker never holds a webhook request. Alerts carry the vendor's
// contacts: their role and channel, never their name.
type alerter struct {
	log   zerolog.Logger
	m     *metrics.Metrics
	ha    hamqtt.Conn // nil: alerts are logged and counted only
	topic string
	queue chan queuedAlert
	// contacts are each vendor's, as alerts carry them; fixed after startOps.
	contacts   map[string][]alertContact
	lifeAlerts *prometheus.CounterVec
	// detected records when an alert was raised, and alerted when it reached people (published
	// for Home Assistant, or logged when there is no Home Assistant side): an incident's
	// "detected" and "alerted" moments. Anomaly alerts only.
	detected, alerted func(vendor string, at time.Time)
}

// queuedAlert is an alert waiting to be published; sent, when set, is told when it was.
type queuedAlert struct {
	vendor  string
	payload []byte
	sent    func(vendor string, at time.Time)
}

// raise is the anomaly detector's Alert callback.
func (al *alerter) raise(x anomaly.Alert) {
	al.detected(x.Vendor, x.Time)
	al.m.Alert(x.Vendor, string(x.Kind), string(x.Action))
	ev := al.log.Warn()
	if x.Action == anomaly.ActionQuarantine {
		ev = al.log.Error()
	}
	ev.Str("component", "anomaly").Str("vendor", x.Vendor).Str("kind", string(x.Kind)).
		Str("action", string(x.Action)).Int("count", x.Count).Float64("threshold", x.Threshold).
		Str("window", x.Window).Msg("anomaly: " + x.Reason())
	payload, err := json.Marshal(struct {
		anomaly.Alert
		Contacts []alertContact `json:"contacts,omitempty"`
	}{x, al.contacts[x.Vendor]})
	if err != nil {
		return
	}
	al.enqueue(queuedAlert{vendor: x.Vendor, payload: payload, sent: al.alerted})
}

// lifecycle is the tracker's alert callback: silence, a recovery, a secret due for rotation.
func (al *alerter) lifecycle(x lifecycleAlert) {
	al.lifeAlerts.WithLabelValues(x.Vendor, x.Kind, x.Action).Inc()
	ev := al.log.Warn()
	if x.Action == actionRecovered {
		ev = al.log.Info()
	}
	ev = ev.Str("component", "lifecycle").Str("vendor", x.Vendor).Str("kind", x.Kind).Str("action", x.Action)
	switch x.Kind {
	case kindSilence:
		msg := "silence: no event accepted for " + x.ExpectEvery + " (expect_every)"
		if x.Action == actionRecovered {
			msg = "silence ended: an event was accepted"
			ev = ev.Float64("silent_seconds", x.SilentSeconds)
		}
		ev.Msg(msg)
	case kindRotationDue:
		ev.Str("secret", x.Secret).Int("secret_age_days", *x.SecretAgeDays).Str("rotate_after", x.RotateAfter).
			Msg("rotation due: the vendor's newest secret is older than rotate_after; rotate it")
	}
	payload, err := json.Marshal(x)
	if err != nil {
		return
	}
	al.enqueue(queuedAlert{vendor: x.Vendor, payload: payload})
}

// enqueue queues an alert for Home Assistant, or, with no Home Assistant side, counts it as
// delivered now (it was logged).
func (al *alerter) enqueue(q queuedAlert) {
	if al.ha == nil {
		if q.sent != nil {
			q.sent(q.vendor, time.Now())
		}
		return
	}
	select {
	case al.queue <- q:
	default:
		al.log.Warn().Str("component", "anomaly").Str("vendor", q.vendor).Msg("alert not published: too many alerts queued")
	}
}

// run publishes queued alerts until ctx ends, then what is still queued.
func (al *alerter) run(ctx context.Context) {
	publish := func(q queuedAlert) {
		if err := al.ha.Publish(al.topic, q.payload, false); err != nil {
			al.log.Warn().Err(err).Str("component", "anomaly").Str("vendor", q.vendor).Msg("alert not published")
			return
		}
		if q.sent != nil {
			q.sent(q.vendor, time.Now())
		}
	}
	for {
		select {
		case q := <-al.queue:
			publish(q)
		case <-ctx.Done():
			for {
				select {
				case q := <-al.queue:
					publish(q)
				default:
					return
				}
			}
		}
	}
}
