package main

import (
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
func (a *app) startHA(adm *admin.Admin) error {
	adm.AddStatusPage()
	if a.ha == nil {
		return nil
	}
	vendors := make([]discovery.Vendor, 0, len(a.vendors))
	for _, name := range a.names {
		dv := discovery.Vendor{Name: name}
		if v := a.vendors[name]; v.Policy != nil {
			dv.Title = v.Policy.Title
		}
		vendors = append(vendors, dv)
	}
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
	// Registered before Start, so a failed start is still closed by stop. Failing to say "offline"
	// at stop is logged, not an error of the stop: over an outside broker the will says it for us,
	// and an exit status other than 0 would only make the Supervisor think we crashed.
	a.closers = append(a.closers, func() error {
		if err := d.Close(); err != nil {
			a.log.Warn().Err(err).Str("component", "discovery").Msg("could not mark Hookbridge offline for Home Assistant")
		}
		return nil
	})
	// Over an outside broker a dropped connection publishes our will ("offline"): announce again
	// (availability, configs, states) on every reconnection.
	if oc, ok := a.ha.(interface{ OnConnect(func()) }); ok {
		oc.OnConnect(d.Announce)
	}
	return d.Start()
}
