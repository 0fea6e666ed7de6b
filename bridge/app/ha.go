package app

import (
	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/addon/options"
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
	gone := a.offboard.names()
	for _, name := range a.names {
		if gone[name] {
			continue // offboarded: its entities, if any are left, are cleared as stale
		}
		v := a.vendors[name]
		dv := discovery.Vendor{Name: name, Mode: string(v.Mode), HasSecret: v.Verifier != nil}
		if v.Policy != nil {
			dv.Title, dv.ExpectsEvents = v.Policy.Title, v.Policy.ExpectEvery > 0
		}
		vendors = append(vendors, dv)
	}
	d, err := discovery.New(discovery.Config{
		Conn:      conn,
		Prefix:    a.opts.TopicPrefix,
		Version:   a.cfg.Version,
		Vendors:   vendors,
		Switches:  a.switches,
		Counters:  a.stats,
		Routes:    a.ents,
		Lifecycle: a.tracker,
		Log:       a.log.With().Str("component", "discovery").Logger(),
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

// newEntities compiles the entities the vendors' routes declare and reads the topics announced by
// earlier runs. It returns nil when no route declares any, or when Home Assistant cannot read the
// routes' topics: ha_mqtt off, or Home Assistant on the Supervisor's broker while events go to
// another outside broker (there is no embedded broker to forward them from).
func (a *App) newEntities(plan hamqtt.Plan) (*discovery.RouteEntities, error) {
	if plan.HA == hamqtt.Off {
		return nil, nil
	}
	var vendors []discovery.RouteVendor
	gone := a.offboard.names()
	for _, name := range a.names {
		v := a.vendors[name]
		if v.Policy == nil || gone[name] {
			continue
		}
		vendors = append(vendors, discovery.RouteVendor{Name: name, Title: v.Policy.Title, Routes: v.Policy.Routes})
	}
	ents, err := discovery.NewRouteEntities(discovery.RouteEntitiesConfig{
		Prefix:  a.opts.TopicPrefix,
		Version: a.cfg.Version,
		Vendors: vendors,
		Known:   a.store,
		Log:     a.log.With().Str("component", "discovery").Logger(),
	})
	if err != nil {
		return nil, err
	}
	if plan.HA == hamqtt.Supervisor && a.opts.Broker != options.BrokerEmbedded {
		if ents.Any() {
			a.log.Warn().Str("component", "discovery").Str("broker", a.opts.Broker).
				Msg("routes declare Home Assistant entities, but events go to another broker than Home Assistant's (ha_mqtt: supervisor): they are not announced; use ha_mqtt: auto to put Home Assistant's topics on the events' broker")
		}
		ents = nil
	}
	// Load even when no route declares entities now: the topics announced by an earlier run are
	// removed then.
	if ents != nil {
		if err := ents.Load(); err != nil {
			return nil, err
		}
	}
	return ents, nil
}
