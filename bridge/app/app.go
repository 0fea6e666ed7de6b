// Package app is Hookbridge's composition root: it builds every part from the options and the
// vendor catalog, starts them in the order their dependencies need, and stops them in reverse.
//
// The start order is in code: a part that needs another takes it as a value, so the compiler, not
// a comment, keeps the order. In short: the pseudonym key and the compiled vendors; the store; the
// kill switches (stored state); the MQTT plan (a setting that cannot work stops the start before
// anything listens); the routes' Home Assistant entities (their durable known topics); the
// embedded broker, built but not started, so that the bridge_topics relay
// can subscribe before it restores retained messages; the broker; the outside uplink; the
// pipeline and receiver; the operations side (metrics, audit, anomaly detection) and the Home
// Assistant side (status page, discovery), which observe the receiver; then the listeners.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/broker"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// Config is what an App is built from.
type Config struct {
	Options *options.Options
	Catalog *catalog.Catalog
	// DataDir holds the state file, the audit trail and a generated pseudonym key.
	DataDir string
	// HTTPAddr, AdminAddr and MQTTAddr are the listen addresses: partner, admin and embedded
	// broker. Port 0 picks a free port; Addrs tells which.
	HTTPAddr, AdminAddr, MQTTAddr string
	// UnderSupervisor is true when the Home Assistant Supervisor runs us: the admin listener then
	// accepts only the ingress proxy and loopback.
	UnderSupervisor bool
	// ConfigDir is the app's own configuration folder; relative certificate paths of
	// external_broker are read under it. Default "/config".
	ConfigDir string
	// NoSync turns fsync off, for benchmarks measuring its cost only.
	NoSync  bool
	Log     zerolog.Logger
	Version string
}

// App is a Hookbridge instance. New builds it, Start starts it, Stop stops it.
type App struct {
	cfg     Config
	log     zerolog.Logger
	opts    *options.Options
	ps      *pseudo.Pseudonymizer
	vendors vendor.Vendors
	names   []string // the configured vendors' names, sorted

	// Set by Start, in this order.
	store    *store.Store
	keys     *audit.Keys // the audit trail's keys: secrets' digests, the chain
	learning *learning   // learn mode's recorders, saved to the store
	switches *killswitch.Switches
	// offboard holds the vendors offboarded (and not taken on again); tracker their lifecycle.
	offboard *offboarded
	tracker  *tracker
	trail    *audit.Log
	broker   *broker.Broker           // nil unless broker: embedded
	ents     *discovery.RouteEntities // nil when no route's entities are announced
	mqtt     *hamqtt.Bridge
	events   *uplink.Uplink // nil with broker: embedded
	stats    *stats.Stats
	recv     *receiver.Receiver
	ops      *ops
	disc     *discovery.Discovery // nil when ha_mqtt is off
	ha       hamqtt.Conn          // nil when ha_mqtt is off
	httpSrv  *http.Server
	adminSrv *http.Server
	httpLn   net.Listener
	adminLn  net.Listener
	purge    *purger
}

// New checks the configuration and compiles the vendors. It opens nothing.
func New(cfg Config) (*App, error) {
	if cfg.Options == nil || cfg.Catalog == nil || cfg.DataDir == "" {
		return nil, errors.New("app: Options, Catalog and DataDir are required")
	}
	if cfg.ConfigDir == "" {
		cfg.ConfigDir = "/config"
	}
	o := cfg.Options
	key, err := pseudo.LoadOrCreateKey(o.PseudonymKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ps, err := pseudo.New(key)
	if err != nil {
		return nil, err
	}
	cfgs, err := o.VendorConfigs()
	if err != nil {
		return nil, err
	}
	vendors, err := vendor.Compile(o.TopicPrefix, cfgs, cfg.Catalog, ps)
	if err != nil {
		return nil, o.VendorError(err)
	}
	return &App{cfg: cfg, log: cfg.Log, opts: o, ps: ps, vendors: vendors, names: vendorNames(vendors)}, nil
}

// Start starts every part. On error, what was started is stopped.
func (a *App) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.Stop(context.Background())
		}
	}()
	o, log := a.opts, a.log
	a.store, err = store.Open(a.cfg.DataDir, store.Options{NoSync: a.cfg.NoSync, Log: log.With().Str("component", "store").Logger()})
	if err != nil {
		return err
	}
	stored, err := a.store.States()
	if err != nil {
		return err
	}
	a.switches = newSwitches(a.vendors, stored, a.store)
	if a.learning, err = newLearning(a.vendors, a.names, a.store, a.cfg.Catalog, log); err != nil {
		return err
	}
	// The lifecycle: secrets by keyed digest (the audit trail's key), vendors offboarded, the
	// trail, which records what changed since the last start.
	var created bool
	if a.keys, created, err = audit.LoadOrCreateKeys(a.cfg.DataDir); err != nil {
		return err
	}
	if a.offboard, err = loadOffboarded(a.store, a.switches, log); err != nil {
		return err
	}
	if a.tracker, err = newTracker(trackerConfig{Options: o, Vendors: a.vendors, Keys: a.keys, Store: a.store,
		Skip: a.offboard.names(), Log: log, Write: true}); err != nil {
		return err
	}
	a.tracker.open = switchOpen(a.switches)
	a.tracker.wrap(a.vendors)
	if a.trail, err = a.openTrail(created); err != nil {
		return err
	}

	// Where Home Assistant's topics go (ha_mqtt) and what is forwarded (bridge_topics): decided
	// first, so that a setting that cannot work stops the start before anything listens.
	plan, err := hamqtt.NewPlan(ctx, o, log)
	if err != nil {
		return err
	}
	// The routes' entities: the relay to Home Assistant's broker forwards their topics, so they
	// come before the brokers.
	if a.ents, err = a.newEntities(plan); err != nil {
		return err
	}
	pub, connected, err := a.startBrokers(ctx, plan)
	if err != nil {
		return err
	}

	var trusted []netip.Prefix
	for _, s := range o.TrustedProxies {
		p, _ := options.ParsePrefix(s)
		trusted = append(trusted, p)
	}
	a.stats = stats.New(a.names)
	pl := pipeline.New(a.ps, a.store, pub)
	pl.SetRecorders(a.learning.recorders())
	a.learning.start()
	a.recv = receiver.New(receiver.Config{
		Vendors:        a.vendors,
		Switches:       a.switches,
		Pipeline:       pl,
		MaxBody:        int64(o.MaxBodyKB) << 10,
		TrustedProxies: trusted,
		Sources:        ratelimit.NewSources(o.SourceRatePerMinute, 100_000),
		Log:            log,
	})
	a.recv.AddObserver(a.stats)
	if a.ents != nil {
		// Tells discovery of each new topic a route with entities published: a map lookup per
		// topic, after the answer is written.
		a.recv.AddObserver(a.ents)
	}

	adm := admin.New(admin.Config{
		Vendors:         a.vendors,
		Switches:        a.switches,
		Stats:           a.stats,
		IngressOnly:     a.cfg.UnderSupervisor,
		Addr:            a.cfg.AdminAddr,
		Log:             log.With().Str("component", "admin").Logger(),
		Version:         a.cfg.Version,
		BrokerConnected: connected,
		Health:          func() map[string]any { return a.mqtt.Health(o.Broker, a.events) },
		Sessions:        deviceSessions(a.broker),
		Learning:        a.learning,
		Lifecycle:       lifecycleView{a.tracker, a.offboard},
		Notes:           a.trail,
	})
	a.ha = a.mqtt.HAConn(a.broker, a.events)
	a.ops, err = startOps(opsConfig{
		App: a, Admin: adm, Receiver: a.recv, Store: a.store, Broker: a.broker, Events: a.events,
		Bridge: a.mqtt, Switches: a.switches, HA: a.ha, Entities: a.ents, Trail: a.trail, Plan: plan,
	})
	if err != nil {
		return err
	}
	if a.disc, err = a.startHA(adm, a.ha); err != nil {
		return err
	}

	a.adminLn, err = net.Listen("tcp", a.cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", a.cfg.AdminAddr, err)
	}
	a.adminSrv = admin.NewServer(adm)
	go a.serve(a.adminSrv, a.adminLn, "admin")
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", a.cfg.HTTPAddr, err)
	}
	a.httpSrv = receiver.NewServer(a.recv)
	a.httpLn = receiver.Limit(a.httpSrv, ln, receiver.MaxConns, a.recv.ConnStats(), log.With().Str("component", "http").Logger())
	go a.serve(a.httpSrv, a.httpLn, "partner")

	a.purge = startPurger(a.store, a.trail, a.retention, a.replayRetention, a.names, log)

	log.Info().Str("http", a.httpLn.Addr().String()).Str("admin", a.adminLn.Addr().String()).
		Str("mqtt", a.Addrs().MQTT).Int("vendors", len(a.vendors)).Str("version", a.cfg.Version).Msg("hookbridge started")
	return nil
}

// startBrokers starts where events go and the MQTT bridge: the embedded broker (events go there
// with broker: embedded; bridge_topics are forwarded from it), or the uplink to an outside broker
// (broker: supervisor or external; the embedded broker does not run then). It returns the
// events' publisher and whether it can take events now.
func (a *App) startBrokers(ctx context.Context, plan hamqtt.Plan) (publish.Publisher, func() bool, error) {
	o, log := a.opts, a.log
	if o.Broker == options.BrokerEmbedded {
		b, err := broker.New(broker.Options{
			Accounts:      accounts(o),
			Store:         a.store,
			Log:           log,
			SessionExpiry: time.Duration(o.RetentionDays) * 24 * time.Hour,
		})
		if err != nil {
			return nil, nil, err
		}
		// The relay subscribes to the broker before it starts: see hamqtt.BridgeConfig.Embedded.
		if a.mqtt, err = hamqtt.StartBridge(ctx, a.bridgeConfig(plan, b)); err != nil {
			return nil, nil, err
		}
		if err := b.Start(a.cfg.MQTTAddr); err != nil {
			return nil, nil, err
		}
		a.broker = b
		return b, func() bool { return true }, nil
	}
	// Events go to the home's own broker (the Supervisor's MQTT service or an external URL).
	up, err := hamqtt.StartEvents(ctx, o, a.store, plan.HA == hamqtt.Events, a.cfg.ConfigDir, log)
	if err != nil {
		return nil, nil, err
	}
	a.events = up
	log.Warn().Str("broker", o.Broker).Msg("events go to an outside broker: device ACLs are that broker's job there; Hookbridge enforces them only on its embedded broker")
	if a.mqtt, err = hamqtt.StartBridge(ctx, a.bridgeConfig(plan, nil)); err != nil {
		return nil, nil, err
	}
	return up, up.Connected, nil
}

func (a *App) bridgeConfig(plan hamqtt.Plan, embedded *broker.Broker) hamqtt.BridgeConfig {
	c := hamqtt.BridgeConfig{Plan: plan, Prefix: a.opts.TopicPrefix, Store: a.store, Embedded: embedded, Log: a.log}
	if a.ents != nil {
		c.Entities = a.ents
	}
	return c
}

func (a *App) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error().Err(err).Str("listener", name).Msg("listener stopped")
	}
}

// Stop shuts everything down in order: stop taking webhooks and finish those in flight, then the
// admin listener, the purge loop, discovery (saying offline while its connection is up), the
// operations side, the MQTT bridge, the outside uplink, the broker and the store. It may be called
// on an App whose Start failed part way.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	if a.httpSrv != nil {
		if err := receiver.Shutdown(ctx, a.recv, a.httpSrv); err != nil {
			errs = append(errs, fmt.Errorf("partner listener: %w", err))
		}
	} else if a.httpLn != nil {
		a.httpLn.Close()
	}
	if a.adminSrv != nil {
		if err := a.adminSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin listener: %w", err))
		}
	} else if a.adminLn != nil {
		a.adminLn.Close()
	}
	a.purge.stop()
	// No webhook is in flight any more: what learn mode recorded is complete, and so are the
	// secrets' use and the vendors' last events.
	a.learning.close()
	a.tracker.close()
	if a.disc != nil {
		// Failing to say "offline" is logged, not an error of the stop: over an outside broker the
		// will says it for us, and an exit status other than 0 would only make the Supervisor think
		// we crashed.
		if err := a.disc.Close(); err != nil {
			a.log.Warn().Err(err).Str("component", "discovery").Msg("could not mark Hookbridge offline for Home Assistant")
		}
	}
	a.ops.close()
	if a.trail != nil {
		if err := a.trail.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.mqtt.Close(); err != nil {
		errs = append(errs, err)
	}
	if a.events != nil {
		a.events.Close()
	}
	if a.broker != nil {
		a.broker.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
	}
	a.log.Info().Msg("hookbridge stopped")
	return errors.Join(errs...)
}

// newSwitches builds the kill switches from the vendors' options and any stored state (p may be
// nil: nothing is stored then).
func newSwitches(vendors vendor.Vendors, stored map[string][]byte, p killswitch.Persister) *killswitch.Switches {
	optOn, canOn := map[string]bool{}, map[string]bool{}
	for name, v := range vendors {
		optOn[name], canOn[name] = v.Enabled, v.Verifier != nil
	}
	return killswitch.New(optOn, canOn, stored, p)
}

// accounts turns device options into broker accounts: read-only filters under the prefix for
// devices; more for the homeassistant account.
func accounts(o *options.Options) []broker.Account {
	var out []broker.Account
	for _, d := range o.Devices {
		acc := broker.Account{Username: d.Username, Password: d.Password}
		for _, f := range d.Allow {
			acc.Read = append(acc.Read, o.TopicPrefix+"/"+f)
		}
		if d.Username == options.HomeAssistantUser {
			acc.Read = append(acc.Read, o.TopicPrefix+"/#", "homeassistant/#")
			acc.Write = append(acc.Write, "homeassistant/#", o.TopicPrefix+"/_switch/+/set")
		}
		out = append(out, acc)
	}
	return out
}

// retention returns a vendor's retention: its policy's, else the options'.
func (a *App) retention(vendor string) time.Duration {
	days := a.opts.RetentionDays
	if v, ok := a.vendors[vendor]; ok && v.Policy.RetentionDays > 0 {
		days = v.Policy.RetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// replayRetention returns how long a vendor's replay records are kept (ReplayRetention).
func (a *App) replayRetention(vendor string) time.Duration {
	return ReplayRetention(a.vendors[vendor], a.retention(vendor))
}

// auditTrail is the audit trail once the operations side started.
func (a *App) auditTrail() *audit.Log { return a.trail }
