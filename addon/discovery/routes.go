package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// DefaultDeviceCap is how many Home Assistant devices (topics) one vendor's routes may announce
// when RouteEntitiesConfig.DeviceCap is zero. Past it, a route that fans out to ever new topics (a
// vendor inventing device ids) announces nothing more: the topics are counted, logged once a
// minute and alerted on the alerts topic.
const DefaultDeviceCap = 256

// maxRefused bounds the topics past a cap that are remembered, so that their messages cost a map
// lookup each; beyond it a refused topic is matched against the routes again, and still refused.
const maxRefused = 4096

// Cap reporting: a log line at most once a minute per vendor, an alert at most once an hour.
const (
	capLogEvery   = time.Minute
	capAlertEvery = time.Hour
)

// KindEntityCap is the kind of the alert raised when a vendor's routes reach the device cap.
const KindEntityCap = "entity_cap"

// RouteVendor is a configured vendor and its policy's routes, some of which declare entities.
type RouteVendor struct {
	Name   string
	Title  string // the policy's title; the name when empty
	Routes []policy.Route
}

// KnownTopics keeps the topics with announced entities across restarts (the store).
type KnownTopics interface {
	EntityTopics() ([]store.EntityTopic, error)
	PutEntityTopic(vendor, topic string, record []byte) error
	DeleteEntityTopic(vendor, topic string) error
}

var _ KnownTopics = (*store.Store)(nil)

// RouteEntitiesConfig is what NewRouteEntities needs.
type RouteEntitiesConfig struct {
	Prefix  string // the topic_prefix option
	Version string
	Vendors []RouteVendor
	Known   KnownTopics
	// DeviceCap is the most devices announced per vendor; DefaultDeviceCap when zero.
	DeviceCap int
	Log       zerolog.Logger
	// Now returns the time; time.Now when nil.
	Now func() time.Time
}

// RouteEntities announces the Home Assistant entities that routes declare: one Home Assistant device
// per topic a route publishes, with the route's entities reading its fields.
//
// Admit is the only part on the webhook path: a lookup in a map of known topics, and for a topic
// not seen before a match against the vendor's routes and a note for the announcer. Everything
// else (recording the topic durably, publishing the discovery configs, removing those of routes
// and vendors that are gone) happens on Discovery's publishing goroutine.
type RouteEntities struct {
	cfg     RouteEntitiesConfig
	topics  Topics
	vendors map[string]*entityVendor // vendors with entity routes; fixed after NewRouteEntities
	base    string                   // "{prefix}/"

	known    sync.Map // topic -> *device: admitted devices
	refused  sync.Map // topic -> *entityVendor: topics past their vendor's cap
	refusedN atomic.Int64

	// pass serializes a publishing pass (work) and RemoveVendor, so that a device being recorded
	// and announced is not removed half-way (its record would outlive the removal).
	pass sync.Mutex

	mu       sync.Mutex                    // guards the fields below
	devices  map[string]map[string]*device // vendor -> topic -> device
	configs  map[string]bool               // config topics of admitted devices, once built
	fresh    []*device                     // admitted, to be recorded and announced
	retry    map[*device]bool              // recorded; a config failed to publish
	removals []removal                     // configs to clear
	removed  map[string]bool               // vendors whose entities were removed at run time
	wake     func()                        // Discovery's; nil until it starts
}

// entityVendor is a vendor with routes that declare entities.
type entityVendor struct {
	name, title string
	routes      []*entityRoute

	refusedMsgs   atomic.Int64 // messages on topics past the cap
	refusedTopics atomic.Int64 // distinct topics past the cap, as far as they are remembered
	lastNote      atomic.Int64 // unix nanos of the last wake for a cap report
	// reported is the refused messages at the last log line, lastLog and lastAlert when the last
	// log line and alert went out; owned by the publishing goroutine.
	reported  int64
	lastLog   time.Time
	lastAlert time.Time
}

// entityRoute is a route with entities, compiled for matching topics.
type entityRoute struct {
	pattern  string   // the route's topic, as written
	levels   []string // its levels; "" for a placeholder
	when     string
	entities []policy.Entity
	keys     []string // each entity's policy.Route.EntityKey, for its unique id
}

// device is one topic with entities: one Home Assistant device.
type device struct {
	vendor *entityVendor
	topic  string
	routes []*entityRoute
	// configs are built by the publishing goroutine, once; owned by it.
	configs []Entity
}

// removal is a topic whose entities are to be removed.
type removal struct {
	vendor, topic string
	configs       []string // config topics to clear
	deleteRecord  bool     // delete the topic's record once they are cleared
	why           string   // for the log
}

// record is what the store keeps for a topic: the config topics announced for it.
type record struct {
	Configs []string `json:"configs"`
}

// NewRouteEntities compiles the vendors' entity routes. It reads nothing yet: Load does.
func NewRouteEntities(cfg RouteEntitiesConfig) (*RouteEntities, error) {
	if cfg.Known == nil {
		return nil, fmt.Errorf("%w: Known is required", ErrConfig)
	}
	if cfg.Prefix == "" || strings.ContainsAny(cfg.Prefix, "+#\x00") {
		return nil, fmt.Errorf("%w: topic prefix %q", ErrConfig, cfg.Prefix)
	}
	if cfg.DeviceCap <= 0 {
		cfg.DeviceCap = DefaultDeviceCap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &RouteEntities{
		cfg:     cfg,
		topics:  NewTopics(cfg.Prefix),
		vendors: map[string]*entityVendor{},
		base:    cfg.Prefix + "/",
		devices: map[string]map[string]*device{},
		configs: map[string]bool{},
		retry:   map[*device]bool{},
		removed: map[string]bool{},
	}
	for _, v := range cfg.Vendors {
		if !validVendor(v.Name) {
			return nil, fmt.Errorf("%w: vendor name %q", ErrConfig, v.Name)
		}
		ev := &entityVendor{name: v.Name, title: v.Title}
		if ev.title == "" {
			ev.title = v.Name
		}
		for _, r := range v.Routes {
			if len(r.Entities) == 0 {
				continue
			}
			er := &entityRoute{pattern: r.Topic, when: r.When, entities: r.Entities}
			for j := range r.Entities {
				er.keys = append(er.keys, r.EntityKey(j))
			}
			for _, l := range strings.Split(r.Topic, "/") {
				if _, ok := policy.Placeholder(l); ok {
					l = ""
				}
				er.levels = append(er.levels, l)
			}
			ev.routes = append(ev.routes, er)
		}
		if len(ev.routes) > 0 {
			e.vendors[v.Name] = ev
		}
	}
	return e, nil
}

// Any reports whether some configured vendor's routes declare entities.
func (e *RouteEntities) Any() bool { return len(e.vendors) > 0 }

// Filters returns an MQTT filter for each route with entities: the route's topic with a "+" for
// each placeholder. The bridge to Home Assistant's broker forwards what they match, when Admit
// says so.
func (e *RouteEntities) Filters() []string {
	var out []string
	for _, v := range e.sortedVendors() {
		for _, r := range v.routes {
			levels := make([]string, len(r.levels))
			for i, l := range r.levels {
				if l == "" {
					l = "+"
				}
				levels[i] = l
			}
			f := e.base + v.name + "/" + strings.Join(levels, "/")
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func (e *RouteEntities) sortedVendors() []*entityVendor {
	out := make([]*entityVendor, 0, len(e.vendors))
	for _, v := range e.vendors {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *entityVendor) int { return strings.Compare(a.name, b.name) })
	return out
}

// Load reads the known topics from the store: those a route still declares entities for are
// admitted (and announced again when Discovery starts); the configs of the others (a route, an
// entity or a vendor that is gone, or a changed topic prefix) are queued for removal. Call it once,
// before Discovery starts.
func (e *RouteEntities) Load() error {
	recs, err := e.cfg.Known.EntityTopics()
	if err != nil {
		return fmt.Errorf("discovery: read known entity topics: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	kept, removed := 0, 0
	for _, rec := range recs {
		var r record
		if err := json.Unmarshal(rec.Record, &r); err != nil {
			e.cfg.Log.Warn().Str("vendor", rec.Vendor).Msg("an unreadable known entity topic record: dropped")
			r = record{}
		}
		v, routes := e.routesFor(rec.Topic)
		why := ""
		switch {
		case v == nil || v.name != rec.Vendor:
			why = "the vendor is not configured, or its routes declare no entities"
		case len(routes) == 0:
			why = "no route declares entities for the topic"
		case len(e.devices[v.name]) >= e.cfg.DeviceCap:
			why = "past the device cap"
		}
		if why != "" {
			e.removals = append(e.removals, removal{vendor: rec.Vendor, topic: rec.Topic, configs: r.Configs, deleteRecord: true, why: why})
			removed++
			continue
		}
		d := &device{vendor: v, topic: rec.Topic, routes: routes}
		e.buildLocked(d)
		var want []string
		for _, c := range d.configs {
			want = append(want, e.topics.Config(c.Component, c.Object))
		}
		var gone []string
		for _, c := range r.Configs {
			if !slices.Contains(want, c) {
				gone = append(gone, c)
			}
		}
		if len(gone) > 0 {
			e.removals = append(e.removals, removal{vendor: rec.Vendor, topic: rec.Topic, configs: gone, why: "the route no longer declares them"})
		}
		e.admitLocked(d)
		if !slices.Equal(want, r.Configs) {
			e.fresh = append(e.fresh, d) // record the new set of configs
		}
		kept++
	}
	if kept+removed > 0 {
		e.cfg.Log.Info().Int("devices", kept).Int("removed", removed).Msg("Home Assistant devices of routes loaded")
	}
	return nil
}

// routesFor returns the vendor a topic is under and its routes with entities whose pattern the
// topic fits.
func (e *RouteEntities) routesFor(topic string) (*entityVendor, []*entityRoute) {
	rest, ok := strings.CutPrefix(topic, e.base)
	if !ok {
		return nil, nil
	}
	name, rest, ok := strings.Cut(rest, "/")
	v := e.vendors[name]
	if !ok || v == nil {
		return nil, nil
	}
	var out []*entityRoute
	for _, r := range v.routes {
		if r.matches(rest) {
			out = append(out, r)
		}
	}
	return v, out
}

// matches reports whether a topic under {prefix}/{vendor}/ fits the route's pattern, without
// allocating.
func (r *entityRoute) matches(rest string) bool {
	for i, l := range r.levels {
		end := strings.IndexByte(rest, '/')
		last := i == len(r.levels)-1
		if last != (end < 0) {
			return false
		}
		if last {
			end = len(rest)
		}
		level := rest[:end]
		if level == "" || l != "" && l != level {
			return false
		}
		if !last {
			rest = rest[end+1:]
		}
	}
	return true
}

// Admit is told of a topic a route published. It reports whether the topic's entities are
// announced (or about to be): the topic is known, or it is new, a route of its vendor declares
// entities for it and the vendor is under its device cap. A new topic is noted for the announcer.
// It is safe for concurrent use and costs a map lookup for a known topic.
func (e *RouteEntities) Admit(topic string) bool {
	if _, ok := e.known.Load(topic); ok {
		return true
	}
	if e.refusedN.Load() > 0 {
		if v, ok := e.refused.Load(topic); ok {
			e.refuse(v.(*entityVendor), false)
			return false
		}
	}
	return e.admitNew(topic)
}

// Observe admits the topics a webhook published (outcome.Observer).
func (e *RouteEntities) Observe(o *outcome.Outcome) {
	for _, t := range o.Topics {
		e.Admit(t)
	}
}

var _ outcome.Observer = (*RouteEntities)(nil)

func (e *RouteEntities) admitNew(topic string) bool {
	v, routes := e.routesFor(topic)
	if len(routes) == 0 {
		return false
	}
	e.mu.Lock()
	if _, ok := e.known.Load(topic); ok {
		e.mu.Unlock()
		return true
	}
	if e.removed[v.name] {
		e.mu.Unlock()
		return false
	}
	if len(e.devices[v.name]) >= e.cfg.DeviceCap {
		e.mu.Unlock()
		distinct := false
		if e.refusedN.Load() < maxRefused {
			if _, loaded := e.refused.LoadOrStore(topic, v); !loaded {
				e.refusedN.Add(1)
				distinct = true
			}
		}
		e.refuse(v, distinct)
		return false
	}
	d := &device{vendor: v, topic: topic, routes: routes}
	e.admitLocked(d)
	e.fresh = append(e.fresh, d)
	wake := e.wake
	e.mu.Unlock()
	if wake != nil {
		wake()
	}
	return true
}

// admitLocked makes d known; e.mu must be held.
func (e *RouteEntities) admitLocked(d *device) {
	m := e.devices[d.vendor.name]
	if m == nil {
		m = map[string]*device{}
		e.devices[d.vendor.name] = m
	}
	m[d.topic] = d
	e.known.Store(d.topic, d)
}

// refuse counts a message on a topic past its vendor's cap, and wakes the announcer when a report
// may be due.
func (e *RouteEntities) refuse(v *entityVendor, distinct bool) {
	// Topics before messages: a report that sees the message (reportCaps reads messages first)
	// sees its topic too.
	if distinct {
		v.refusedTopics.Add(1)
	}
	v.refusedMsgs.Add(1)
	now := e.cfg.Now().UnixNano()
	last := v.lastNote.Load()
	if now-last < int64(capLogEvery) || !v.lastNote.CompareAndSwap(last, now) {
		return
	}
	e.mu.Lock()
	wake := e.wake
	e.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// Owns reports whether a discovery config topic is one of an admitted device's.
func (e *RouteEntities) Owns(configTopic string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.configs[configTopic]
}

// RemoveVendor removes a vendor's entities, for offboarding: its topics' records are deleted at
// once (a restart will not announce them again) and its devices forgotten; the empty retained
// configs that remove them from Home Assistant are published by Discovery, again until its broker
// took them. Until the next start the vendor's topics are not admitted again. It returns how many
// devices were removed.
func (e *RouteEntities) RemoveVendor(vendor string) (int, error) {
	e.pass.Lock()
	defer e.pass.Unlock()
	e.mu.Lock()
	e.removed[vendor] = true
	devices := e.devices[vendor]
	delete(e.devices, vendor)
	var rms []removal
	for topic, d := range devices {
		e.known.Delete(topic)
		rm := removal{vendor: vendor, topic: topic, why: "the vendor's entities were removed"}
		for _, c := range d.configs {
			ct := e.topics.Config(c.Component, c.Object)
			delete(e.configs, ct)
			rm.configs = append(rm.configs, ct)
		}
		delete(e.retry, d)
		rms = append(rms, rm)
	}
	e.fresh = slices.DeleteFunc(e.fresh, func(d *device) bool { return d.vendor.name == vendor })
	e.mu.Unlock()

	// Built configs are known only for devices the announcer saw; the records know them all.
	recs, err := e.cfg.Known.EntityTopics()
	if err != nil {
		return 0, fmt.Errorf("discovery: remove %s's entities: %w", vendor, err)
	}
	var errs []error
	n := len(rms)
	for _, rec := range recs {
		if rec.Vendor != vendor {
			continue
		}
		var r record
		_ = json.Unmarshal(rec.Record, &r)
		i := slices.IndexFunc(rms, func(rm removal) bool { return rm.topic == rec.Topic })
		if i < 0 {
			rms = append(rms, removal{vendor: vendor, topic: rec.Topic, why: "the vendor's entities were removed"})
			i = len(rms) - 1
			n++
		}
		for _, c := range r.Configs {
			if !slices.Contains(rms[i].configs, c) {
				rms[i].configs = append(rms[i].configs, c)
			}
		}
		if err := e.cfg.Known.DeleteEntityTopic(vendor, rec.Topic); err != nil {
			errs = append(errs, err)
		}
	}
	e.mu.Lock()
	e.removals = append(e.removals, rms...)
	wake := e.wake
	e.mu.Unlock()
	if wake != nil {
		wake()
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("discovery: remove %s's entities: %w", vendor, err)
	}
	e.cfg.Log.Info().Str("vendor", vendor).Int("devices", n).Msg("Home Assistant entities of the vendor's routes removed")
	return n, nil
}

// setWake connects the announcer.
func (e *RouteEntities) setWake(fn func()) {
	e.mu.Lock()
	e.wake = fn
	e.mu.Unlock()
}

// Devices returns how many devices each vendor with entity routes has announced.
func (e *RouteEntities) Devices() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for name := range e.vendors {
		out[name] = len(e.devices[name])
	}
	return out
}

// work is the announcer's share of Discovery's publishing pass: removals, new devices (recorded,
// then announced), every device again when announce is set, and the cap reports. It reports
// whether something failed and must be tried again.
func (e *RouteEntities) work(announce bool, pub func(string, []byte, bool) bool) (failed bool) {
	e.pass.Lock()
	defer e.pass.Unlock()
	e.mu.Lock()
	removals, fresh, retry := e.removals, e.fresh, e.retry
	e.removals, e.fresh, e.retry = nil, nil, map[*device]bool{}
	var all []*device
	if announce {
		for _, m := range e.devices {
			for _, d := range m {
				all = append(all, d)
			}
		}
	}
	e.mu.Unlock()
	later := func(f func()) {
		failed = true
		e.mu.Lock()
		f()
		e.mu.Unlock()
	}

	for _, rm := range removals {
		ok := true
		for _, c := range rm.configs {
			ok = pub(c, nil, true) && ok
		}
		if ok && rm.deleteRecord {
			if err := e.cfg.Known.DeleteEntityTopic(rm.vendor, rm.topic); err != nil {
				e.cfg.Log.Warn().Err(err).Str("vendor", rm.vendor).Msg("could not forget a removed entity topic")
				ok = false
			}
		}
		if !ok {
			later(func() { e.removals = append(e.removals, rm) })
			continue
		}
		e.cfg.Log.Info().Str("vendor", rm.vendor).Int("entities", len(rm.configs)).Str("reason", rm.why).Msg("removed Home Assistant entities")
	}

	for _, d := range fresh {
		if !e.isAdmitted(d) {
			continue // removed meanwhile
		}
		e.build(d)
		var rec record
		for _, c := range d.configs {
			rec.Configs = append(rec.Configs, e.topics.Config(c.Component, c.Object))
		}
		data, _ := json.Marshal(rec)
		// Recorded before announced: a config on the broker always has a record behind it, so a
		// restart can remove it.
		if err := e.cfg.Known.PutEntityTopic(d.vendor.name, d.topic, data); err != nil {
			e.cfg.Log.Warn().Err(err).Str("vendor", d.vendor.name).Msg("could not record an entity topic; trying again")
			later(func() { e.fresh = append(e.fresh, d) })
			continue
		}
		if !e.announce(d, pub) {
			later(func() { e.retry[d] = true })
			continue
		}
		e.cfg.Log.Info().Str("vendor", d.vendor.name).Int("entities", len(d.configs)).Str("device", d.id()).
			Msg("announced a Home Assistant device for a route's topic")
	}
	for d := range retry {
		all = append(all, d)
	}
	done := map[*device]bool{}
	for _, d := range fresh {
		done[d] = true // announced above, or to be tried again
	}
	for _, d := range all {
		if done[d] || !e.isAdmitted(d) {
			continue
		}
		done[d] = true
		e.build(d)
		if !e.announce(d, pub) {
			later(func() { e.retry[d] = true })
		}
	}
	e.reportCaps(pub)
	return failed
}

func (e *RouteEntities) isAdmitted(d *device) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.devices[d.vendor.name][d.topic] == d
}

// announce publishes a device's configs, retained.
func (e *RouteEntities) announce(d *device, pub func(string, []byte, bool) bool) bool {
	ok := true
	for _, c := range d.configs {
		ok = pub(e.topics.Config(c.Component, c.Object), configPayload(c), true) && ok
	}
	return ok
}

// build makes a device's configs once and registers their topics.
func (e *RouteEntities) build(d *device) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buildLocked(d)
}

func (e *RouteEntities) buildLocked(d *device) {
	if d.configs != nil {
		return
	}
	d.configs = routeEntities(e.topics, e.cfg.Version, d)
	for _, c := range d.configs {
		e.configs[e.topics.Config(c.Component, c.Object)] = true
	}
}

// reportCaps logs, at most once a minute per vendor, the topics refused past the device cap, and
// publishes an alert at most once an hour.
func (e *RouteEntities) reportCaps(pub func(string, []byte, bool) bool) {
	now := e.cfg.Now()
	for _, v := range e.vendors {
		msgs := v.refusedMsgs.Load()
		if msgs == v.reported || now.Sub(v.lastLog) < capLogEvery {
			continue
		}
		topics := v.refusedTopics.Load()
		e.cfg.Log.Warn().Str("vendor", v.name).Int("cap", e.cfg.DeviceCap).Int64("refused_topics", topics).
			Int64("refused_messages", msgs).
			Msg("the vendor's routes reached the cap on Home Assistant devices: topics past it are not announced")
		v.reported, v.lastLog = msgs, now
		if !v.lastAlert.IsZero() && now.Sub(v.lastAlert) < capAlertEvery {
			continue
		}
		// The shape of an anomaly alert, so that the alerts event entity shows it.
		alert, _ := json.Marshal(map[string]any{
			"vendor": v.name, "kind": KindEntityCap, "action": "alert", "event_type": "alert",
			"count": topics, "threshold": e.cfg.DeviceCap, "time": now.UTC(),
		})
		if pub(e.topics.Alerts(), alert, false) {
			v.lastAlert = now
		}
	}
}

// Collector returns the entities' metrics: hookbridge_ha_devices{vendor} (devices announced) and
// hookbridge_ha_devices_refused_total{vendor} (messages on topics past the device cap).
func (e *RouteEntities) Collector() prometheus.Collector { return entitiesCollector{e} }

var (
	devicesDesc = prometheus.NewDesc("hookbridge_ha_devices", "Home Assistant devices announced for routes' topics.", []string{"vendor"}, nil)
	refusedDesc = prometheus.NewDesc("hookbridge_ha_devices_refused_total", "Messages on topics not announced because their vendor reached the device cap.", []string{"vendor"}, nil)
)

type entitiesCollector struct{ e *RouteEntities }

func (c entitiesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- devicesDesc
	ch <- refusedDesc
}

func (c entitiesCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.e.Devices() {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(n), name)
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(c.e.vendors[name].refusedMsgs.Load()), name)
	}
}

// routeObjectRE matches the object ids of route entities: "{vendor}_r" and 16 hex digits. The
// kinds of a vendor's own entities (health, accepted, ...) never look like that.
var routeObjectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*_r[0-9a-f]{16}$`)

// isRouteObject reports whether a discovery object id is a route entity's.
func isRouteObject(object string) bool { return routeObjectRE.MatchString(object) }

// hash returns 16 hex digits of SHA-256 over parts: ids that are stable, fit Home Assistant's
// [a-zA-Z0-9_-] and never show the topic, even when a topic level is a clear value. A device's id
// hashes its topic; an entity's object id (and unique id) the topic, the route's topic pattern and
// the entity's policy.Route.EntityKey (component, field, and name when two share both).
func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// id is the device's short id, shown in its name.
func (d *device) id() string { return hash("device", d.topic)[:6] }

// availabilityTemplate turns a vendor's status into availability: online while the vendor is
// enabled, offline when it is disabled or quarantined.
const availabilityTemplate = "{{ 'online' if value_json.mode == 'enabled' else 'offline' }}"

// routeEntities builds the discovery configs of a device: each entity of each route on its topic.
func routeEntities(t Topics, version string, d *device) []Entity {
	v := d.vendor
	first := d.routes[0]
	var label []string
	placeholder := false
	for _, l := range first.levels {
		if l == "" {
			placeholder = true
			continue
		}
		label = append(label, l)
	}
	name := v.title + " " + strings.Join(label, " ")
	if placeholder {
		name += " " + d.id()
	}
	dev := map[string]any{
		"identifiers":  []string{t.Node + "_" + v.name + "_d" + hash("device", d.topic)},
		"name":         name,
		"manufacturer": v.title,
		"model":        first.pattern,
		"via_device":   t.Node,
	}
	origin := map[string]any{"name": "Hookbridge", "sw_version": version, "support_url": supportURL}
	availability := []map[string]any{
		{"topic": t.Availability(), "payload_available": Online, "payload_not_available": Offline},
		{"topic": t.Status(v.name), "value_template": availabilityTemplate, "payload_available": Online, "payload_not_available": Offline},
	}
	var out []Entity
	for _, r := range d.routes {
		for j, pe := range r.entities {
			object := v.name + "_r" + hash("entity", d.topic, r.pattern, r.keys[j])
			c := map[string]any{
				"unique_id":         t.Node + "_" + object,
				"name":              entityName(pe),
				"device":            dev,
				"origin":            origin,
				"availability":      availability,
				"availability_mode": "all",
				"qos":               1,
			}
			if pe.Icon != "" {
				c["icon"] = pe.Icon
			}
			if pe.DeviceClass != "" {
				c["device_class"] = pe.DeviceClass
			}
			entityConfig(c, pe, r, d.topic)
			out = append(out, Entity{Component: pe.Component, Object: object, Config: c})
		}
	}
	return out
}

// entityConfig adds the component's keys: where the state comes from and how it reads the field.
// Field names are [A-Za-z_][A-Za-z0-9_]* and the literals of on, off and event_types hold no quote
// or brace (policy checks both), so quoting them in single quotes is safe. Every template reads a
// field with value_json['name'] (a field named like a dict method, such as items, stays a key)
// and renders nothing when the message leaves the field out, which Home Assistant ignores.
func entityConfig(c map[string]any, pe policy.Entity, r *entityRoute, topic string) {
	has := func(f string) string { return "'" + f + "' in value_json" }
	get := func(f string) string { return "value_json['" + f + "']" }
	guard := func(f, body string) string { return "{% if " + has(f) + " %}" + body + "{% endif %}" }
	// A field the sender sent as null renders Home Assistant's "None", which a numeric sensor and
	// a binary sensor take as unknown. Other sensors would show it as text, or (an enum) refuse
	// it: for them null renders nothing, which leaves the state as it was.
	orNone := func(f, body string) string {
		return "{% if " + get(f) + " is none %}None{% else %}" + body + "{% endif %}"
	}
	switch pe.Component {
	case policy.ComponentSensor:
		c["state_topic"] = topic
		body := "{{ " + get(pe.Field) + " }}"
		if len(pe.Options) > 0 || (pe.Unit == "" && pe.StateClass == "" && !policy.NumericSensorClass(pe.DeviceClass)) {
			body = "{% if " + get(pe.Field) + " is not none %}" + body + "{% endif %}"
		}
		c["value_template"] = guard(pe.Field, body)
		if pe.Unit != "" {
			c["unit_of_measurement"] = pe.Unit
		}
		if pe.StateClass != "" {
			c["state_class"] = pe.StateClass
		}
		if len(pe.Options) > 0 {
			c["options"] = pe.Options
		}
	case policy.ComponentBinarySensor:
		c["state_topic"] = topic
		if len(pe.On) == 0 {
			// A JSON boolean renders as Python's True/False; tojson gives true/false, and any
			// other value matches neither payload and is ignored.
			c["value_template"] = guard(pe.Field, orNone(pe.Field, "{{ "+get(pe.Field)+" | tojson }}"))
			c["payload_on"], c["payload_off"] = "true", "false"
			break
		}
		v := "(" + get(pe.Field) + " | string)"
		body := "{{ 'ON' if " + v + " in " + literals(pe.On) + " else 'OFF' }}"
		if len(pe.Off) > 0 {
			body = "{% if " + v + " in " + literals(pe.On) + " %}ON{% elif " + v + " in " + literals(pe.Off) + " %}OFF{% endif %}"
		}
		c["value_template"] = guard(pe.Field, orNone(pe.Field, body))
		c["payload_on"], c["payload_off"] = On, Off
	case policy.ComponentEvent:
		// Home Assistant wants a JSON object with event_type; the route's fields become the
		// event's attributes. It ignores retained messages, so an event never fires twice.
		c["state_topic"] = topic
		if r.when == "*" {
			v := "(" + get(pe.Field) + " | string)"
			c["value_template"] = "{% if " + has(pe.Field) + " and " + v + " in " + literals(pe.EventTypes) + " %}" +
				"{{ dict(value_json, event_type=" + v + ") | tojson }}{% endif %}"
			c["event_types"] = pe.EventTypes
			break
		}
		typ := r.when
		if len(pe.EventTypes) > 0 {
			typ = pe.EventTypes[0]
		}
		c["value_template"] = guard(pe.Field, "{{ dict(value_json, event_type='"+typ+"') | tojson }}")
		c["event_types"] = []string{typ}
	case policy.ComponentDeviceTracker:
		// The current way (no state_topic, deprecated until 2027.1): the position as attributes,
		// with the route's other fields beside it.
		pos := "latitude=" + get(pe.Latitude) + ", longitude=" + get(pe.Longitude)
		if pe.GPSAccuracy != "" {
			pos += ", gps_accuracy=(" + get(pe.GPSAccuracy) + " if " + has(pe.GPSAccuracy) + " else 0)"
		}
		c["json_attributes_topic"] = topic
		c["json_attributes_template"] = "{{ dict(value_json, " + pos + ") | tojson }}"
		c["source_type"] = "gps"
	}
}

// literals writes values as a Jinja list of single-quoted strings.
func literals(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "'" + v + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// entityName is the entity's name: the policy's, else the field's in words ("price_eur_kwh" is
// "Price eur kwh"), and "Location" for a tracker. Home Assistant shows it after the device's name.
func entityName(pe policy.Entity) string {
	if pe.Name != "" {
		return pe.Name
	}
	if pe.Component == policy.ComponentDeviceTracker {
		return "Location"
	}
	s := strings.TrimSpace(strings.ReplaceAll(pe.Field, "_", " "))
	if s == "" {
		return pe.Field
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
