package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// ErrEndpoint reports a broker address or TLS setting that cannot work.
var ErrEndpoint = errors.New("broker endpoint")

// Endpoint is where the uplink connects and how it authenticates.
type Endpoint struct {
	// URL is the broker's address: tcp:// or mqtt:// (plain), ssl://, tls:// or mqtts:// (TLS),
	// ws:// or wss:// (MQTT over WebSocket). A missing port takes the scheme's usual one.
	URL      string
	Username string
	Password string
	// TLS configures TLS schemes; nil means the system's roots and the URL's host name.
	TLS *tls.Config
	// Protocol is the MQTT protocol level: 3 (MQTT 3.1) or 4 (MQTT 3.1.1); 0 means 4. The
	// client library speaks no MQTT 5.
	Protocol uint
}

// Redacted returns the URL without credentials, for logs.
func (e Endpoint) Redacted() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return "(invalid broker URL)"
	}
	u.User = nil
	return u.String()
}

// tlsSchemes are the schemes that run over TLS.
var tlsSchemes = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "wss": true}

var defaultPorts = map[string]string{"tcp": "1883", "mqtt": "1883", "ssl": "8883", "tls": "8883",
	"mqtts": "8883", "ws": "80", "wss": "443"}

// Normalize checks the endpoint and returns it with a port in the URL, credentials moved out of
// the URL, and a TLS config for TLS schemes.
func (e Endpoint) Normalize() (Endpoint, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return e, fmt.Errorf("%w: URL does not parse", ErrEndpoint)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return e, fmt.Errorf("%w: scheme %q: use tcp, mqtt, ssl, mqtts, ws or wss", ErrEndpoint, u.Scheme)
	}
	if u.Hostname() == "" {
		return e, fmt.Errorf("%w: URL has no host", ErrEndpoint)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if u.User != nil {
		if e.Username == "" {
			e.Username = u.User.Username()
			e.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	e.URL = u.String()
	switch {
	case tlsSchemes[u.Scheme] && e.TLS == nil:
		e.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	case !tlsSchemes[u.Scheme] && e.TLS != nil:
		return e, fmt.Errorf("%w: TLS settings need an ssl://, mqtts:// or wss:// URL, not %s://", ErrEndpoint, u.Scheme)
	}
	if e.TLS != nil && e.TLS.ServerName == "" {
		e.TLS = e.TLS.Clone()
		e.TLS.ServerName = u.Hostname()
	}
	switch e.Protocol {
	case 0:
		e.Protocol = 4
	case 3, 4:
	default:
		return e, fmt.Errorf("%w: MQTT protocol level %d: only 3 (3.1) and 4 (3.1.1) are supported", ErrEndpoint, e.Protocol)
	}
	return e, nil
}

// TLSFiles names PEM files for a TLS connection; empty names are unused.
type TLSFiles struct {
	// CA holds the certificates that may sign the broker's certificate, in addition to the
	// system's roots.
	CA string
	// Cert and Key are the client certificate and its key, for brokers that require one.
	Cert string
	Key  string
}

// Config loads the files into a TLS config; it returns nil when no file is named.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.CA == "" && f.Cert == "" && f.Key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrEndpoint, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrEndpoint, f.CA)
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("%w: a client certificate needs both its certificate and its key file", ErrEndpoint)
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %s / %s: %w", ErrEndpoint, f.Cert, f.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
