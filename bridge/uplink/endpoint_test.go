package uplink_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/uplink"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name     string
		in       uplink.Endpoint
		url      string
		user     string
		password string
		tls      bool
		err      string
	}{
		{name: "tcp default port", in: uplink.Endpoint{URL: "tcp://broker.lan"}, url: "tcp://broker.lan:1883"},
		{name: "mqtt keeps port", in: uplink.Endpoint{URL: "mqtt://broker.lan:1884"}, url: "mqtt://broker.lan:1884"},
		{name: "ssl default port", in: uplink.Endpoint{URL: "ssl://broker.lan"}, url: "ssl://broker.lan:8883", tls: true},
		{name: "mqtts", in: uplink.Endpoint{URL: "MQTTS://broker.lan"}, url: "mqtts://broker.lan:8883", tls: true},
		{name: "ws keeps path", in: uplink.Endpoint{URL: "ws://broker.lan:8080/mqtt"}, url: "ws://broker.lan:8080/mqtt"},
		{name: "wss default port", in: uplink.Endpoint{URL: "wss://broker.example/mqtt"}, url: "wss://broker.example:443/mqtt", tls: true},
		{name: "IPv6", in: uplink.Endpoint{URL: "tcp://[fd00::1]"}, url: "tcp://[fd00::1]:1883"},
		{name: "credentials move out of the URL", in: uplink.Endpoint{URL: "tcp://u:p%40ss@h:1"}, url: "tcp://h:1", user: "u", password: "p@ss"},
		{name: "explicit credentials win", in: uplink.Endpoint{URL: "tcp://u:p@h:1", Username: "a", Password: "b"}, url: "tcp://h:1", user: "a", password: "b"},
		{name: "unknown scheme", in: uplink.Endpoint{URL: "http://h"}, err: "scheme"},
		{name: "no host", in: uplink.Endpoint{URL: "tcp://:1883"}, err: "no host"},
		{name: "TLS settings on a plain URL", in: uplink.Endpoint{URL: "tcp://h", TLS: &tls.Config{}}, err: "TLS settings need"},
		{name: "MQTT 5", in: uplink.Endpoint{URL: "tcp://h", Protocol: 5}, err: "protocol level 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, uplink.ErrEndpoint) {
					t.Errorf("Normalize(%q) error = %v, want ErrEndpoint containing %q", tt.in.URL, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q) error = %v", tt.in.URL, err)
			}
			if got.URL != tt.url || got.Username != tt.user || got.Password != tt.password || (got.TLS != nil) != tt.tls {
				t.Errorf("Normalize(%q) = %q user %q password %q tls %v, want %q %q %q %v",
					tt.in.URL, got.URL, got.Username, got.Password, got.TLS != nil, tt.url, tt.user, tt.password, tt.tls)
			}
			if got.Protocol != 4 {
				t.Errorf("Normalize(%q).Protocol = %d, want 4", tt.in.URL, got.Protocol)
			}
			if strings.Contains(got.Redacted(), "p@ss") || strings.Contains(got.Redacted(), "p%40ss") {
				t.Errorf("Redacted() = %q holds the password", got.Redacted())
			}
		})
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	tests := []struct {
		name  string
		files uplink.TLSFiles
		err   string
	}{
		{name: "missing CA file", files: uplink.TLSFiles{CA: filepath.Join(dir, "nope.crt")}, err: "CA file"},
		{name: "CA file without PEM", files: uplink.TLSFiles{CA: junk}, err: "no PEM certificate"},
		{name: "certificate without key", files: uplink.TLSFiles{Cert: junk}, err: "both"},
		{name: "bad client certificate", files: uplink.TLSFiles{Cert: junk, Key: junk}, err: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.files.Config()
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, uplink.ErrEndpoint) {
				t.Errorf("Config() error = %v, want ErrEndpoint containing %q", err, tt.err)
			}
		})
	}
	if cfg, err := (uplink.TLSFiles{}).Config(); cfg != nil || err != nil {
		t.Errorf("Config(no files) = %v, %v, want nil, nil", cfg, err)
	}
}
