package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/receiver"
)

// startOps starts the operations side: audit trail, anomaly detection, metrics, the inventory's
// details and the audit export on the admin listener. It runs after the receiver is built and
// before the admin listener serves.
func (a *app) startOps(f *flags, adm *admin.Admin) error {
	thresholds, err := opsThresholds(a.vendors)
	if err != nil {
		return err
	}
	schemas, err := opsSchemaDocs(f, a.vendors)
	if err != nil {
		return err
	}
	adm.SetInventory(admin.InventoryConfig{
		TopicPrefix: a.opts.TopicPrefix, RetentionDays: a.opts.RetentionDays, Schemas: schemas, Anomaly: thresholds,
	})

	m := metrics.New(a.names)
	m.GaugeFunc("hookbridge_replay_records", "Replay records held (events already published, within retention).",
		func() float64 { return float64(a.store.Stats().Seen) })
	m.CounterFunc("hookbridge_store_commits_total", "State store transactions written.",
		func() float64 { return float64(a.store.Stats().Commits) })
	conns := a.recv.ConnStats()
	m.GaugeFunc("hookbridge_http_connections", "Partner connections open (at most "+strconv.Itoa(receiver.MaxConns)+").",
		func() float64 { return float64(conns.Open()) })
	m.CounterFunc("hookbridge_http_connections_shed_total", "Idle partner keep-alive connections closed to make room at the cap.",
		func() float64 { return float64(conns.Shed()) })
	m.CounterFunc("hookbridge_http_connections_waited_total", "Partner connections that waited for a slot at the cap.",
		func() float64 { return float64(conns.Waited()) })
	if a.broker != nil {
		m.GaugeFunc("hookbridge_mqtt_clients", "MQTT clients connected to the embedded broker.",
			func() float64 { return float64(a.broker.Stats().Clients) })
		m.GaugeFunc("hookbridge_mqtt_subscriptions", "Subscriptions on the embedded broker.",
			func() float64 { return float64(a.broker.Stats().Subscriptions) })
		m.GaugeFunc("hookbridge_mqtt_inflight", "QoS 1 and 2 messages awaiting acknowledgement on the embedded broker.",
			func() float64 { return float64(a.broker.Stats().Inflight) })
		m.GaugeFunc("hookbridge_mqtt_retained", "Retained messages on the embedded broker.",
			func() float64 { return float64(a.broker.Stats().Retained) })
		m.CounterFunc("hookbridge_mqtt_dropped_total", "Messages the embedded broker dropped because a client's queue was full.",
			func() float64 { return float64(a.broker.Stats().Dropped) })
	}
	if a.uplink != nil {
		// The outside broker's connection state and counters (hookbridge_uplink_*).
		if c, ok := a.uplink.(interface{ Collector() prometheus.Collector }); ok {
			if err := m.Registry().Register(c.Collector()); err != nil {
				return fmt.Errorf("uplink metrics: %w", err)
			}
		}
	}
	// The Supervisor's broker link and the bridge_topics relay (hookbridge_ha_mqtt_*, hookbridge_relay_*).
	for _, c := range a.mqttCollectors() {
		if err := m.Registry().Register(c); err != nil {
			return fmt.Errorf("mqtt bridge metrics: %w", err)
		}
	}
	for _, name := range a.names {
		if st, ok := a.switches.Get(name); ok {
			m.SetState(name, string(st.Mode))
		}
	}
	adm.Handle("GET /metrics", m.Handler())

	alerts := newOpsAlerter(a, m)
	det := anomaly.New(anomaly.Config{
		Thresholds: thresholds,
		Quarantine: a.switches.Quarantine,
		Alert:      alerts.raise,
	})
	a.switches.Watch(func(vendor string, s killswitch.State) {
		m.SetState(vendor, string(s.Mode))
		if s.Mode == killswitch.Enabled {
			det.Reset(vendor) // a person turned it on: a fresh start
		}
		a.log.Info().Str("component", "killswitch").Str("vendor", vendor).Str("mode", string(s.Mode)).
			Str("by", s.By).Str("reason", s.Reason).Msg("vendor state changed")
	})

	trail, err := audit.OpenLog(filepath.Join(f.data, "audit"))
	if err != nil {
		return err
	}
	a.audit = trail
	rec := audit.NewRecorder(trail, a.names, 0)
	a.observers = append(a.observers, m, rec, det)
	adm.Handle("GET /api/audit", a.auditHandler())

	loopCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { alerts.run(loopCtx) })
	a.closers = append(a.closers, func() error {
		cancel()
		wg.Wait()
		return trail.Close()
	})
	return nil
}

// opsThresholds compiles each vendor's anomaly thresholds, reporting every bad one with its file.
func opsThresholds(vendors pipeline.Vendors) (map[string]anomaly.Thresholds, error) {
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

// opsSchemaDocs reads each vendor's schema document as the catalog did: from --schemas when the
// file is there, else built in.
func opsSchemaDocs(f *flags, vendors pipeline.Vendors) (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, v := range vendors {
		rel := v.Policy.Schema
		if f.schemas != "" {
			data, err := os.ReadFile(filepath.Join(f.schemas, filepath.FromSlash(rel)))
			if err == nil {
				out[name] = data
				continue
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		data, err := fs.ReadFile(builtinCatalog, "schemas/"+rel)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", rel, err)
		}
		out[name] = data
	}
	return out, nil
}

// purgeAudit deletes audit records past their vendor's retention; purgeLoop runs it.
func (a *app) purgeAudit(now time.Time) {
	n, err := a.audit.Purge(now, a.retention)
	switch {
	case err != nil:
		a.log.Error().Err(err).Str("component", "audit").Msg("purge audit records")
	case n > 0:
		a.log.Info().Str("component", "audit").Int("purged", n).Msg("purged audit records past retention")
	}
}

// auditHandler serves GET /api/audit?since=24h|RFC3339[&vendor=NAME]: the audit trail as JSON
// lines, the same as `hookbridge audit export`.
func (a *app) auditHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sinceText := q.Get("since")
		if sinceText == "" {
			sinceText = "24h"
		}
		since, err := audit.ParseSince(sinceText, time.Now())
		if err != nil {
			opsWriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		vendor := q.Get("vendor")
		if _, ok := a.vendors[vendor]; vendor != "" && !ok {
			opsWriteError(w, http.StatusNotFound, "unknown vendor")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="hookbridge-audit.jsonl"`)
		if _, err := audit.Export(w, a.audit, audit.Filter{Since: since, Vendor: vendor}); err != nil {
			a.log.Error().Err(err).Str("component", "audit").Msg("audit export")
		}
	})
}

func opsWriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// opsAlerter logs each alert, counts it, and publishes it on {topic_prefix}/_alerts from a
// goroutine of its own, so that a slow broker never holds a webhook request.
type opsAlerter struct {
	a     *app
	m     *metrics.Metrics
	queue chan anomaly.Alert
}

func newOpsAlerter(a *app, m *metrics.Metrics) *opsAlerter {
	return &opsAlerter{a: a, m: m, queue: make(chan anomaly.Alert, 256)}
}

// raise is the detector's Alert callback.
func (al *opsAlerter) raise(x anomaly.Alert) {
	al.m.Alert(x.Vendor, string(x.Kind), string(x.Action))
	ev := al.a.log.Warn()
	if x.Action == anomaly.ActionQuarantine {
		ev = al.a.log.Error()
	}
	ev.Str("component", "anomaly").Str("vendor", x.Vendor).Str("kind", string(x.Kind)).
		Str("action", string(x.Action)).Int("count", x.Count).Float64("threshold", x.Threshold).
		Str("window", x.Window).Msg("anomaly: " + x.Reason())
	if al.a.ha == nil {
		return
	}
	select {
	case al.queue <- x:
	default:
		al.a.log.Warn().Str("component", "anomaly").Str("vendor", x.Vendor).Msg("alert not published: too many alerts queued")
	}
}

// run publishes queued alerts until ctx ends, then what is still queued.
func (al *opsAlerter) run(ctx context.Context) {
	topic := al.a.opts.TopicPrefix + "/" + anomaly.AlertsTopic
	publish := func(x anomaly.Alert) {
		payload, err := json.Marshal(x)
		if err != nil {
			return
		}
		if err := al.a.ha.Publish(topic, payload, false); err != nil {
			al.a.log.Warn().Err(err).Str("component", "anomaly").Str("vendor", x.Vendor).Msg("alert not published")
		}
	}
	for {
		select {
		case x := <-al.queue:
			publish(x)
		case <-ctx.Done():
			for {
				select {
				case x := <-al.queue:
					publish(x)
				default:
					return
				}
			}
		}
	}
}
