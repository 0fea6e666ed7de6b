package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/addon/supervisor"
	"github.com/hookbridge/hookbridge/bridge/relay"
	"github.com/hookbridge/hookbridge/bridge/store"
	uplinkpkg "github.com/hookbridge/hookbridge/bridge/uplink"
)

// The MQTT bridge: where Home Assistant-facing topics go (ha_mqtt), and the forwarding of
// bridge_topics from the embedded broker to the Supervisor's broker.
//
//	vendors ─▶ Hookbridge ─▶ embedded broker (strict ACLs) ─▶ devices
//	                │              │ bridge_topics (relay: durable queue, in order, QoS ≥ 1)
//	                │              ▼
//	                └──────▶ Supervisor's broker (Mosquitto app) ◀─▶ Home Assistant
//	                   discovery, availability, status, alerts; kill switch commands come back
//
// Nothing else flows from the Supervisor's broker to Hookbridge: the only subscriptions there are
// the kill switch commands and Home Assistant's own topics (discovery's), and the relay never
// forwards a topic under them, so nothing echoes.

// Where ha_mqtt puts the Home Assistant topics, once resolved.
const (
	haOff        = "off"
	haEmbedded   = "embedded"
	haSupervisor = "supervisor" // a connection of its own to the Supervisor's MQTT service
	haEvents     = "events"     // the uplink that carries events (broker: supervisor or external)
)

// relaySubscriptionID is the identifier of the relay's inline subscriptions on the embedded broker.
// mochi keys a message's inline subscribers by identifier: one identifier for every bridge filter
// gives a message matched by two filters to the relay once; and it must differ from embeddedHA's
// (small numbers counting up), or one would replace the other.
const relaySubscriptionID = 1 << 30

// mqttPlan is what start does about ha_mqtt and bridge_topics, decided before anything starts.
type mqttPlan struct {
	ha string // haOff, haEmbedded, haSupervisor or haEvents
	// resolve finds the Supervisor's MQTT service, when a connection of its own goes there (for
	// Home Assistant's topics, for bridge_topics, or both).
	resolve func(context.Context) (uplinkpkg.Endpoint, error)
	// filters are the bridge_topics under the topic prefix; empty when nothing is forwarded.
	filters []string
}

// mqttBridge is the running connection to the Supervisor's broker and the relay over it.
type mqttBridge struct {
	ha    string
	up    *uplinkpkg.Uplink // nil unless plan.resolve was set
	relay *relay.Relay      // nil unless bridge_topics are forwarded
}

// planMQTT resolves ha_mqtt and checks bridge_topics against the broker mode:
//
//   - ha_mqtt off: no Home Assistant topics. embedded: on the embedded broker, which must run
//     (broker: embedded). supervisor: on the Supervisor's MQTT service (the events' uplink when
//     broker is supervisor, else a connection of its own); a Supervisor that refuses the service
//     stops the start, a broker app not running yet is waited for.
//   - ha_mqtt auto: with broker supervisor or external, on the events' broker (one connection
//     carries everything). With broker embedded, on the Supervisor's MQTT service when it offers
//     one at start, else on the embedded broker: silently when there is no Supervisor, with a log
//     line saying why when it does not offer the service.
//   - bridge_topics: only with broker embedded (in the other modes events already go to that
//     broker, so they are refused at start). Forwarded to the Supervisor's MQTT service, whatever
//     ha_mqtt says; with no service to forward to, a warning and nothing leaves.
func planMQTT(ctx context.Context, o *options.Options, log zerolog.Logger) (mqttPlan, error) {
	p := mqttPlan{ha: haOff}
	if c := o.Conflicts(); len(c) > 0 {
		return p, &options.Error{Problems: c} // options.Parse refuses these; options built in code may not have passed it
	}
	if o.Broker != options.BrokerEmbedded {
		switch o.HAMQTT {
		case options.HAMQTTAuto:
			p.ha = haEvents
		case options.HAMQTTSupervisor:
			if o.Broker == options.BrokerSupervisor {
				p.ha = haEvents
				break
			}
			resolve, err := supervisorResolver(ctx, "ha_mqtt: supervisor", log, "mqtt-bridge", haTopicsWait)
			if err != nil {
				return p, err
			}
			p.ha, p.resolve = haSupervisor, resolve
		}
		return p, nil
	}

	for _, f := range o.BridgeTopics {
		p.filters = append(p.filters, o.TopicPrefix+"/"+f)
	}
	offered := false // the Supervisor offers its MQTT service
	switch {
	case o.HAMQTT == options.HAMQTTSupervisor:
		resolve, err := supervisorResolver(ctx, "ha_mqtt: supervisor", log, "mqtt-bridge", haTopicsWait)
		if err != nil {
			return p, err
		}
		p.resolve, offered = resolve, true
	case o.HAMQTT == options.HAMQTTAuto || len(p.filters) > 0:
		resolve, why := offeredResolver(ctx, log)
		switch {
		case resolve != nil:
			p.resolve, offered = resolve, true
		case len(p.filters) > 0:
			log.Warn().Str("component", "mqtt-bridge").Str("reason", why).Strs("bridge_topics", o.BridgeTopics).
				Msg("bridge_topics are not forwarded: there is no Supervisor MQTT service to forward them to")
			p.filters = nil
		case why != "":
			log.Info().Str("component", "mqtt-bridge").Str("reason", why).
				Msg("ha_mqtt auto: Home Assistant's topics go to the embedded broker; log Home Assistant in there as the homeassistant device")
		}
	}
	switch o.HAMQTT {
	case options.HAMQTTSupervisor:
		p.ha = haSupervisor
	case options.HAMQTTEmbedded:
		p.ha = haEmbedded
	case options.HAMQTTAuto:
		p.ha = haEmbedded
		if offered {
			p.ha = haSupervisor
		}
	}
	return p, nil
}

// haTopicsWait is the warning when ha_mqtt: supervisor finds no broker app running at start.
const haTopicsWait = "the Supervisor offers no MQTT broker now; Home Assistant's topics wait for it, asking again with backoff"

// supervisorResolver asks the Supervisor for its MQTT service once now and returns a resolver that
// asks again before every connection (broker: supervisor and ha_mqtt: supervisor both use it): a
// missing token, service declaration or a refused token stop the start, as errors prefixed with
// what; a broker app not running yet is waited for, with the warning waiting logged under
// component.
func supervisorResolver(ctx context.Context, what string, log zerolog.Logger, component, waiting string) (func(context.Context) (uplinkpkg.Endpoint, error), error) {
	sc, err := supervisor.FromEnv()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	resolve := serviceResolver(sc)
	_, err = resolve(ctx)
	switch {
	case errors.Is(err, supervisor.ErrServiceNotDeclared), errors.Is(err, supervisor.ErrUnauthorized):
		return nil, fmt.Errorf("%s: %w", what, err)
	case err != nil:
		log.Warn().Str("component", component).Err(err).Msg(waiting)
	}
	return resolve, nil
}

// offeredResolver returns a resolver for the Supervisor's MQTT service when the Supervisor offers
// it now; else nil and why not ("" when there is no Supervisor at all).
func offeredResolver(ctx context.Context, log zerolog.Logger) (func(context.Context) (uplinkpkg.Endpoint, error), string) {
	sc, err := supervisor.FromEnv()
	if errors.Is(err, supervisor.ErrNoToken) {
		return nil, ""
	}
	if err != nil {
		return nil, err.Error()
	}
	resolve := serviceResolver(sc)
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := resolve(actx); err != nil {
		return nil, err.Error()
	}
	return resolve, ""
}

func serviceResolver(sc *supervisor.Client) func(context.Context) (uplinkpkg.Endpoint, error) {
	return func(ctx context.Context) (uplinkpkg.Endpoint, error) {
		m, err := sc.MQTTService(ctx)
		if err != nil {
			return uplinkpkg.Endpoint{}, err
		}
		return supervisorEndpoint(m), nil
	}
}

// startMQTTBridge connects to the Supervisor's broker and starts the relay, as p says. With
// bridge_topics it must run before the embedded broker starts: an inline subscription made later
// is handed every retained message at once, which would forward them again at every start.
func (a *app) startMQTTBridge(ctx context.Context, p mqttPlan) error {
	a.mqtt = &mqttBridge{ha: p.ha}
	if p.resolve == nil {
		return nil
	}
	uo := uplinkpkg.Options{Resolve: p.resolve, Log: a.log.With().Str("link", "home-assistant").Logger()}
	if p.ha == haSupervisor {
		// If the connection drops without a goodbye, the broker marks Hookbridge unavailable.
		uo.Will = offlineWill(a.opts.TopicPrefix)
	}
	up, err := connectUplink(ctx, uo, a.log, "mqtt-bridge",
		"not connected to Home Assistant's MQTT broker yet; retrying in the background (events still reach devices on the embedded broker)")
	if err != nil {
		return err
	}
	a.mqtt.up = up
	// Closers run last to first: the relay stops, then discovery says offline, then this closes.
	a.closers = append(a.closers, up.Close)
	if len(p.filters) == 0 {
		return nil
	}
	r, err := relay.New(relay.Options{Store: a.store, Uplink: up, Log: a.log})
	if err != nil {
		return err
	}
	a.mqtt.relay = r
	a.closers = append(a.closers, r.Close)
	prefix := a.opts.TopicPrefix
	handler := func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if echoes(prefix, pk.TopicName) {
			return
		}
		r.Offer(store.EventToken(&pk), pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
	}
	for _, f := range p.filters {
		if err := a.broker.Subscribe(f, relaySubscriptionID, handler); err != nil {
			return fmt.Errorf("bridge_topics: subscribe %s: %w", f, err)
		}
	}
	if err := r.Start(); err != nil {
		return err
	}
	a.log.Info().Str("component", "mqtt-bridge").Strs("bridge_topics", a.opts.BridgeTopics).Int("queue_limit", relay.DefaultMaxQueue).
		Msg("forwarding bridge_topics to Home Assistant's MQTT broker")
	return nil
}

// echoes reports whether a topic is one Hookbridge subscribes to on Home Assistant's broker, or
// one of its own: its topics under {prefix}/_ (kill switch commands, states, availability), Home
// Assistant's status and the discovery configs. The relay never forwards these: they would come
// back, and a kill switch command would cross from the embedded broker to the other.
func echoes(prefix, topic string) bool {
	if strings.HasPrefix(topic, prefix+"/_") || topic == discovery.HAStatusTopic {
		return true
	}
	parts := strings.Split(topic, "/")
	return len(parts) == 5 && parts[0] == discovery.DiscoveryPrefix && parts[4] == "config"
}

// haConn returns the connection for Home Assistant's topics that the plan chose, nil when off.
func (a *app) haConn() haConn {
	if a.mqtt == nil {
		return nil
	}
	switch a.mqtt.ha {
	case haEmbedded:
		return &embeddedHA{b: a.broker}
	case haEvents:
		return uplinkHA{a.uplink}
	case haSupervisor:
		return uplinkHA{a.mqtt.up}
	}
	return nil
}

// mqttHealth is the MQTT bridge's part of /healthz: where Home Assistant's topics go and whether
// that connection is up, and the forwarding queue.
func (a *app) mqttHealth() map[string]any {
	if a.mqtt == nil {
		return nil
	}
	ha := map[string]any{"broker": a.mqtt.ha}
	switch a.mqtt.ha {
	case haEmbedded:
		ha["connected"] = true
	case haEvents:
		ha["broker"] = a.opts.Broker
		ha["connected"] = a.uplink != nil && a.uplink.Connected()
	}
	out := map[string]any{"ha_mqtt": ha}
	if up := a.mqtt.up; up != nil {
		s := up.Status()
		link := map[string]any{"connected": s.Connected, "broker": s.Broker, "since": s.Since}
		if s.LastError != "" {
			link["last_error"] = s.LastError
		}
		if a.mqtt.ha == haSupervisor {
			ha["connected"] = s.Connected
		}
		out["supervisor_mqtt"] = link
	}
	if r := a.mqtt.relay; r != nil {
		out["bridge_topics"] = r.Status()
	}
	return out
}

// mqttCollectors are the MQTT bridge's metrics: the connection to the Supervisor's broker
// (hookbridge_ha_mqtt_*) and the relay (hookbridge_relay_*), when they run.
func (a *app) mqttCollectors() []prometheus.Collector {
	if a.mqtt == nil {
		return nil
	}
	var out []prometheus.Collector
	if a.mqtt.up != nil {
		out = append(out, a.mqtt.up.CollectorNamed("hookbridge_ha_mqtt", "the Supervisor's MQTT broker"))
	}
	if a.mqtt.relay != nil {
		out = append(out, a.mqtt.relay.Collector())
	}
	return out
}
