// Package hamqtt is Hookbridge's Home Assistant MQTT policy: where Home Assistant-facing topics go
// (the ha_mqtt option), what the embedded broker forwards to the Supervisor's broker (bridge_topics),
// where events go when the broker is the Supervisor's or an external one, and which topics must
// never be forwarded because they would come back (the echo filter).
//
//	vendors ─▶ Hookbridge ─▶ embedded broker (strict ACLs) ─▶ devices
//	                │              │ bridge_topics and the topics of routes with entities
//	                │              │ (relay: durable queue, in order, QoS ≥ 1)
//	                │              ▼
//	                └──────▶ Supervisor's broker (Mosquitto app) ◀─▶ Home Assistant
//	                   discovery, availability, status, alerts; kill switch commands come back
//
// Nothing else flows from the Supervisor's broker to Hookbridge: the only subscriptions there are
// the kill switch commands and Home Assistant's own topics (discovery's), and the relay never
// forwards a topic under them, so nothing echoes.
package hamqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/addon/supervisor"
	"github.com/hookbridge/hookbridge/bridge/uplink"
)

// Target is where ha_mqtt puts the Home Assistant topics, once resolved.
type Target string

// The targets.
const (
	Off        Target = "off"
	Embedded   Target = "embedded"
	Supervisor Target = "supervisor" // a connection of its own to the Supervisor's MQTT service
	Events     Target = "events"     // the uplink that carries events (broker: supervisor or external)
)

// Resolver says where to connect, asked again before every connection attempt.
type Resolver func(context.Context) (uplink.Endpoint, error)

// Plan is what a start does about ha_mqtt and bridge_topics, decided before anything starts.
type Plan struct {
	HA Target
	// Resolve finds the Supervisor's MQTT service, when a connection of its own goes there (for
	// Home Assistant's topics, for bridge_topics, or both); nil otherwise.
	Resolve Resolver
	// Filters are the bridge_topics under the topic prefix; empty when nothing is forwarded.
	Filters []string
}

// NewPlan resolves ha_mqtt and checks bridge_topics against the broker mode:
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
func NewPlan(ctx context.Context, o *options.Options, log zerolog.Logger) (Plan, error) {
	p := Plan{HA: Off}
	if c := o.Conflicts(); len(c) > 0 {
		return p, &options.Error{Problems: c} // options.Parse refuses these; options built in code may not have passed it
	}
	if o.Broker != options.BrokerEmbedded {
		switch o.HAMQTT {
		case options.HAMQTTAuto:
			p.HA = Events
		case options.HAMQTTSupervisor:
			if o.Broker == options.BrokerSupervisor {
				p.HA = Events
				break
			}
			resolve, err := SupervisorResolver(ctx, "ha_mqtt: supervisor", log, "mqtt-bridge", haTopicsWait)
			if err != nil {
				return p, err
			}
			p.HA, p.Resolve = Supervisor, resolve
		}
		return p, nil
	}

	for _, f := range o.BridgeTopics {
		p.Filters = append(p.Filters, o.TopicPrefix+"/"+f)
	}
	offered := false // the Supervisor offers its MQTT service
	switch {
	case o.HAMQTT == options.HAMQTTSupervisor:
		resolve, err := SupervisorResolver(ctx, "ha_mqtt: supervisor", log, "mqtt-bridge", haTopicsWait)
		if err != nil {
			return p, err
		}
		p.Resolve, offered = resolve, true
	case o.HAMQTT == options.HAMQTTAuto || len(p.Filters) > 0:
		resolve, why := offeredResolver(ctx)
		switch {
		case resolve != nil:
			p.Resolve, offered = resolve, true
		case len(p.Filters) > 0:
			log.Warn().Str("component", "mqtt-bridge").Str("reason", why).Strs("bridge_topics", o.BridgeTopics).
				Msg("bridge_topics are not forwarded: there is no Supervisor MQTT service to forward them to")
			p.Filters = nil
		case why != "":
			log.Info().Str("component", "mqtt-bridge").Str("reason", why).
				Msg("ha_mqtt auto: Home Assistant's topics go to the embedded broker; log Home Assistant in there as the homeassistant device")
		}
	}
	switch o.HAMQTT {
	case options.HAMQTTSupervisor:
		p.HA = Supervisor
	case options.HAMQTTEmbedded:
		p.HA = Embedded
	case options.HAMQTTAuto:
		p.HA = Embedded
		if offered {
			p.HA = Supervisor
		}
	}
	return p, nil
}

// haTopicsWait is the warning when ha_mqtt: supervisor finds no broker app running at start.
const haTopicsWait = "the Supervisor offers no MQTT broker now; Home Assistant's topics wait for it, asking again with backoff"

// SupervisorResolver asks the Supervisor for its MQTT service once now and returns a resolver that
// asks again before every connection (broker: supervisor and ha_mqtt: supervisor both use it): a
// missing token, service declaration or a refused token stop the start, as errors prefixed with
// what; a broker app not running yet is waited for, with the warning waiting logged under
// component.
func SupervisorResolver(ctx context.Context, what string, log zerolog.Logger, component, waiting string) (Resolver, error) {
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
func offeredResolver(ctx context.Context) (Resolver, string) {
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

func serviceResolver(sc *supervisor.Client) Resolver {
	return func(ctx context.Context) (uplink.Endpoint, error) {
		m, err := sc.MQTTService(ctx)
		if err != nil {
			return uplink.Endpoint{}, err
		}
		return SupervisorEndpoint(m), nil
	}
}

// SupervisorEndpoint turns the Supervisor's MQTT service into an endpoint.
func SupervisorEndpoint(m *supervisor.MQTT) uplink.Endpoint {
	scheme := "tcp"
	if m.SSL {
		scheme = "ssl"
	}
	ep := uplink.Endpoint{
		URL:      scheme + "://" + net.JoinHostPort(m.Host, strconv.Itoa(m.Port)),
		Username: m.Username,
		Password: m.Password,
	}
	if m.Protocol == "3.1" {
		ep.Protocol = 3
	}
	return ep
}
