package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/relay"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// Offboarding disengages from a vendor: its webhooks are refused from then on (the kill switch,
// retired: no incident), and what Hookbridge holds of it is deleted: its retained and queued
// messages on the embedded broker (topics under {topic_prefix}/{vendor}/), what the relay still
// holds for Home Assistant's broker, its Home Assistant entities (Hookbridge's per-vendor ones and
// those its routes declare), its replay records, what is known of its secrets and last events, and
// what learn mode recorded. One audit record says what was removed, with counts; the store keeps
// the same report, so that a restart announces nothing of the vendor again while it stays in the
// options. Turning it on again (enable, or its option) takes it on anew.

// OffboardedReason is the kill switch's reason for an offboarded vendor.
const OffboardedReason = "offboarded"

// WhatOffboarded is the audit record's what.
const WhatOffboarded = "offboarded"

// ErrNotConfigured reports a vendor the options do not configure.
var ErrNotConfigured = errors.New("vendor not configured")

// offboarded holds the vendors offboarded and not taken on again, with their reports.
type offboarded struct {
	st  *store.Store
	log zerolog.Logger
	mu  sync.Mutex // guards m
	m   map[string]*admin.Offboarding
	run sync.Mutex // one offboarding at a time
}

// loadOffboarded reads the vendors offboarded. One the options turned on since (a person took it
// on again) is forgotten.
func loadOffboarded(st *store.Store, sw *killswitch.Switches, log zerolog.Logger) (*offboarded, error) {
	ob := &offboarded{st: st, log: log.With().Str("component", "offboard").Logger(), m: map[string]*admin.Offboarding{}}
	recs, err := decodeOffboarded(st)
	if err != nil {
		return nil, fmt.Errorf("read the offboarded vendors: %w", err)
	}
	for name, rep := range recs {
		if rep == nil {
			rep = &admin.Offboarding{Vendor: name}
		}
		if state, ok := sw.Get(name); ok && state.Mode == killswitch.Enabled {
			ob.takenOnLocked(name)
			continue
		}
		ob.m[name] = rep
		if _, ok := sw.Get(name); ok {
			ob.log.Warn().Str("vendor", name).Msg("this vendor was offboarded and is still in the options: nothing of it is announced; remove it from the options, or enable it to take it on again")
		}
	}
	return ob, nil
}

// decodeOffboarded reads the offboarding reports the store keeps, by vendor; an unreadable one
// is nil, for the caller to decide.
func decodeOffboarded(st *store.Store) (map[string]*admin.Offboarding, error) {
	recs, err := st.Offboarded()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*admin.Offboarding, len(recs))
	for name, data := range recs {
		var rep admin.Offboarding
		if json.Unmarshal(data, &rep) != nil {
			out[name] = nil
			continue
		}
		out[name] = &rep
	}
	return out, nil
}

// names returns the offboarded vendors.
func (ob *offboarded) names() map[string]bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	out := map[string]bool{}
	for name := range ob.m {
		out[name] = true
	}
	return out
}

// get returns a vendor's report, nil when it is not offboarded.
func (ob *offboarded) get(name string) *admin.Offboarding {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.m[name]
}

// takenOn forgets that a vendor was offboarded: it was turned on again.
func (ob *offboarded) takenOn(name string) {
	if ob == nil {
		return
	}
	ob.mu.Lock()
	_, was := ob.m[name]
	delete(ob.m, name)
	ob.mu.Unlock()
	if was {
		ob.takenOnLocked(name)
	}
}

func (ob *offboarded) takenOnLocked(name string) {
	if err := ob.st.DeleteOffboarded(name); err != nil {
		ob.log.Error().Err(err).Str("vendor", name).Msg("could not forget that the vendor was offboarded")
		return
	}
	ob.log.Info().Str("vendor", name).Msg("an offboarded vendor was turned on again: it is taken on anew (its Home Assistant entities return at the next start)")
}

// lifecycleView is what the admin listener (or the offline inventory) shows of the vendors'
// lifecycle: the tracker's, and the offboardings.
type lifecycleView struct {
	t  *tracker
	ob *offboarded
}

var _ admin.Lifecycle = lifecycleView{}

func (l lifecycleView) Secrets(v string) []admin.SecretInfo    { return l.t.Secrets(v) }
func (l lifecycleView) Activity(v string) *admin.Activity      { return l.t.Activity(v) }
func (l lifecycleView) Offboarded(v string) *admin.Offboarding { return l.ob.get(v) }

// switchOpen returns the tracker's open: whether a vendor's webhooks are taken (its kill
// switch), and since when.
func switchOpen(sw *killswitch.Switches) func(vendor string) (bool, time.Time) {
	return func(vendor string) (bool, time.Time) {
		st, ok := sw.Get(vendor)
		return ok && st.Mode == killswitch.Enabled, st.Since
	}
}

// Offboard offboards a configured vendor on behalf of by (killswitch.ByAPI, ...), and returns
// what it removed. Each step is done even when one before failed, and doing it again finishes
// what failed; the error joins the failures.
func (a *App) Offboard(name, by string) (*admin.Offboarding, error) {
	if _, ok := a.vendors[name]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotConfigured, name)
	}
	a.offboard.run.Lock()
	defer a.offboard.run.Unlock()
	x := newOffboarding(name, by)
	// Refused from now on; and nothing of it saved again by the lifecycle or learn mode.
	x.step("kill switch", a.switches.Retire(name, by, OffboardedReason))
	a.tracker.retire(name)
	a.learning.forget(name)

	prefix := a.opts.TopicPrefix + "/" + name + "/"
	if a.broker != nil {
		r, q, err := a.broker.Forget(prefix)
		x.rep.Removed["retained_messages"], x.rep.Removed["queued_messages"] = r, q
		x.step("broker", err)
	} else {
		x.rep.Notes = append(x.rep.Notes, "events go to the "+a.opts.Broker+" broker: the messages it keeps under "+prefix+"# are its own to delete")
	}
	routes := a.store.DeleteEntityTopics
	if a.ents != nil {
		routes = a.ents.RemoveVendor
	}
	x.forgetStored(a.store, prefix, routes)
	if a.disc != nil {
		x.rep.Removed["hookbridge_entities"] = a.disc.RemoveVendor(name)
	}
	return x.rep, errors.Join(append(x.errs, a.offboard.record(x.rep, a.trail))...)
}

// offboarding is one offboarding under way: its report, and the failures of its steps.
type offboarding struct {
	rep  *admin.Offboarding
	errs []error
}

func newOffboarding(name, by string) *offboarding {
	return &offboarding{rep: &admin.Offboarding{Vendor: name, At: time.Now().UTC(), By: by, Removed: map[string]int{}}}
}

// step records a step's failure, if any.
func (x *offboarding) step(what string, err error) {
	if err != nil {
		x.errs = append(x.errs, fmt.Errorf("%s: %w", what, err))
	}
}

// forgetStored does the steps a running bridge and the CLI both take: it forgets what the relay
// holds under prefix, removes the route entities (routes: the running announcer's, or the
// store's records), and deletes the vendor's records in the store.
func (x *offboarding) forgetStored(st *store.Store, prefix string, routes func(vendor string) (int, error)) {
	keys, err := relay.ForgetStored(st, relay.DefaultQueue, prefix)
	x.rep.Removed["relay_messages"] = len(keys)
	x.step("relay", err)
	n, err := routes(x.rep.Vendor)
	x.rep.Removed["route_devices"] = n
	x.step("route entities", err)
	f, err := st.ForgetVendor(x.rep.Vendor)
	addForgotten(x.rep, f)
	x.step("store", err)
}

// addForgotten adds the store's counts to a report.
func addForgotten(rep *admin.Offboarding, f store.Forgotten) {
	rep.Removed["replay_records"] = f.Replay
	rep.Removed["secret_records"] = f.Secrets
	rep.Removed["activity_records"] = f.Activity
	rep.Removed["learnt_structures"] = f.Learnt
}

// record keeps the report (store) and writes the one audit record saying what was removed.
func (ob *offboarded) record(rep *admin.Offboarding, trail *audit.Log) error {
	data, _ := json.Marshal(rep)
	var errs []error
	if err := ob.st.PutOffboarded(rep.Vendor, data); err != nil {
		errs = append(errs, fmt.Errorf("record the offboarding: %w", err))
	}
	ob.mu.Lock()
	ob.m[rep.Vendor] = rep
	ob.mu.Unlock()
	if trail != nil {
		err := trail.Note(audit.Action{Time: rep.At, Kind: audit.KindAdmin, Vendor: rep.Vendor, By: rep.By, What: WhatOffboarded,
			Detail: removedText(rep)})
		if err != nil {
			errs = append(errs, fmt.Errorf("audit record: %w", err))
		}
	}
	ob.log.Info().Str("vendor", rep.Vendor).Str("by", rep.By).Str("removed", removedText(rep)).Msg("vendor offboarded")
	return errors.Join(errs...)
}

// removedText says what a report removed: "removed 2 retained_messages, 0 queued_messages, ...",
// in a fixed order.
func removedText(rep *admin.Offboarding) string {
	keys := make([]string, 0, len(rep.Removed))
	for k := range rep.Removed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", rep.Removed[k], k))
	}
	return "removed " + strings.Join(parts, ", ")
}

// OfflineOffboard offboards a vendor while the bridge is stopped (`hookbridge offboard`): the
// same deletions in the state file, on behalf of killswitch.ByCLI. The Home Assistant entities'
// retained configs are cleared by the next start, which announces nothing of an offboarded vendor.
// A running bridge holds the state file's lock: ask its admin API instead.
func OfflineOffboard(o *options.Options, dataDir, name string) (*admin.Offboarding, error) {
	found := false
	for _, v := range o.Vendors {
		found = found || v.Name == name
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNotConfigured, name)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "hookbridge.db")); err != nil {
		return nil, fmt.Errorf("no state file in %s: %w", dataDir, err)
	}
	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	cfgs, err := o.VendorConfigs()
	if err != nil {
		return nil, err
	}
	// The kill switch as a start would build it, with the stored states.
	stored, err := st.States()
	if err != nil {
		return nil, err
	}
	on, can := map[string]bool{}, map[string]bool{}
	for _, c := range cfgs {
		on[c.Name], can[c.Name] = c.Enabled, len(c.Secrets) > 0
	}
	sw := killswitch.New(on, can, stored, st)
	x := newOffboarding(name, killswitch.ByCLI)
	x.step("kill switch", sw.Retire(name, killswitch.ByCLI, OffboardedReason))
	prefix := o.TopicPrefix + "/" + name + "/"
	if o.Broker == options.BrokerEmbedded {
		r, q, err := st.ForgetTopics(prefix)
		x.rep.Removed["retained_messages"], x.rep.Removed["queued_messages"] = r, q
		x.step("broker", err)
	} else {
		x.rep.Notes = append(x.rep.Notes, "events go to the "+o.Broker+" broker: the messages it keeps under "+prefix+"# are its own to delete")
	}
	x.forgetStored(st, prefix, st.DeleteEntityTopics)
	if o.HAMQTT != options.HAMQTTOff {
		x.rep.Notes = append(x.rep.Notes, "the vendor's Home Assistant entities are removed at the next start")
	}

	keys, _, err := audit.LoadOrCreateKeys(dataDir)
	var trail *audit.Log
	if err == nil {
		trail, err = audit.OpenLog(filepath.Join(dataDir, "audit"), keys)
	}
	x.step("audit trail", err)
	ob := &offboarded{st: st, log: zerolog.Nop(), m: map[string]*admin.Offboarding{}}
	x.errs = append(x.errs, ob.record(x.rep, trail))
	if trail != nil {
		x.step("audit trail", trail.Close())
	}
	return x.rep, errors.Join(x.errs...)
}

// audience returns who can read the published topics, as this start resolved ha_mqtt and
// bridge_topics.
func audience(o *options.Options, plan hamqtt.Plan) admin.Audience {
	aud := admin.Audience{Broker: o.Broker, HA: string(plan.HA), Bridged: plan.Filters}
	for _, acc := range accounts(o) {
		aud.Accounts = append(aud.Accounts, admin.Account{Name: acc.Username, Read: acc.Read})
	}
	return aud
}

// offlineAudience is audience from the options alone: ha_mqtt auto with the embedded broker stays
// unresolved (it depends on what the Supervisor offers at start).
func offlineAudience(o *options.Options) admin.Audience {
	p := hamqtt.Plan{HA: hamqtt.Target(o.HAMQTT)}
	switch {
	case o.Broker != options.BrokerEmbedded && (o.HAMQTT == options.HAMQTTAuto || (o.HAMQTT == options.HAMQTTSupervisor && o.Broker == options.BrokerSupervisor)):
		p.HA = hamqtt.Events
	case o.Broker == options.BrokerEmbedded:
		for _, f := range o.BridgeTopics {
			p.Filters = append(p.Filters, o.TopicPrefix+"/"+f)
		}
	}
	aud := audience(o, p)
	if o.Broker == options.BrokerEmbedded && o.HAMQTT == options.HAMQTTAuto {
		aud.HA = admin.AudienceHAAuto
	}
	return aud
}
