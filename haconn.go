package main

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/broker"
)

// haConn is the MQTT connection that Home Assistant-facing topics go over (discovery,
// availability, health, counters, alerts, kill-switch commands): the embedded broker, or the
// Supervisor's broker when ha_mqtt picks it.
type haConn interface {
	// Publish sends a message at QoS 1.
	Publish(topic string, payload []byte, retain bool) error
	// Subscribe calls fn for each message on topics matching filter.
	Subscribe(filter string, fn func(topic string, payload []byte)) error
	// Connected reports whether messages can be sent now.
	Connected() bool
}

// embeddedHA is haConn over the embedded broker's inline client.
type embeddedHA struct {
	b      *broker.Broker
	nextID atomic.Int64
}

func (e *embeddedHA) Publish(topic string, payload []byte, retain bool) error {
	return e.b.PublishPlain(topic, payload, retain, 1)
}

func (e *embeddedHA) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	id := int(e.nextID.Add(1))
	return e.b.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
}

func (e *embeddedHA) Connected() bool { return true }
