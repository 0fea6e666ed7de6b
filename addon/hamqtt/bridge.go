package hamqtt

import (
	"context"
	"fmt"
	"slices"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/bridge/acl"
	"github.com/hookbridge/hookbridge/bridge/broker"
	"github.com/hookbridge/hookbridge/bridge/relay"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
)

// relaySubscriptionID is the identifier of the relay's inline subscriptions on the embedded broker.
// mochi keys a message's inline subscribers by identifier: one identifier for every bridge filter
// gives a message matched by two filters to the relay once; and it must differ from the embedded
// Conn's (small numbers counting up), or one would replace the other.
const relaySubscriptionID = 1 << 30

// Bridge is the running MQTT bridge: the connection to the Supervisor's broker and the
// bridge_topics relay over it, when the plan asks for them.
type Bridge struct {
	plan   Plan
	prefix string
	up     *uplink.Uplink // nil unless the plan resolves the Supervisor's broker
	relay  *relay.Relay   // nil unless bridge_topics are forwarded
}

// BridgeConfig is what StartBridge needs.
type BridgeConfig struct {
	Plan   Plan
	Prefix string
	Store  *store.Store
	// Embedded is the embedded broker, not started yet (nil when it does not run): the relay's
	// subscriptions must be made before it starts, or mochi hands them every stored retained
	// message at once and they would be forwarded again at every start.
	Embedded *broker.Broker
	// Entities are the routes' Home Assistant entities (nil when none): with Home Assistant on the
	// Supervisor's broker, the relay forwards their topics too, those Admit takes.
	Entities Forwarded
	Log      zerolog.Logger
}

// Forwarded are topics the relay forwards beside bridge_topics: the topics of routes with Home
// Assistant entities (discovery.RouteEntities). Admit says whether one is forwarded: it runs inside
// the publish, so it must be quick, and it is what first tells discovery of a new topic, so the
// first message on it is forwarded too.
type Forwarded interface {
	Filters() []string
	Admit(topic string) bool
}

var _ Forwarded = (*discovery.RouteEntities)(nil)

// StartBridge connects to the Supervisor's broker and starts the relay, as the plan says.
func StartBridge(ctx context.Context, c BridgeConfig) (*Bridge, error) {
	b := &Bridge{plan: c.Plan, prefix: c.Prefix}
	if c.Plan.Resolve == nil {
		return b, nil
	}
	uo := uplink.Options{Resolve: c.Plan.Resolve, Log: c.Log.With().Str("link", "home-assistant").Logger()}
	if c.Plan.HA == Supervisor {
		// If the connection drops without a goodbye, the broker marks Hookbridge unavailable.
		uo.Will = offlineWill(c.Prefix)
	}
	up, err := connect(ctx, uo, c.Log, "mqtt-bridge",
		"not connected to Home Assistant's MQTT broker yet; retrying in the background (events still reach devices on the embedded broker)")
	if err != nil {
		return nil, err
	}
	b.up = up
	// With Home Assistant on the Supervisor's broker, the routes' entities read their topics
	// there: forward them through the same durable relay, as if bridge_topics listed them.
	var entityFilters []string
	if c.Plan.HA == Supervisor && c.Entities != nil {
		entityFilters = c.Entities.Filters()
	}
	if len(c.Plan.Filters) == 0 && len(entityFilters) == 0 || c.Embedded == nil {
		return b, nil
	}
	r, err := relay.New(relay.Options{Store: c.Store, Uplink: up, Log: c.Log})
	if err != nil {
		b.Close()
		return nil, err
	}
	b.relay = r
	// One handler for every filter: mochi hands a message that several of them match to one of
	// them only (they share relaySubscriptionID), so the handler decides by the topic. An entity
	// topic is forwarded only when Admit takes it: a vendor past its device cap does not fill Home
	// Assistant's broker with retained topics nobody announced.
	bridged := acl.NewFilters(c.Plan.Filters...)
	ents := c.Entities
	if len(entityFilters) == 0 {
		ents = nil
	}
	handler := func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if forwards(c.Prefix, bridged, ents, pk.TopicName) {
			r.Offer(store.EventToken(&pk), pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
		}
	}
	for _, f := range append(slices.Clone(c.Plan.Filters), entityFilters...) {
		if err := c.Embedded.Subscribe(f, relaySubscriptionID, handler); err != nil {
			b.Close()
			return nil, fmt.Errorf("bridge_topics: subscribe %s: %w", f, err)
		}
	}
	if err := r.Start(); err != nil {
		b.Close()
		return nil, err
	}
	c.Log.Info().Str("component", "mqtt-bridge").Strs("bridge_topics", c.Plan.Filters).Strs("entity_topics", entityFilters).
		Int("queue_limit", relay.DefaultMaxQueue).Msg("forwarding bridge_topics and the topics of routes with entities to Home Assistant's MQTT broker")
	return b, nil
}

// forwards reports whether the relay forwards a message that one of its subscriptions matched:
// never one of Hookbridge's own topics; a topic of bridge_topics always; an entity topic when ents
// (nil when the relay forwards no entity topics, and so matched only bridge_topics) admits it.
func forwards(prefix string, bridged acl.Filters, ents Forwarded, topic string) bool {
	if Echoes(prefix, topic) {
		return false
	}
	return ents == nil || ents.Admit(topic) || bridged.Matches(topic)
}

// StopRelay stops forwarding; what is queued stays stored for the next start.
func (b *Bridge) StopRelay() error {
	if b == nil || b.relay == nil {
		return nil
	}
	return b.relay.Close()
}

// Close stops the relay and closes the connection to the Supervisor's broker.
func (b *Bridge) Close() error {
	if b == nil {
		return nil
	}
	err := b.StopRelay()
	if b.up != nil {
		b.up.Close()
	}
	return err
}

// Echoes reports whether a topic is one Hookbridge subscribes to on Home Assistant's broker, or
// one of its own: its topics under {prefix}/_ (kill switch commands, states, availability), Home
// Assistant's status and the discovery configs. The relay never forwards these: they would come
// back, and a kill switch command would cross from the embedded broker to the other.
func Echoes(prefix, topic string) bool {
	if strings.HasPrefix(topic, prefix+"/_") || topic == discovery.HAStatusTopic {
		return true
	}
	parts := strings.Split(topic, "/")
	return len(parts) == 5 && parts[0] == discovery.DiscoveryPrefix && parts[4] == "config"
}

// HAConn returns the connection for Home Assistant's topics that the plan chose, nil when off:
// embedded is the embedded broker (nil when it does not run), events the events' uplink (nil
// when events go to the embedded broker).
func (b *Bridge) HAConn(embedded *broker.Broker, events *uplink.Uplink) Conn {
	switch b.plan.HA {
	case Embedded:
		return OverEmbedded(embedded)
	case Events:
		return OverUplink(events)
	case Supervisor:
		return OverUplink(b.up)
	}
	return nil
}

// Health is the MQTT bridge's part of /healthz: where Home Assistant's topics go and whether that
// connection is up, and the forwarding queue. brokerMode is the broker option; events is the
// events' uplink (nil with the embedded broker).
func (b *Bridge) Health(brokerMode string, events *uplink.Uplink) map[string]any {
	ha := map[string]any{"broker": string(b.plan.HA)}
	switch b.plan.HA {
	case Embedded:
		ha["connected"] = true
	case Events:
		ha["broker"] = brokerMode
		ha["connected"] = events != nil && events.Connected()
	}
	out := map[string]any{"ha_mqtt": ha}
	if b.up != nil {
		s := b.up.Status()
		link := map[string]any{"connected": s.Connected, "broker": s.Broker, "since": s.Since}
		if s.LastError != "" {
			link["last_error"] = s.LastError
		}
		if b.plan.HA == Supervisor {
			ha["connected"] = s.Connected
		}
		out["supervisor_mqtt"] = link
	}
	if b.relay != nil {
		out["bridge_topics"] = b.relay.Status()
	}
	return out
}

// Collectors are the MQTT bridge's metrics: the connection to the Supervisor's broker
// (hookbridge_ha_mqtt_*) and the relay (hookbridge_relay_*), when they run.
func (b *Bridge) Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	if b.up != nil {
		out = append(out, b.up.CollectorNamed("hookbridge_ha_mqtt", "the Supervisor's MQTT broker"))
	}
	if b.relay != nil {
		out = append(out, b.relay.Collector())
	}
	return out
}

// Target returns where Home Assistant's topics go.
func (b *Bridge) Target() Target { return b.plan.HA }

// LinkConnected reports whether the connection of its own to the Supervisor's broker is up; false
// when there is none.
func (b *Bridge) LinkConnected() bool { return b.up != nil && b.up.Connected() }
