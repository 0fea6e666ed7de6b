package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/addon/supervisor"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/store"
	uplinkpkg "github.com/hookbridge/hookbridge/bridge/uplink"
)

// uplink is a publisher to a broker outside the process.
type uplink interface {
	publish.Publisher
	Connected() bool
	Close() error
	// PublishPlain publishes a message of no event (discovery, availability) and waits for the
	// broker's acknowledgement.
	PublishPlain(topic string, payload []byte, retain bool, qos byte) error
	// Subscribe subscribes on every connection, now and after reconnects.
	Subscribe(filter string, qos byte, fn func(topic string, payload []byte)) error
	// OnConnect adds a function to run after every (re)connection.
	OnConnect(fn func())
}

var _ uplink = (*uplinkpkg.Uplink)(nil)

// appConfigDir is the app's own configuration folder (map: addon_config). Relative certificate
// paths in external_broker are read from it.
const appConfigDir = "/config"

// uplinkFirstConnect is how long start waits for the first connection, so that webhooks arriving
// right after a start do not get 503 for nothing. After it, start goes on and the uplink keeps
// trying in the background.
const uplinkFirstConnect = 5 * time.Second

// startUplink connects to the broker the options name (broker: supervisor or external). With
// haTopics, Home Assistant's topics go over it too.
func startUplink(ctx context.Context, o *options.Options, st *store.Store, haTopics bool, log zerolog.Logger) (uplink, error) {
	resolve, err := uplinkResolver(ctx, o, appConfigDir, log)
	if err != nil {
		return nil, err
	}
	uo := uplinkpkg.Options{Resolve: resolve, Store: st, Log: log}
	if haTopics {
		// Home Assistant topics go over the uplink (the embedded broker is off): if the connection
		// drops without a goodbye, the broker marks Hookbridge unavailable.
		uo.Will = offlineWill(o.TopicPrefix)
	}
	up, err := connectUplink(ctx, uo, log, "uplink",
		"not connected to the MQTT broker yet: webhooks get 503 with Retry-After until it is; retrying in the background")
	if err != nil {
		return nil, err
	}
	return up, nil
}

// offlineWill is the will of a connection that carries Home Assistant's topics: Offline, retained,
// on the availability topic.
func offlineWill(prefix string) *uplinkpkg.Will {
	return &uplinkpkg.Will{Topic: discovery.AvailabilityTopic(prefix), Payload: []byte(discovery.Offline), QoS: 1, Retain: true}
}

// connectUplink makes an uplink with uo, starts it and waits up to uplinkFirstConnect for its first
// connection. Without one it logs waiting under component, with the broker and its last error, and
// returns the uplink, which keeps trying in the background.
func connectUplink(ctx context.Context, uo uplinkpkg.Options, log zerolog.Logger, component, waiting string) (*uplinkpkg.Uplink, error) {
	up, err := uplinkpkg.New(uo)
	if err != nil {
		return nil, err
	}
	up.Start()
	wctx, cancel := context.WithTimeout(ctx, uplinkFirstConnect)
	defer cancel()
	if err := up.WaitConnected(wctx); err != nil {
		s := up.Status()
		log.Warn().Str("component", component).Str("broker", s.Broker).Str("error", s.LastError).Msg(waiting)
	}
	return up, nil
}

// uplinkResolver returns where the uplink connects: the external_broker option, or the
// Supervisor's MQTT service, asked again before every connection attempt (the broker app may
// start after Hookbridge, or be reinstalled with new credentials).
func uplinkResolver(ctx context.Context, o *options.Options, configDir string, log zerolog.Logger) (func(context.Context) (uplinkpkg.Endpoint, error), error) {
	switch o.Broker {
	case options.BrokerExternal:
		ep, err := externalEndpoint(o.ExternalBroker, configDir)
		if err != nil {
			return nil, fmt.Errorf("external_broker: %w", err)
		}
		return uplinkpkg.Static(ep), nil
	case options.BrokerSupervisor:
		// Asked once now: a missing service declaration or a refused token will not mend by
		// itself, so they stop the start. A broker app that is not running (yet) is waited for.
		return supervisorResolver(ctx, "broker: supervisor", log, "uplink",
			"the Supervisor offers no MQTT broker now; asking again with backoff, webhooks get 503 until then")
	}
	return nil, fmt.Errorf("broker %q is not an outside broker", o.Broker)
}

// externalEndpoint checks the external_broker option and loads its certificate files; relative
// paths are under configDir.
func externalEndpoint(e options.ExternalBroker, configDir string) (uplinkpkg.Endpoint, error) {
	under := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(configDir, p)
	}
	tlsCfg, err := uplinkpkg.TLSFiles{CA: under(e.CAFile), Cert: under(e.CertFile), Key: under(e.KeyFile)}.Config()
	if err != nil {
		return uplinkpkg.Endpoint{}, err
	}
	ep := uplinkpkg.Endpoint{URL: e.URL, Username: e.Username, Password: e.Password, TLS: tlsCfg}
	return ep.Normalize()
}

// supervisorEndpoint turns the Supervisor's MQTT service into an endpoint.
func supervisorEndpoint(m *supervisor.MQTT) uplinkpkg.Endpoint {
	scheme := "tcp"
	if m.SSL {
		scheme = "ssl"
	}
	ep := uplinkpkg.Endpoint{
		URL:      scheme + "://" + net.JoinHostPort(m.Host, strconv.Itoa(m.Port)),
		Username: m.Username,
		Password: m.Password,
	}
	if m.Protocol == "3.1" {
		ep.Protocol = 3
	}
	return ep
}

// uplinkHA is haConn over the uplink: with the embedded broker off, Home Assistant-facing topics
// (discovery, availability) go to the outside broker as well.
type uplinkHA struct{ u uplink }

var _ haConn = uplinkHA{}

func (h uplinkHA) Publish(topic string, payload []byte, retain bool) error {
	return h.u.PublishPlain(topic, payload, retain, 1)
}

func (h uplinkHA) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	return h.u.Subscribe(filter, 1, fn)
}

func (h uplinkHA) Connected() bool { return h.u.Connected() }

// OnConnect runs fn after every reconnection of the uplink, so discovery can announce its configs
// and availability again (discovery.Discovery.Announce) after the broker was away.
func (h uplinkHA) OnConnect(fn func()) { h.u.OnConnect(fn) }
