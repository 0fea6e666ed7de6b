package app

import (
	"net/http"
	"time"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/broker"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// The narrow accessors below are for the end-to-end tests and the bench, which drive an App from
// outside; the running parts stay unexported.

// Addrs are a started App's listen addresses, with the ports actually bound.
type Addrs struct {
	HTTP  string // partner listener
	Admin string // admin listener
	MQTT  string // embedded broker; "" when it does not run
}

// Addrs returns the listen addresses; empty before Start.
func (a *App) Addrs() Addrs {
	var ad Addrs
	if a.httpLn != nil {
		ad.HTTP = a.httpLn.Addr().String()
	}
	if a.adminLn != nil {
		ad.Admin = a.adminLn.Addr().String()
	}
	if a.broker != nil {
		ad.MQTT = a.broker.Addr()
	}
	return ad
}

// Vendor returns a configured vendor, compiled.
func (a *App) Vendor(name string) (*vendor.Vendor, bool) {
	v, ok := a.vendors[name]
	return v, ok
}

// Switches returns the vendors' kill switches; nil before Start.
func (a *App) Switches() *killswitch.Switches { return a.switches }

// Broker returns the embedded broker; nil when it does not run.
func (a *App) Broker() *broker.Broker { return a.broker }

// Purge deletes replay and audit records past retention as of now, as the hourly purge does.
func (a *App) Purge(now time.Time) { a.purge.purge(now) }

// StoreStats returns the state store's counters.
func (a *App) StoreStats() store.Stats { return a.store.Stats() }

// MQTTBridge returns the MQTT bridge: where Home Assistant's topics go and the link to the
// Supervisor's broker.
func (a *App) MQTTBridge() *hamqtt.Bridge { return a.mqtt }

// Handler returns the partner listener's handler, so that a fuzz target or a benchmark can drive
// whole webhooks without the network; nil before Start.
func (a *App) Handler() http.Handler {
	if a.recv == nil {
		return nil
	}
	return a.recv
}

// AuditTrail returns the audit trail; nil before Start.
func (a *App) AuditTrail() *audit.Log { return a.auditTrail() }

// Uplink returns the connection to the outside broker that events go to; nil with broker:
// embedded.
func (a *App) Uplink() *uplink.Uplink { return a.events }

// Entities returns the Home Assistant entities of the vendors' routes: RemoveVendor is the removal
// that offboarding calls. nil when none are announced (ha_mqtt off, or no route declares any).
func (a *App) Entities() *discovery.RouteEntities { return a.ents }
