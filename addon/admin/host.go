package admin

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DNS rebinding. A page on evil.example whose name an attacker then points at 127.0.0.1 is, to the
// browser, still evil.example: its scripts may read whatever that name answers, and its requests
// carry "Host: evil.example". So the listener answers only to names that are its own (hostRule),
// and refuses any other Host with 421 Misdirected Request (RFC 9110 15.5.20: a server "not
// configured to produce responses for the combination of scheme and authority"), which is exactly
// the case and keeps it apart from the 403s of the source and cross-site rules. An IP literal in
// Host cannot be rebound (no name to resolve), so the listener's own addresses are safe to allow.
//
// The port is not compared: a rebinding page cannot send a Host with our name whatever port it
// uses, and port forwarding (ssh -L, docker -p) changes the port the browser sees.
//
// What Home Assistant ingress sends, from the sources (home-assistant/core
// homeassistant/components/hassio/ingress.py at cc1e74cf, _init_header and INIT_HEADERS_FILTER;
// home-assistant/supervisor supervisor/api/ingress.py at 090ef31e, lines 92-94 and 320-358):
//   - Core copies every header of the browser's request but Content-Length, Content-Encoding,
//     Transfer-Encoding, Accept-Encoding and Sec-WebSocket-*, so Host, Origin, Referer, Cookie and
//     Sec-Fetch-* pass; it adds X-Hass-Source: core.ingress, X-Ingress-Path:
//     /api/hassio_ingress/{token}, X-Forwarded-For, X-Forwarded-Host (the one it got, else the
//     browser's Host) and X-Forwarded-Proto (likewise, else its own scheme).
//   - The Supervisor checks the ingress_session cookie (ingress.py:146-150), copies every header
//     again but Content-Length, Content-Encoding, Transfer-Encoding, Sec-WebSocket-*, its token
//     headers and X-Remote-User-* (which it sets from the session), appends to X-Forwarded-For
//     (lines 334-356), and requests http://{app ip}:{ingress_port}/{path} (line 94) from
//     172.30.32.2 (supervisor/docker/network.py:189, supervisor/const.py:57).
//   - Both proxies are aiohttp clients, and aiohttp lets a Host in the given headers replace the
//     one built from the URL (client_reqrep.py, update_headers: "A special case for Host header").
//
// So through ingress, Host is the name the browser used for Home Assistant
// (homeassistant.local:8123, a Nabu Casa name, an IP), which no add-on can know, and Origin is
// Home Assistant's origin, equal to that Host. An ingress request is therefore recognized by what
// the browser cannot forge: the TCP peer is the Supervisor and X-Ingress-Path is one well-formed
// path (viaIngress). A rebinding page cannot go that way: the Supervisor refuses it without the
// ingress_session cookie, which the browser sends only to Home Assistant's own name.

// hostRule holds the names and addresses, other than loopback and the connection's own local
// address, that the listener answers to. It is built once by New and only read afterwards.
type hostRule struct {
	names map[string]bool // lower case, without a trailing dot
	addrs []netip.Addr    // unmapped, without zone
}

// newHostRule derives the allowlist from the listen address (a host name in it, or a specific IP)
// and the machine's host name. "localhost" is always in it.
func newHostRule(listen, hostname string) hostRule {
	h := hostRule{names: map[string]bool{"localhost": true}}
	if hostname != "" {
		if name, _, ok := splitHost(hostname); ok {
			h.add(name)
		}
	}
	host := listen
	if hp, _, err := net.SplitHostPort(listen); err == nil {
		host = hp
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		h.add(ip.String())
	} else if name, _, ok := splitHost(host); ok {
		h.add(name)
	}
	return h
}

func (h *hostRule) add(name string) {
	if ip, err := netip.ParseAddr(name); err == nil {
		if ip = ip.Unmap().WithZone(""); !ip.IsUnspecified() {
			h.addrs = append(h.addrs, ip)
		}
		return
	}
	h.names[name] = true
}

// allows reports whether host (a name or IP literal from splitHost) is one of this listener's:
// localhost, a loopback address, the local address local the connection came in on, or one in
// the rule.
func (h hostRule) allows(host string, local netip.Addr) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return h.names[host]
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() || (local.IsValid() && ip == local) {
		return true
	}
	for _, a := range h.addrs {
		if ip == a {
			return true
		}
	}
	return false
}

// splitHost splits a Host header (or an Origin's host part) into a lower-case name or IP literal
// without brackets or trailing dot, and its port ("" when absent). It reports false for an empty
// host, an IPv6 literal without brackets, or a port that is not a number.
func splitHost(hostport string) (host, port string, ok bool) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := hostport[1:end], hostport[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", "", false
			}
			port = rest[1:]
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return "", "", false
		}
		return strings.ToLower(host), port, validPort(port)
	}
	host, port, _ = strings.Cut(hostport, ":")
	if strings.Contains(port, ":") {
		return "", "", false // an IPv6 literal needs brackets
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host, port, host != "" && validPort(port)
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// localAddr returns the address the request's connection was accepted on, or the zero Addr.
func localAddr(r *http.Request) netip.Addr {
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if la == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// hostAllowed reports whether the request is addressed to this listener: its Host is one of the
// listener's own (hostRule), or it came through Home Assistant ingress.
func (a *Admin) hostAllowed(r *http.Request) bool {
	if a.viaIngress(r) {
		return true
	}
	host, _, ok := splitHost(r.Host)
	return ok && a.hosts.allows(host, localAddr(r))
}

// viaIngress reports whether the request came through Home Assistant ingress: under the
// Supervisor, from the ingress proxy's address, with exactly one well-formed X-Ingress-Path.
func (a *Admin) viaIngress(r *http.Request) bool {
	if !a.cfg.IngressOnly || !a.fromIngressProxy(r.RemoteAddr) {
		return false
	}
	_, err := ingressBase(r)
	return err == nil && len(r.Header.Values("X-Ingress-Path")) == 1
}

// fromIngressProxy reports whether a remote address is the ingress proxy's.
func (a *Admin) fromIngressProxy(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap() == a.ingressAddr
}

// stateChanging reports whether a request's method may change state: anything but GET, HEAD and
// OPTIONS.
func stateChanging(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// crossSite reports whether a browser sent the request from a page that is not this listener's
// own origin: a form or fetch there can reach a loopback listener, and must not flip a kill switch
// or drop a session. Tools like curl send neither Origin nor Sec-Fetch-Site and pass; browsers
// send Origin with every request whose method is not GET or HEAD (Fetch standard, "append a
// request Origin header"), so a browser's state-changing request is always judged.
//
// A direct request's Origin must name a host the listener answers to (hostRule, never the
// request's own Host, which a rebinding page chooses), with the scheme and port of the request's
// Host. Through ingress the browser's origin is Home Assistant's, which both proxies pass on as
// Host (and X-Forwarded-Host): the Origin must be that. (net/http's CrossOriginProtection is not
// used: without Sec-Fetch-Site it compares Origin with the request's own Host, the hole this
// closes, and it knows nothing of ingress.)
func (a *Admin) crossSite(r *http.Request) bool {
	if fetchedCrossSite(r) {
		return true
	}
	vals := r.Header.Values("Origin")
	if len(vals) == 0 {
		return false
	}
	if len(vals) > 1 {
		return true
	}
	if vals[0] == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		// The browser withheld its origin (a no-referrer policy makes it send "null" on a
		// same-origin POST) and says, in a header no page can set, that it is this origin.
		return false
	}
	o, ok := parseOrigin(vals[0])
	if !ok {
		return true // "null" from a sandboxed frame or a redirect from elsewhere, or garbage
	}
	if a.viaIngress(r) {
		scheme := "http"
		if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(p), "https") {
			scheme = "https"
		}
		fwd, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
		return !o.is(scheme, r.Host) && !o.is(scheme, strings.TrimSpace(fwd))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return !a.hosts.allows(o.host, localAddr(r)) || !o.is(scheme, r.Host)
}

// fetchedCrossSite reports whether the browser's Sec-Fetch-Site header says the request came from
// another origin's page. A request without the header (curl, older browsers) passes.
func fetchedCrossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}

// origin is a parsed Origin header: scheme, lower-case host, and port (the scheme's default when
// the header has none).
type origin struct{ scheme, host, port string }

func parseOrigin(s string) (origin, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return origin{}, false
	}
	host, port, ok := splitHost(u.Host)
	if !ok {
		return origin{}, false
	}
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return origin{scheme: u.Scheme, host: host, port: port}, true
}

// is reports whether o is the origin scheme://hostport.
func (o origin) is(scheme, hostport string) bool {
	host, port, ok := splitHost(hostport)
	if !ok {
		return false
	}
	if port == "" {
		port = defaultPort(scheme)
	}
	return o.scheme == scheme && o.host == host && o.port == port
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// sampler lets an event through at most once per period and counts the ones it held back, so a
// flood of refusals costs one log line a minute.
type sampler struct {
	period time.Duration
	mu     sync.Mutex
	next   time.Time // guarded by mu
	held   int       // guarded by mu: events held back since the last one let through
}

// allow reports whether the event at now is let through, and how many were held back before it.
func (s *sampler) allow(now time.Time) (held int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.held++
		return 0, false
	}
	held, s.held, s.next = s.held, 0, now.Add(s.period)
	return held, true
}
