package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
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
)

func serveCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fset, f := newFlagSet("serve", stderr)
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "serve takes no arguments\n")
		return errUsage
	}
	f.resolve()
	cat, o, created, err := loadConfig(f)
	if err != nil {
		return err
	}
	log := newLogger(stderr, o.LogLevel)
	if created {
		log.Info().Str("options", f.options).
			Msg("first run: wrote an options file with fresh random vendor secrets and device passwords; read them there")
	}
	a, err := start(ctx, f, o, cat, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info().Msg("stopping: finishing requests in flight")
	stopCtx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return a.stop(stopCtx)
}

// app is a running Hookbridge.
type app struct {
	log      zerolog.Logger
	opts     *options.Options
	store    *store.Store
	broker   *broker.Broker
	switches *killswitch.Switches
	vendors  pipeline.Vendors
	names    []string // the configured vendors' names, sorted
	recv     *receiver.Receiver
	httpSrv  *http.Server
	adminSrv *http.Server
	uplink   uplink
	// ha is where Home Assistant-facing topics go; nil when ha_mqtt is off.
	ha haConn
	// mqtt is the MQTT bridge: where ha_mqtt resolved, and the connection to the Supervisor's
	// broker and the bridge_topics relay when they run.
	mqtt  *mqttBridge
	stats *stats.Stats
	// audit is the audit trail, started by startOps.
	audit *audit.Log
	// observers see every webhook outcome; parts started before the receiver add themselves.
	observers []receiver.Observer
	// closers run at stop, after the listeners and before the broker and store close.
	closers []func() error
	httpLn  net.Listener
	adminLn net.Listener
	cancel  context.CancelFunc
	// purgeDone is closed when purgeLoop has returned, so stop does not close what it purges.
	purgeDone chan struct{}
}

// start builds and starts every part. On error, what was started is stopped.
func start(ctx context.Context, f *flags, o *options.Options, cat *catalog.Catalog, log zerolog.Logger) (_ *app, err error) {
	a := &app{log: log, opts: o}
	defer func() {
		if err != nil {
			a.stop(context.Background())
		}
	}()
	key, err := pseudo.LoadOrCreateKey(o.PseudonymKey, f.data)
	if err != nil {
		return nil, err
	}
	ps, err := pseudo.New(key)
	if err != nil {
		return nil, err
	}
	a.vendors, err = pipeline.CompileVendors(o, cat, ps)
	if err != nil {
		return nil, err
	}
	for name := range a.vendors {
		a.names = append(a.names, name)
	}
	sort.Strings(a.names)
	a.store, err = store.Open(f.data, store.Options{NoSync: f.noSync, Log: log.With().Str("component", "store").Logger()})
	if err != nil {
		return nil, err
	}
	stored, err := a.store.States()
	if err != nil {
		return nil, err
	}
	a.switches = newSwitches(a.vendors, stored, a.store)

	// Where Home Assistant's topics go (ha_mqtt) and what is forwarded (bridge_topics): decided
	// first, so that a setting that cannot work stops the start before anything listens.
	plan, err := planMQTT(ctx, o, log)
	if err != nil {
		return nil, err
	}
	// The embedded broker runs only when events go to it: in the supervisor and external modes it
	// is off, and bridge_topics are refused there.
	var pub publish.Publisher
	if o.Broker == options.BrokerEmbedded {
		a.broker, err = broker.New(broker.Options{
			Accounts:      accounts(o),
			Store:         a.store,
			Log:           log,
			SessionExpiry: time.Duration(o.RetentionDays) * 24 * time.Hour,
		})
		if err != nil {
			return nil, err
		}
		// Before the broker starts: the relay's subscriptions must not see the stored retained
		// messages as new ones.
		if err := a.startMQTTBridge(ctx, plan); err != nil {
			return nil, err
		}
		if err := a.broker.Start(f.mqttAddr); err != nil {
			return nil, err
		}
		pub = a.broker
	}
	connected := func() bool { return true }
	if o.Broker != options.BrokerEmbedded {
		// Events go to the home's own broker (the Supervisor's MQTT service or an external URL).
		up, err := startUplink(ctx, o, a.store, plan.ha == haEvents, log)
		if err != nil {
			return nil, err
		}
		a.uplink = up
		pub, connected = up, up.Connected
		log.Warn().Str("broker", o.Broker).Msg("events go to an outside broker: device ACLs are that broker's job there; Hookbridge enforces them only on its embedded broker")
		if err := a.startMQTTBridge(ctx, plan); err != nil {
			return nil, err
		}
	}

	var trusted []netip.Prefix
	for _, s := range o.TrustedProxies {
		p, _ := options.ParsePrefix(s)
		trusted = append(trusted, p)
	}
	pl := pipeline.New(ps, a.store, pub)
	a.stats = stats.New(a.names)
	a.observers = append(a.observers, a.stats)
	// More observers (audit, anomaly detection, metrics) are added by startOps, before serving.
	a.recv = receiver.New(receiver.Config{
		Vendors:        a.vendors,
		Switches:       a.switches,
		Pipeline:       pl,
		MaxBody:        int64(o.MaxBodyKB) << 10,
		TrustedProxies: trusted,
		Sources:        ratelimit.NewSources(o.SourceRatePerMinute, 100_000),
		Log:            log,
	})

	adm := admin.New(admin.Config{
		Vendors:         a.vendors,
		Switches:        a.switches,
		Stats:           a.stats,
		IngressOnly:     f.underSupervisor,
		Log:             log.With().Str("component", "admin").Logger(),
		Version:         version,
		BrokerConnected: connected,
		Health:          a.mqttHealth,
	})
	a.ha = a.haConn()
	if err := a.startOps(f, adm); err != nil {
		return nil, err
	}
	if err := a.startHA(adm); err != nil {
		return nil, err
	}
	for _, o := range a.observers {
		a.recv.AddObserver(o)
	}

	a.adminLn, err = net.Listen("tcp", f.adminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", f.adminAddr, err)
	}
	a.adminSrv = admin.NewServer(adm)
	go a.serve(a.adminSrv, a.adminLn, "admin")
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", f.httpAddr, err)
	}
	a.httpSrv = receiver.NewServer(a.recv)
	a.httpLn = receiver.Limit(a.httpSrv, ln, receiver.MaxConns, a.recv.ConnStats(), log.With().Str("component", "http").Logger())
	go a.serve(a.httpSrv, a.httpLn, "partner")

	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.purgeDone = make(chan struct{})
	go func() {
		defer close(a.purgeDone)
		a.purgeLoop(loopCtx)
	}()

	log.Info().Str("http", a.httpLn.Addr().String()).Str("admin", a.adminLn.Addr().String()).
		Str("mqtt", mqttAddr(a.broker)).Int("vendors", len(a.vendors)).Str("version", version).Msg("hookbridge started")
	return a, nil
}

// startLoopback starts the whole bridge in this process, as serve does, on loopback ports, with
// the data in data, the built-in policies plus those in policies (when not ""), and no fsync when
// noSync: for the bench and the tests.
func startLoopback(ctx context.Context, data, policies string, o *options.Options, noSync bool, log io.Writer) (*app, error) {
	f := &flags{data: data, options: filepath.Join(data, "options.json"), policies: policies,
		httpAddr: "127.0.0.1:0", adminAddr: "127.0.0.1:0", mqttAddr: "127.0.0.1:0", noSync: noSync}
	cat, _, err := loadCatalog(f)
	if err != nil {
		return nil, err
	}
	return start(ctx, f, o, cat, newLogger(log, o.LogLevel))
}

// mqttAddr is the embedded broker's address for the start log, "off" when it does not run.
func mqttAddr(b *broker.Broker) string {
	if b == nil {
		return "off"
	}
	return b.Addr()
}

func (a *app) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error().Err(err).Str("listener", name).Msg("listener stopped")
	}
}

// newSwitches builds the kill switches from the vendors' options and any stored state (p may be
// nil: nothing is stored then).
func newSwitches(vendors pipeline.Vendors, stored map[string][]byte, p killswitch.Persister) *killswitch.Switches {
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

// purgeLoop purges replay and audit records past retention, at start and then hourly.
func (a *app) purgeLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		a.purge(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retention returns a vendor's retention: its policy's, else the options'.
func (a *app) retention(vendor string) time.Duration {
	days := a.opts.RetentionDays
	if v, ok := a.vendors[vendor]; ok && v.Policy.RetentionDays > 0 {
		days = v.Policy.RetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

func (a *app) purge(now time.Time) {
	if a.audit != nil {
		a.purgeAudit(now)
	}
	latest := now.Add(-a.retention(""))
	for name := range a.vendors {
		if c := now.Add(-a.retention(name)); c.After(latest) {
			latest = c
		}
	}
	byAge, byCap, err := a.store.PurgeSeen(func(v string) time.Time { return now.Add(-a.retention(v)) }, latest)
	if err != nil {
		a.log.Error().Err(err).Msg("purge replay records")
		return
	}
	if byAge+byCap > 0 {
		a.log.Info().Int("expired", byAge).Int("evicted", byCap).Msg("purged replay records")
	}
}

// stop shuts everything down in order: stop taking webhooks and finish those in flight, then the
// admin listener, the broker and the store.
func (a *app) stop(ctx context.Context) error {
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
	if a.cancel != nil {
		a.cancel()
	}
	if a.purgeDone != nil {
		<-a.purgeDone
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if a.uplink != nil {
		a.uplink.Close()
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
