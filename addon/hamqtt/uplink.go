package hamqtt

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
)

// FirstConnect is how long a start waits for an uplink's first connection, so that webhooks
// arriving right after a start do not get 503 for nothing. After it, the start goes on and the
// uplink keeps trying in the background.
const FirstConnect = 5 * time.Second

// StartEvents connects to the broker the options name for events (broker: supervisor or
// external). With haTopics, Home Assistant's topics go over it too. Relative certificate paths in
// external_broker are read under configDir, the app's own configuration folder.
func StartEvents(ctx context.Context, o *options.Options, st *store.Store, haTopics bool, configDir string, log zerolog.Logger) (*uplink.Uplink, error) {
	resolve, err := eventsResolver(ctx, o, configDir, log)
	if err != nil {
		return nil, err
	}
	uo := uplink.Options{Resolve: resolve, Log: log}
	if st != nil {
		uo.Ledger = st
	}
	if haTopics {
		// Home Assistant topics go over the uplink (the embedded broker is off): if the connection
		// drops without a goodbye, the broker marks Hookbridge unavailable.
		uo.Will = offlineWill(o.TopicPrefix)
	}
	return connect(ctx, uo, log, "uplink",
		"not connected to the MQTT broker yet: webhooks get 503 with Retry-After until it is; retrying in the background")
}

// offlineWill is the will of a connection that carries Home Assistant's topics: Offline, retained,
// on the availability topic.
func offlineWill(prefix string) *uplink.Will {
	return &uplink.Will{Topic: discovery.AvailabilityTopic(prefix), Payload: []byte(discovery.Offline), QoS: 1, Retain: true}
}

// connect makes an uplink with uo, starts it and waits up to FirstConnect for its first
// connection. Without one it logs waiting under component, with the broker and its last error, and
// returns the uplink, which keeps trying in the background.
func connect(ctx context.Context, uo uplink.Options, log zerolog.Logger, component, waiting string) (*uplink.Uplink, error) {
	up, err := uplink.New(uo)
	if err != nil {
		return nil, err
	}
	up.Start()
	wctx, cancel := context.WithTimeout(ctx, FirstConnect)
	defer cancel()
	if err := up.WaitConnected(wctx); err != nil {
		s := up.Status()
		log.Warn().Str("component", component).Str("broker", s.Broker).Str("error", s.LastError).Msg(waiting)
	}
	return up, nil
}

// eventsResolver returns where the events' uplink connects: the external_broker option, or the
// Supervisor's MQTT service, asked again before every connection attempt (the broker app may
// start after Hookbridge, or be reinstalled with new credentials).
func eventsResolver(ctx context.Context, o *options.Options, configDir string, log zerolog.Logger) (Resolver, error) {
	switch o.Broker {
	case options.BrokerExternal:
		ep, err := ExternalEndpoint(o.ExternalBroker, configDir)
		if err != nil {
			return nil, fmt.Errorf("external_broker: %w", err)
		}
		return uplink.Static(ep), nil
	case options.BrokerSupervisor:
		// Asked once now: a missing service declaration or a refused token will not mend by
		// itself, so they stop the start. A broker app that is not running (yet) is waited for.
		return SupervisorResolver(ctx, "broker: supervisor", log, "uplink",
			"the Supervisor offers no MQTT broker now; asking again with backoff, webhooks get 503 until then")
	}
	return nil, fmt.Errorf("broker %q is not an outside broker", o.Broker)
}

// ExternalEndpoint checks the external_broker option and loads its certificate files; relative
// paths are under configDir.
func ExternalEndpoint(e options.ExternalBroker, configDir string) (uplink.Endpoint, error) {
	under := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(configDir, p)
	}
	tlsCfg, err := uplink.TLSFiles{CA: under(e.CAFile), Cert: under(e.CertFile), Key: under(e.KeyFile)}.Config()
	if err != nil {
		return uplink.Endpoint{}, err
	}
	ep := uplink.Endpoint{URL: e.URL, Username: e.Username, Password: e.Password, TLS: tlsCfg}
	return ep.Normalize()
}
