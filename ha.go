package main

import (
	"context"
	"sort"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
)

// startHA starts the Home Assistant side: the status page on the admin listener, and, unless
// ha_mqtt is off, MQTT discovery with availability, the entities' states and the kill-switch
// command topics. It runs after the receiver is built and before the admin listener serves.
//
// Availability: Online is published, retained, once the configs are out, and Offline, retained, at
// a clean stop. On the embedded broker a crash takes the broker down with the process, so Home
// Assistant, connected to it, sees its connection drop; a connection to an outside broker sets
// Offline as its will (discovery.AvailabilityTopic).
func (a *app) startHA(_ context.Context, _ *flags, adm *admin.Admin) error {
	adm.AddStatusPage()
	if a.ha == nil {
		return nil
	}
	vendors := make([]discovery.Vendor, 0, len(a.vendors))
	for name, v := range a.vendors {
		dv := discovery.Vendor{Name: name}
		if v.Policy != nil {
			dv.Title = v.Policy.Title
		}
		vendors = append(vendors, dv)
	}
	sort.Slice(vendors, func(i, j int) bool { return vendors[i].Name < vendors[j].Name })
	d, err := discovery.New(discovery.Config{
		Conn:     a.ha,
		Prefix:   a.opts.TopicPrefix,
		Version:  version,
		Vendors:  vendors,
		Switches: a.switches,
		Counters: a.stats,
		Log:      a.log.With().Str("component", "discovery").Logger(),
	})
	if err != nil {
		return err
	}
	// Registered before Start, so a failed start is still closed by stop.
	a.closers = append(a.closers, d.Close)
	return d.Start()
}
