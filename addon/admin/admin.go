// Package admin serves the admin listener: health, the vendor inventory and kill switches, and
// the status page shown through Home Assistant ingress. It never runs on the partner port.
package admin

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// IngressAddr is the only address the Supervisor's ingress proxy connects from.
var IngressAddr = netip.MustParseAddr("172.30.32.2")

// Config holds the admin handler's dependencies.
type Config struct {
	Vendors  vendor.Vendors
	Switches *killswitch.Switches
	Stats    *stats.Stats
	// IngressOnly says the Supervisor runs us (app mode): requests are accepted only from the
	// ingress proxy and loopback, and a request from the ingress proxy with an X-Ingress-Path
	// passes the Host rule whatever its Host (the browser's name for Home Assistant; see host.go).
	IngressOnly bool
	// Addr is the address the admin listener listens on, as given (--admin-addr), e.g.
	// "127.0.0.1:8099", ":8099" or "[::1]:0". A host name or a specific IP in it is one the listener
	// answers to, besides localhost, loopback addresses, the machine's host name and the address a
	// connection came in on; "" or an unspecified address adds nothing. The port is not used.
	Addr string
	// Sessions lists and drops device accounts' sessions on the embedded broker; nil when the
	// embedded broker does not run (the session routes answer 503).
	Sessions        Sessions
	Log             zerolog.Logger
	Version         string
	BrokerConnected func() bool
	// Health, when set, adds its fields to the /healthz body (the MQTT bridge's connection and
	// queue); they inform, they never fail the check.
	Health func() map[string]any
	// Learning gives what learn mode recorded and drafts from it; nil answers 404 (nothing
	// learnt) on the learnt and draft routes.
	Learning Learning
	// Lifecycle gives each vendor's secrets, activity and offboarding for the inventory and the
	// status page; nil shows none.
	Lifecycle Lifecycle
	// Notes records admin actions in the audit trail; nil records none.
	Notes Notes
}

// Admin is the admin listener's handler.
type Admin struct {
	cfg Config
	mux *http.ServeMux
	// hosts are the names and addresses the listener answers to; ingressAddr is the ingress
	// proxy's address (IngressAddr; tests use a loopback one). Both are set by New, then only read.
	hosts       hostRule
	ingressAddr netip.Addr
	now         func() time.Time
	// hostLog and crossLog keep the refusal log lines to one a minute each.
	hostLog, crossLog sampler
	// inv, flows and dataflows are set by SetInventory before serving, then only read.
	inv       InventoryConfig
	flows     map[string][]Flow
	dataflows map[string]*DataFlow
}

// New returns the admin handler.
func New(cfg Config) *Admin {
	hostname, _ := os.Hostname()
	a := &Admin{cfg: cfg, mux: http.NewServeMux(), hosts: newHostRule(cfg.Addr, hostname), ingressAddr: IngressAddr,
		now: time.Now, hostLog: sampler{period: time.Minute}, crossLog: sampler{period: time.Minute}}
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.HandleFunc("GET /api/vendors", a.listVendors)
	a.mux.HandleFunc("GET /api/vendors/{name}", a.getVendor)
	a.mux.HandleFunc("POST /api/vendors/{name}/{action}", a.switchVendor)
	a.mux.HandleFunc("GET /api/vendors/{name}/learnt", a.getLearnt)
	a.mux.HandleFunc("GET /api/vendors/{name}/draft", a.getDraft)
	a.mux.HandleFunc("GET /api/devices/{username}/sessions", a.listSessions)
	a.mux.HandleFunc("DELETE /api/devices/{username}/sessions", a.dropAllSessions)
	a.mux.HandleFunc("DELETE /api/devices/{username}/sessions/{client_id}", a.dropOneSession)
	return a
}

// Handle adds a route, for parts wired in by the caller (metrics, status page).
func (a *Admin) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// NewServer wraps the handler in a server with timeouts.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 32 << 10}
}

// ServeHTTP applies the listener's rules, then routes: in app mode only ingress and loopback may
// connect (403); the Host must be one the listener answers to (421, see host.go); a
// state-changing request must not come from another origin's page (403).
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.IngressOnly && !a.fromIngressProxy(r.RemoteAddr) && !Allowed(r.RemoteAddr) {
		WriteJSON(w, http.StatusForbidden, map[string]string{"error": "only Home Assistant ingress may use this listener"})
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if !a.hostAllowed(r) {
		if held, ok := a.hostLog.allow(a.now()); ok {
			a.cfg.Log.Warn().Str("host", clip(r.Host)).Str("remote", r.RemoteAddr).Int("held_back", held).
				Msg("refused a request for a host name this listener does not answer to (DNS rebinding?); at most one line a minute")
		}
		WriteJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "misdirected request: this listener does not answer to that host name"})
		return
	}
	if stateChanging(r) && a.crossSite(r) {
		if held, ok := a.crossLog.allow(a.now()); ok {
			a.cfg.Log.Warn().Str("origin", clip(r.Header.Get("Origin"))).Str("sec_fetch_site", clip(r.Header.Get("Sec-Fetch-Site"))).
				Str("remote", r.RemoteAddr).Int("held_back", held).
				Msg("refused a state-changing request from another origin's page; at most one line a minute")
		}
		WriteJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// clip shortens a header value chosen by the client before it is logged.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// Allowed reports whether a remote address is the ingress proxy or loopback.
func Allowed(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip == IngressAddr || ip.IsLoopback()
}

// healthz is liveness: 200 while the process serves, with the broker connection in the body. It
// does not fail while an outside broker is down: the container's HEALTHCHECK reads it, and
// restarting the app cannot bring a broker back (webhooks get 503 + Retry-After meanwhile).
// readyz is readiness: 503 until events can be published.
func (a *Admin) healthz(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{}
	if a.cfg.Health != nil {
		for k, v := range a.cfg.Health() {
			body[k] = v
		}
	}
	body["ok"], body["broker_connected"], body["version"] = true, a.brokerConnected(), a.cfg.Version
	WriteJSON(w, http.StatusOK, body)
}

func (a *Admin) readyz(w http.ResponseWriter, _ *http.Request) {
	ok := a.brokerConnected()
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, map[string]any{"ready": ok, "broker_connected": ok})
}

func (a *Admin) brokerConnected() bool {
	return a.cfg.BrokerConnected == nil || a.cfg.BrokerConnected()
}

func (a *Admin) listVendors(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, a.Inventory())
}

func (a *Admin) getVendor(w http.ResponseWriter, r *http.Request) {
	vi, ok := a.VendorInfo(r.PathValue("name"))
	if !ok {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown vendor"})
		return
	}
	WriteJSON(w, http.StatusOK, vi)
}

func (a *Admin) switchVendor(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	out, err := a.setSwitch(name, r.PathValue("action"), "disabled through the admin API", killswitch.ByAPI)
	switch out {
	case switchUnknownVendor:
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown vendor"})
		return
	case switchUnknownAction:
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown action: use disable, enable or lift"})
		return
	case switchQuarantined, switchNoSecret, switchNotQuarantined:
		WriteJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	case switchFailed:
		WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not change state"})
		return
	}
	a.cfg.Log.Info().Str("vendor", name).Str("action", strings.ToLower(r.PathValue("action"))).Msg("kill switch changed")
	vi, _ := a.VendorInfo(name)
	WriteJSON(w, http.StatusOK, vi)
}

// switchOutcome is what setSwitch did; the admin API and the status page each answer it their way.
type switchOutcome int

const (
	switchChanged        switchOutcome = iota
	switchUnknownVendor                // not a configured vendor; nothing changed
	switchUnknownAction                // not disable, enable or lift; nothing changed
	switchQuarantined                  // killswitch.ErrQuarantined
	switchNoSecret                     // killswitch.ErrNoSecret
	switchNotQuarantined               // killswitch.ErrNotQuarantined
	switchFailed                       // any other error, logged here
)

// setSwitch applies a kill switch action ("disable", "enable" or "lift") to a configured vendor,
// on behalf of by (killswitch.ByAPI, ByStatusPage); reason is what a disable records. The error is
// the kill switch's, set for the outcomes it caused.
func (a *Admin) setSwitch(name, action, reason, by string) (switchOutcome, error) {
	if _, ok := a.cfg.Vendors[name]; !ok {
		return switchUnknownVendor, nil
	}
	var err error
	switch action {
	case "disable":
		err = a.cfg.Switches.Disable(name, by, reason)
	case "enable":
		err = a.cfg.Switches.Enable(name, by)
	case "lift":
		err = a.cfg.Switches.Lift(name, by)
	default:
		return switchUnknownAction, nil
	}
	switch {
	case err == nil:
		return switchChanged, nil
	case errors.Is(err, killswitch.ErrQuarantined):
		return switchQuarantined, err
	case errors.Is(err, killswitch.ErrNoSecret):
		return switchNoSecret, err
	case errors.Is(err, killswitch.ErrNotQuarantined):
		return switchNotQuarantined, err
	}
	a.cfg.Log.Error().Err(err).Str("vendor", name).Msg("kill switch")
	return switchFailed, err
}

// WriteJSON answers with v as indented JSON and status, as every admin API answer is written; the
// routes the composition root adds to the admin listener answer through it too.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
