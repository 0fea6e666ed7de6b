package bridgetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Subscriber received.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
	QoS      byte
	Dup      bool
}

// Subscriber is a paho MQTT client that records each message before its handler returns, and so
// before paho acknowledges it. It keeps only vendor topics unless Internal is set.
type Subscriber struct {
	TB     testing.TB
	Client paho.Client
	// Internal makes the subscriber keep Hookbridge's own topics ({prefix}/_alerts, _switch,
	// _status, ...) too; by default only vendor topics are kept, so tests that count vendor
	// messages are not disturbed by alerts, discovery and state. Set it before subscribing.
	Internal bool
	// LiveOnly drops retained copies: mochi sends a subscription's retained messages after its
	// SUBACK, so a message published right after subscribing can arrive twice, live and retained.
	// Set it before subscribing.
	LiveOnly bool

	mu   sync.Mutex // guards msgs
	msgs []Message
}

// Connect connects a paho client (MQTT 3.1.1, no automatic reconnection) to addr, with a clean
// session when clean, and disconnects it when the test ends.
func Connect(tb testing.TB, addr, user, password, clientID string, clean bool) (*Subscriber, error) {
	tb.Helper()
	s := &Subscriber{TB: tb}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(clean).SetAutoReconnect(false).
		SetConnectRetry(false).SetOrderMatters(true).SetConnectTimeout(5 * time.Second)
	opts.SetDefaultPublishHandler(s.record)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	s.Client = c
	tb.Cleanup(func() { c.Disconnect(100) })
	return s, nil
}

// Subscribe connects and subscribes to filter at QoS 1, failing the test on an error or a refusal.
func Subscribe(tb testing.TB, addr, user, password, clientID string, clean bool, filter string) *Subscriber {
	tb.Helper()
	return subscribeWith(tb, addr, user, password, clientID, clean, filter, false)
}

// SubscribeLive is Subscribe with a clean session, keeping only live deliveries (LiveOnly).
func SubscribeLive(tb testing.TB, addr, user, password, clientID, filter string) *Subscriber {
	tb.Helper()
	return subscribeWith(tb, addr, user, password, clientID, true, filter, true)
}

func subscribeWith(tb testing.TB, addr, user, password, clientID string, clean bool, filter string, liveOnly bool) *Subscriber {
	tb.Helper()
	s, err := Connect(tb, addr, user, password, clientID, clean)
	if err != nil {
		tb.Fatalf("connect %s: %v", user, err)
	}
	if liveOnly {
		s.LiveOnly = true // before any message can arrive: the session is clean
	}
	if code := s.Subscribe(filter); code > 2 {
		tb.Fatalf("subscribe %q as %s: refused with 0x%02x", filter, user, code)
	}
	return s
}

func (s *Subscriber) record(_ paho.Client, m paho.Message) {
	if !s.Internal && strings.HasPrefix(m.Topic(), TopicPrefix+"/_") || s.LiveOnly && m.Retained() {
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained(), QoS: m.Qos(), Dup: m.Duplicate()})
	s.mu.Unlock()
}

// Subscribe subscribes to filter at QoS 1 and returns the SUBACK code (0-2 granted QoS, 0x80
// refused).
func (s *Subscriber) Subscribe(filter string) byte {
	s.TB.Helper()
	tok := s.Client.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		s.TB.Fatalf("subscribe %q timed out", filter)
	}
	if err := tok.Error(); err != nil {
		return 0x80
	}
	// paho keys the result by the filter without a "$share/{group}/" prefix.
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	return 0x80
}

// Publish publishes at QoS 1 and waits for the broker's acknowledgement.
func (s *Subscriber) Publish(topic, payload string, retain bool) error {
	s.TB.Helper()
	tok := s.Client.Publish(topic, 1, retain, payload)
	if !tok.WaitTimeout(5 * time.Second) {
		return fmt.Errorf("publish %s: timed out", topic)
	}
	return tok.Error()
}

// Messages returns a copy of what was received so far.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor polls until cond holds on the messages received, and returns them, or fails the test
// once d has passed.
func (s *Subscriber) WaitFor(what string, d time.Duration, cond func([]Message) bool) []Message {
	s.TB.Helper()
	deadline := time.Now().Add(d)
	for {
		msgs := s.Messages()
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			s.TB.Fatalf("timed out waiting for %s; got %d messages: %v", what, len(msgs), msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitCount waits, up to WaitForDeliveries, until at least n messages arrived.
func (s *Subscriber) WaitCount(n int) []Message {
	s.TB.Helper()
	return s.WaitFor(fmt.Sprintf("%d messages", n), WaitForDeliveries, func(m []Message) bool { return len(m) >= n })
}

// Contains reports whether any message's topic or payload contains s.
func Contains(msgs []Message, s string) bool {
	for _, m := range msgs {
		if strings.Contains(m.Topic, s) || strings.Contains(m.Payload, s) {
			return true
		}
	}
	return false
}

// LastOn returns the last message received on topic.
func LastOn(msgs []Message, topic string) (Message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == topic {
			return msgs[i], true
		}
	}
	return Message{}, false
}
