package hamqtt

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/bridge/broker"
	"github.com/hookbridge/hookbridge/bridge/uplink"
)

// Conn is the MQTT connection that Home Assistant-facing topics go over (discovery,
// availability, health, counters, alerts, kill-switch commands): the embedded broker, or the
// Supervisor's broker when ha_mqtt picks it.
type Conn interface {
	discovery.Conn
	// Connected reports whether messages can be sent now.
	Connected() bool
}

// embedded is Conn over the embedded broker's inline client.
type embedded struct {
	b      *broker.Broker
	nextID atomic.Int64
}

// OverEmbedded returns a Conn over the embedded broker's inline client.
func OverEmbedded(b *broker.Broker) Conn { return &embedded{b: b} }

func (e *embedded) Publish(topic string, payload []byte, retain bool) error {
	return e.b.PublishPlain(topic, payload, retain, 1)
}

func (e *embedded) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	id := int(e.nextID.Add(1))
	return e.b.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
}

func (e *embedded) Connected() bool { return true }

// overUplink is Conn over an uplink: with the embedded broker off, or with ha_mqtt on the
// Supervisor's broker, Home Assistant-facing topics go to the outside broker.
type overUplink struct{ u *uplink.Uplink }

// OverUplink returns a Conn over an uplink. It also has OnConnect (see there).
func OverUplink(u *uplink.Uplink) Conn { return overUplink{u} }

func (h overUplink) Publish(topic string, payload []byte, retain bool) error {
	return h.u.PublishPlain(topic, payload, retain, 1)
}

func (h overUplink) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	return h.u.Subscribe(filter, 1, fn)
}

func (h overUplink) Connected() bool { return h.u.Connected() }

// OnConnect runs fn after every reconnection of the uplink, so discovery can announce its configs
// and availability again (discovery.Discovery.Announce) after the broker was away.
func (h overUplink) OnConnect(fn func()) { h.u.OnConnect(fn) }
