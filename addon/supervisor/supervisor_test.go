package supervisor_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/supervisor"
)

// standIn answers GET /services/mqtt like the Supervisor does (aiohttp json_response: the
// {"result": ..., "data"|"message": ...} envelope), after checking the app's token.
func standIn(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/services/mqtt" {
			http.Error(w, "404: Not Found", http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer app-token" {
			// The Supervisor's security middleware answers a bad token with a bare 401.
			http.Error(w, "401: Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMQTTService(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   supervisor.MQTT
	}{
		{
			name:   "port as number",
			status: 200,
			body:   `{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":1883,"ssl":false,"protocol":"3.1.1","username":"addons","password":"Eek3ohpeiGh"}}`,
			want:   supervisor.MQTT{Addon: "core_mosquitto", Host: "core-mosquitto", Port: 1883, Username: "addons", Password: "Eek3ohpeiGh", Protocol: "3.1.1"},
		},
		{
			name:   "port as string, ssl",
			status: 200,
			body:   `{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":"8883","ssl":true,"protocol":"3.1","username":"addons","password":"x"}}`,
			want:   supervisor.MQTT{Addon: "core_mosquitto", Host: "core-mosquitto", Port: 8883, SSL: true, Username: "addons", Password: "x", Protocol: "3.1"},
		},
		{
			name:   "defaults: no credentials, ssl or protocol",
			status: 200,
			body:   `{"result":"ok","data":{"host":"192.168.1.20","port":1883}}`,
			want:   supervisor.MQTT{Host: "192.168.1.20", Port: 1883, Protocol: "3.1.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := standIn(t, tt.status, tt.body)
			c, err := supervisor.New(supervisor.Config{URL: srv.URL, Token: "app-token"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.MQTTService(context.Background())
			if err != nil {
				t.Fatalf("MQTTService() error = %v", err)
			}
			if *got != tt.want {
				t.Errorf("MQTTService() = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestMQTTServiceErrors(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		status int
		body   string
		want   error
		text   string // the error text must contain it
	}{
		{name: "service not declared", token: "app-token", status: 403,
			body: `{"result":"error","message":"No access to mqtt service!"}`,
			want: supervisor.ErrServiceNotDeclared, text: "services: [mqtt:want]"},
		{name: "service not declared, older Supervisor", token: "app-token", status: 400,
			body: `{"result":"error","message":"No access to mqtt service!"}`,
			want: supervisor.ErrServiceNotDeclared, text: "mqtt:want"},
		{name: "no broker app", token: "app-token", status: 400,
			body: `{"result":"error","message":"Service not enabled"}`,
			want: supervisor.ErrNoBroker, text: "Mosquitto"},
		{name: "token refused", token: "wrong", status: 200, body: `{}`,
			want: supervisor.ErrUnauthorized, text: "token"},
		{name: "server error", token: "app-token", status: 500,
			body: `{"result":"error","message":"Unknown error, see supervisor"}`,
			want: nil, text: "status 500"},
		{name: "not JSON", token: "app-token", status: 200, body: `<html>`,
			want: supervisor.ErrBadAnswer},
		{name: "data not an object", token: "app-token", status: 200, body: `{"result":"ok","data":[]}`,
			want: supervisor.ErrBadAnswer},
		{name: "no host", token: "app-token", status: 200, body: `{"result":"ok","data":{"port":1883}}`,
			want: supervisor.ErrBadAnswer, text: "host"},
		{name: "port out of range", token: "app-token", status: 200, body: `{"result":"ok","data":{"host":"h","port":"70000"}}`,
			want: supervisor.ErrBadAnswer, text: "port"},
		{name: "port not a number", token: "app-token", status: 200, body: `{"result":"ok","data":{"host":"h","port":"mqtt"}}`,
			want: supervisor.ErrBadAnswer, text: "port"},
		{name: "ssl not a boolean", token: "app-token", status: 200, body: `{"result":"ok","data":{"host":"h","port":1,"ssl":"maybe"}}`,
			want: supervisor.ErrBadAnswer, text: "ssl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := standIn(t, tt.status, tt.body)
			c, err := supervisor.New(supervisor.Config{URL: srv.URL, Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.MQTTService(context.Background())
			if err == nil {
				t.Fatal("MQTTService() error = nil, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("MQTTService() error = %v, want %v", err, tt.want)
			}
			var ae *supervisor.APIError
			if !errors.As(err, &ae) {
				t.Errorf("MQTTService() error = %T, want *supervisor.APIError", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("MQTTService() error = %q, want it to contain %q", err, tt.text)
			}
		})
	}
}

func TestNoToken(t *testing.T) {
	t.Setenv(supervisor.TokenEnv, "")
	if _, err := supervisor.FromEnv(); !errors.Is(err, supervisor.ErrNoToken) {
		t.Errorf("FromEnv() error = %v, want ErrNoToken", err)
	}
	if _, err := supervisor.New(supervisor.Config{}); !errors.Is(err, supervisor.ErrNoToken) {
		t.Errorf("New(no token) error = %v, want ErrNoToken", err)
	}
}

func TestFromEnv(t *testing.T) {
	srv := standIn(t, 200, `{"result":"ok","data":{"host":"core-mosquitto","port":1883}}`)
	t.Setenv(supervisor.TokenEnv, "app-token")
	t.Setenv(supervisor.URLEnv, srv.URL+"/")
	c, err := supervisor.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.MQTTService(context.Background())
	if err != nil {
		t.Fatalf("MQTTService() error = %v", err)
	}
	if m.Host != "core-mosquitto" || m.Port != 1883 {
		t.Errorf("MQTTService() = %+v, want core-mosquitto:1883", *m)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := supervisor.New(supervisor.Config{URL: url, Token: "app-token"})
	_, err := c.MQTTService(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "supervisor api: ") {
		t.Errorf("MQTTService(closed server) error = %v, want a supervisor api error", err)
	}
}

// TestErrorsHoldNoSecret checks that an error never quotes the service data (the password).
func TestErrorsHoldNoSecret(t *testing.T) {
	srv := standIn(t, 200, `{"result":"ok","data":{"host":"h","port":"x","password":"s3cret-pw"}}`)
	c, _ := supervisor.New(supervisor.Config{URL: srv.URL, Token: "app-token"})
	_, err := c.MQTTService(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("MQTTService() error = %v, want an error without the password", err)
	}
}
