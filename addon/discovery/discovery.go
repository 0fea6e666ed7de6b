// Package discovery is Hookbridge's side of Home Assistant MQTT discovery: one "Hookbridge" device
// with, per vendor, a health binary sensor, accepted and rejected counters, the vendor's kill
// switch and mode, and problem sensors for a secret due for rotation and for silence, plus an
// event entity for alerts. It publishes the retained discovery configs and states, takes kill
// switch commands from Home Assistant, publishes again when Home Assistant announces itself, and
// removes the entities of vendors no longer configured or offboarded.
package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/stats"
)

// Conn is the MQTT connection the entities go over: the embedded broker or the home's broker.
type Conn interface {
	// Publish sends a message at QoS 1.
	Publish(topic string, payload []byte, retain bool) error
	// Subscribe calls fn for each message on topics matching filter, retained ones included.
	Subscribe(filter string, fn func(topic string, payload []byte)) error
}

// Switches are the kill switches, as discovery uses them.
type Switches interface {
	Get(vendor string) (killswitch.State, bool)
	Enable(vendor, by string) error
	Disable(vendor, by, reason string) error
	Watch(fn func(vendor string, s killswitch.State))
}

// Counters are the per-vendor outcome counters, as discovery uses them.
type Counters interface {
	Get(vendor string) (stats.Vendor, bool)
	Watch(fn func(vendor string, v stats.Vendor))
}

// Lifecycle is what is known of each vendor's lifecycle, as discovery shows it: a secret due
// for rotation, silence.
type Lifecycle interface {
	Problems(vendor string) Problems
	// WatchProblems registers fn to be called after a vendor's problems changed.
	WatchProblems(fn func(vendor string))
}

// Problems are a vendor's lifecycle problems, in its status payload.
type Problems struct {
	// RotationDue reports that the vendor's newest secret is older than its policy's
	// rotate_after; SecretAgeDays is that secret's age in whole days (nil without a secret).
	RotationDue   bool `json:"rotation_due"`
	SecretAgeDays *int `json:"secret_age_days"`
	// Silent reports that the vendor had no event accepted for its policy's expect_every, since
	// SilentSince (when it became overdue).
	Silent      bool       `json:"silent"`
	SilentSince *time.Time `json:"silent_since"`
	// LastAccepted is when an event of the vendor was last accepted, across restarts.
	LastAccepted *time.Time `json:"last_accepted"`
}

var (
	_ Switches = (*killswitch.Switches)(nil)
	_ Counters = (*stats.Stats)(nil)
)

// Config holds the announcer's dependencies.
type Config struct {
	Conn     Conn
	Prefix   string // the topic_prefix option
	Version  string
	Vendors  []Vendor
	Switches Switches
	Counters Counters
	// Routes are the entities routes declare, announced per topic; nil when there are none.
	Routes *RouteEntities
	// Lifecycle gives each vendor's problems for its status; nil: none are reported.
	Lifecycle Lifecycle
	Log       zerolog.Logger
	// StatusInterval is the least time between two publishes of the status topics, which change
	// with every webhook; 1s when zero. Kill switch states go out at once.
	StatusInterval time.Duration
	// RetryInterval is the wait before publishing again after a failed publish; 5s when zero.
	RetryInterval time.Duration
}

// ErrConfig reports a Config that cannot work.
var ErrConfig = errors.New("discovery: bad config")

// Discovery announces Hookbridge to Home Assistant and keeps the entities' states current. All
// publishing happens on one goroutine, so what the broker receives is ordered and a burst of
// changes is coalesced.
type Discovery struct {
	cfg    Config
	topics Topics
	modes  map[string]string // configured vendors' modes, "" for live

	mu sync.Mutex // guards the fields below
	// entities, vendors and own are what this run announces: its entities, their vendors and
	// their config topics. RemoveVendor takes a vendor out.
	entities    []Entity
	vendors     map[string]bool
	own         map[string]bool
	started     bool
	closed      bool
	announce    bool            // publish every config, state and availability
	switchDirty map[string]bool // vendors whose switch state is to be published
	statusDirty map[string]bool // vendors whose status is to be published
	commands    []command
	stale       map[string]bool // config topics of this node to clear
	cleared     map[string]bool // removed vendors whose state topics were cleared
	nextStatus  time.Time       // earliest next publish of the status topics

	wake chan struct{} // capacity 1: work is pending
	stop chan struct{}
	done chan struct{}
	now  func() time.Time
}

type command struct {
	vendor  string
	payload string
}

// New checks cfg and returns an announcer; Start starts it.
func New(cfg Config) (*Discovery, error) {
	if cfg.Conn == nil || cfg.Switches == nil || cfg.Counters == nil {
		return nil, fmt.Errorf("%w: Conn, Switches and Counters are required", ErrConfig)
	}
	if cfg.Prefix == "" || strings.ContainsAny(cfg.Prefix, "+#\x00") {
		return nil, fmt.Errorf("%w: topic prefix %q", ErrConfig, cfg.Prefix)
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	d := &Discovery{
		cfg:         cfg,
		topics:      NewTopics(cfg.Prefix),
		vendors:     map[string]bool{},
		modes:       map[string]string{},
		own:         map[string]bool{},
		switchDirty: map[string]bool{},
		statusDirty: map[string]bool{},
		stale:       map[string]bool{},
		cleared:     map[string]bool{},
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		now:         time.Now,
	}
	for _, v := range cfg.Vendors {
		if !validVendor(v.Name) {
			return nil, fmt.Errorf("%w: vendor name %q", ErrConfig, v.Name)
		}
		d.vendors[v.Name] = true
		d.modes[v.Name] = v.Mode
	}
	d.entities = Entities(d.topics, cfg.Version, cfg.Vendors)
	for _, e := range d.entities {
		d.own[d.topics.Config(e.Component, e.Object)] = true
	}
	return d, nil
}

// Topics returns the topic layout.
func (d *Discovery) Topics() Topics { return d.topics }

// Start clears stale retained kill switch commands, subscribes to the command topics, Home
// Assistant's status and this node's discovery configs, and makes the first announcement (configs,
// states, availability, removal of stale entities) before it returns; later changes are published
// by a goroutine that Close stops.
func (d *Discovery) Start() error {
	d.mu.Lock()
	if d.started || d.closed {
		d.mu.Unlock()
		return fmt.Errorf("%w: started twice", ErrConfig)
	}
	d.started = true
	d.mu.Unlock()
	// Until run starts, pending work only piles up. done is closed by run, or here if Start fails.
	running := false
	defer func() {
		if !running {
			close(d.done)
		}
	}()

	// A retained command (someone's `mosquitto_pub -r`) would otherwise be applied again at every
	// start, undoing what a person did since. Clearing comes before subscribing, so the broker
	// delivers no old command. A broker not reachable yet is no reason to stop: Home Assistant's
	// switch never retains its commands.
	for _, name := range d.vendorNames() {
		if err := d.cfg.Conn.Publish(d.topics.SwitchCommand(name), nil, true); err != nil {
			d.cfg.Log.Warn().Err(err).Msg("could not clear retained kill switch commands")
			break
		}
	}
	if err := d.cfg.Conn.Subscribe(d.topics.SwitchCommandFilter(), d.onCommand); err != nil {
		return fmt.Errorf("discovery: subscribe to kill switch commands: %w", err)
	}
	d.cfg.Switches.Watch(func(vendor string, _ killswitch.State) {
		d.mark(func() { d.switchDirty[vendor], d.statusDirty[vendor] = true, true })
	})
	d.cfg.Counters.Watch(func(vendor string, _ stats.Vendor) {
		d.mark(func() { d.statusDirty[vendor] = true })
	})
	if d.cfg.Routes != nil {
		d.cfg.Routes.setWake(func() { d.mark(func() {}) })
	}
	if d.cfg.Lifecycle != nil {
		d.cfg.Lifecycle.WatchProblems(func(vendor string) {
			d.mark(func() { d.statusDirty[vendor] = true })
		})
	}
	d.mark(func() { d.announce = true })
	if err := d.cfg.Conn.Subscribe(HAStatusTopic, d.onHAStatus); err != nil {
		return fmt.Errorf("discovery: subscribe to %s: %w", HAStatusTopic, err)
	}
	// On the embedded broker the retained configs arrive within Subscribe, so the first pass
	// below already removes what is stale.
	if err := d.cfg.Conn.Subscribe(d.topics.ConfigFilter(), d.onConfig); err != nil {
		return fmt.Errorf("discovery: subscribe to discovery configs: %w", err)
	}
	wait := d.work()
	running = true
	go d.run(wait)
	return nil
}

// Announce queues every config, state and availability to be published again, as when Home
// Assistant announces itself: for a connection to an outside broker to call when it reconnects.
func (d *Discovery) Announce() { d.mark(func() { d.announce = true }) }

// RemoveVendor stops announcing a vendor's entities and removes them from Home Assistant, for
// offboarding: their retained configs are cleared (empty), then the vendor's status and switch
// state topics, again until the broker took them. The entities its routes declare are
// RouteEntities.RemoveVendor's. It returns how many entities it removes; 0 for a vendor it does
// not announce.
func (d *Discovery) RemoveVendor(vendor string) int {
	n := 0
	d.mark(func() {
		if !d.vendors[vendor] {
			return
		}
		delete(d.vendors, vendor)
		kept := d.entities[:0:0]
		for _, e := range d.entities {
			if owner, _, ok := strings.Cut(e.Object, "_"); ok && owner == vendor {
				topic := d.topics.Config(e.Component, e.Object)
				delete(d.own, topic)
				d.stale[topic] = true
				n++
				continue
			}
			kept = append(kept, e)
		}
		d.entities = kept
		delete(d.switchDirty, vendor)
		delete(d.statusDirty, vendor)
	})
	if n > 0 {
		d.cfg.Log.Info().Str("vendor", vendor).Int("entities", n).Msg("removing the vendor's Hookbridge entities from Home Assistant")
	}
	return n
}

// vendorNames returns the vendors this run announces.
func (d *Discovery) vendorNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.vendors))
	for name := range d.vendors {
		out = append(out, name)
	}
	return out
}

// announces reports whether this run announces a vendor's entities.
func (d *Discovery) announces(vendor string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vendors[vendor]
}

// Close stops publishing and says Offline on the availability topic, retained.
func (d *Discovery) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	started := d.started
	d.mu.Unlock()
	if !started {
		return nil
	}
	close(d.stop)
	<-d.done
	if err := d.cfg.Conn.Publish(d.topics.Availability(), []byte(Offline), true); err != nil {
		return fmt.Errorf("discovery: publish offline: %w", err)
	}
	return nil
}

// mark records pending work under the lock and wakes the publisher.
func (d *Discovery) mark(f func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	f()
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Discovery) onCommand(topic string, payload []byte) {
	vendor, ok := d.topics.vendorOf(topic)
	if !ok || len(payload) == 0 { // an empty payload is a retained command being cleared
		return
	}
	d.mark(func() { d.commands = append(d.commands, command{vendor: vendor, payload: string(payload)}) })
}

func (d *Discovery) onHAStatus(_ string, payload []byte) {
	if string(payload) == Online {
		d.mark(func() { d.announce = true })
	}
}

// onConfig sees every retained discovery config of this node: one this run does not announce
// belongs to a removed vendor (or an entity dropped since), and is cleared. A route entity's config
// is this run's when its topic is known (the store's record of announced topics is read before
// Start); one without a record behind it is cleared too.
func (d *Discovery) onConfig(topic string, payload []byte) {
	d.mu.Lock()
	own := d.own[topic]
	d.mu.Unlock()
	if len(payload) == 0 || own {
		return
	}
	_, object, ok := d.topics.parseConfig(topic)
	if !ok || isRouteObject(object) && d.cfg.Routes != nil && d.cfg.Routes.Owns(topic) {
		return
	}
	d.mark(func() { d.stale[topic] = true })
}

// run is the publisher: it does pending work when woken, and again when a wait or retry is due.
// first is the wait the first pass, in Start, asked for.
func (d *Discovery) run(first time.Duration) {
	defer close(d.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	if first > 0 {
		timer.Reset(first)
	}
	for {
		select {
		case <-d.stop:
			timer.Stop()
			return
		case <-d.wake:
		case <-timer.C:
		}
		wait := d.work()
		timer.Stop()
		if wait > 0 {
			timer.Reset(wait)
		}
	}
}

// work does what is pending and returns how long to wait before looking again (0: until woken).
// Only one goroutine runs it at a time: Start's, then run's.
func (d *Discovery) work() time.Duration {
	d.mu.Lock()
	cmds := d.commands
	d.commands = nil
	d.mu.Unlock()
	for _, c := range cmds {
		d.apply(c)
	}

	d.mu.Lock()
	entities, vendors := d.entities, make([]string, 0, len(d.vendors))
	for name := range d.vendors {
		vendors = append(vendors, name)
	}
	announce := d.announce
	d.announce = false
	stale := d.stale
	d.stale = map[string]bool{}
	switches := d.switchDirty
	d.switchDirty = map[string]bool{}
	var statuses map[string]bool
	now := d.now()
	statusWait := time.Duration(0)
	if len(d.statusDirty) > 0 || announce {
		if announce || !now.Before(d.nextStatus) {
			statuses = d.statusDirty
			d.statusDirty = map[string]bool{}
			d.nextStatus = now.Add(d.cfg.StatusInterval)
		} else {
			statusWait = d.nextStatus.Sub(now)
		}
	}
	d.mu.Unlock()

	var failed bool
	pub := func(topic string, payload []byte, retain bool) bool {
		if err := d.cfg.Conn.Publish(topic, payload, retain); err != nil {
			if !failed {
				d.cfg.Log.Warn().Err(err).Str("topic", topic).Dur("retry_in", d.cfg.RetryInterval).
					Msg("Home Assistant topics: publish failed")
			}
			failed = true
			return false
		}
		return true
	}
	retry := func(f func()) {
		d.mu.Lock()
		f()
		d.mu.Unlock()
	}

	if announce {
		ok := true
		for _, e := range entities {
			ok = pub(d.topics.Config(e.Component, e.Object), configPayload(e), true) && ok
		}
		ok = pub(d.topics.Availability(), []byte(Online), true) && ok
		if !ok {
			retry(func() { d.announce = true })
		}
		if statuses == nil {
			statuses = map[string]bool{}
		}
		for _, name := range vendors {
			switches[name], statuses[name] = true, true
		}
	}
	for topic := range stale {
		if d.cfg.Routes != nil && d.cfg.Routes.Owns(topic) {
			continue // a route's device announced since it was found stale
		}
		if !pub(topic, nil, true) {
			retry(func() { d.stale[topic] = true })
			continue
		}
		if _, object, _ := d.topics.parseConfig(topic); isRouteObject(object) {
			d.cfg.Log.Info().Str("topic", topic).Msg("removed a Home Assistant entity that no route declares")
			continue
		}
		d.cfg.Log.Info().Str("topic", topic).Msg("removed the Home Assistant entity of a vendor no longer configured")
		d.clearVendor(topic, pub)
	}
	// Route entities after Hookbridge's own: their devices name the Hookbridge device as
	// via_device, which Home Assistant must know first.
	if d.cfg.Routes != nil && d.cfg.Routes.work(announce, pub) {
		failed = true
	}
	for name := range switches {
		st, ok := d.cfg.Switches.Get(name)
		if !ok || !d.announces(name) {
			continue
		}
		payload := Off
		if st.Mode == killswitch.Enabled {
			payload = On
		}
		if !pub(d.topics.SwitchState(name), []byte(payload), true) {
			retry(func() { d.switchDirty[name] = true })
		}
	}
	for name := range statuses {
		st, ok := d.cfg.Switches.Get(name)
		if !ok || !d.announces(name) {
			continue
		}
		c, _ := d.cfg.Counters.Get(name)
		status := NewStatus(name, st, c)
		if m := d.modes[name]; m != "" {
			status.VendorMode = m
		}
		if d.cfg.Lifecycle != nil {
			status.Problems = d.cfg.Lifecycle.Problems(name)
		}
		if !pub(d.topics.Status(name), status.payload(), true) {
			retry(func() { d.statusDirty[name] = true })
		}
	}
	if failed {
		return d.cfg.RetryInterval
	}
	return statusWait
}

// clearVendor clears the retained state topics of the removed vendor a stale config topic names.
func (d *Discovery) clearVendor(topic string, pub func(string, []byte, bool) bool) {
	_, object, _ := d.topics.parseConfig(topic)
	vendor, _, ok := strings.Cut(object, "_")
	if !ok || !validVendor(vendor) || d.announces(vendor) || d.cleared[vendor] {
		return
	}
	if pub(d.topics.Status(vendor), nil, true) && pub(d.topics.SwitchState(vendor), nil, true) {
		d.cleared[vendor] = true
	}
}

// apply carries out one kill switch command from Home Assistant. It can disable a vendor and enable
// a disabled one, never lift a quarantine. The switch state is published again in every case, so a
// refused command flips Home Assistant's switch back.
func (d *Discovery) apply(c command) {
	log := d.cfg.Log.With().Str("vendor", c.vendor).Str("by", killswitch.ByMQTT).Logger()
	if !d.announces(c.vendor) {
		log.Debug().Msg("kill switch command for a vendor not configured (or offboarded): ignored")
		return
	}
	var err error
	switch c.payload {
	case On:
		err = d.cfg.Switches.Enable(c.vendor, killswitch.ByMQTT)
	case Off:
		err = d.cfg.Switches.Disable(c.vendor, killswitch.ByMQTT, "turned off in Home Assistant")
	default:
		log.Warn().Msg("kill switch command is neither ON nor OFF: ignored")
		return
	}
	switch {
	case errors.Is(err, killswitch.ErrQuarantined):
		log.Warn().Msg("Home Assistant asked to enable a quarantined vendor: refused; a person lifts a quarantine on the status page or through the admin API")
	case err != nil:
		log.Warn().Err(err).Str("command", c.payload).Msg("kill switch command refused")
	default:
		log.Info().Str("command", c.payload).Msg("kill switch command from Home Assistant")
	}
	d.mu.Lock()
	d.switchDirty[c.vendor] = true
	d.mu.Unlock()
}

func configPayload(e Entity) []byte {
	b, err := json.Marshal(e.Config)
	if err != nil {
		panic(err) // the configs are built from strings, maps and bools
	}
	return b
}
