package app

import (
	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
)

// startHA starts the Home Assistant side: the status page on the admin listener, and, unless
// ha_mqtt is off (conn nil), MQTT discovery with availability, the entities' states and the
// kill-switch command topics. It runs after the receiver is built and before the admin listener
// serves.
//
// Availability: Online is published, retained, once the configs are out, and Offline, retained, at
// a clean stop. On the embedded broker a crash takes the broker down with the process, so Home
// Assistant, connected to it, sees its connection drop; a connection to an outside broker sets
// Offline as its will (discovery.AvailabilityTopic).
func (a *App) startHA(adm *admin.Admin, conn hamqtt.Conn) (*discovery.Discovery, error) {
	adm.AddStatusPage()
	if conn == nil {
		return nil, nil
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
		Conn:     conn,
		Prefix:   a.opts.TopicPrefix,
		Version:  a.cfg.Version,
		Vendors:  vendors,
		Switches: a.switches,
		Counters: a.stats,
		Log:      a.log.With().Str("component", "discovery").Logger(),
	})
	if err != nil {
		return nil, err
	}
	// Over an outside broker a dropped connection publishes our will ("offline"): announce again
	// (availability, configs, states) on every reconnection.
	if oc, ok := conn.(interface{ OnConnect(func()) }); ok {
		oc.OnConnect(d.Announce)
	}
	if err := d.Start(); err != nil {
		// Closed by Stop all the same: a half-started discovery may have announced itself.
		return d, err
	}
	return d, nil
}
