// Package supervisor is a client for the Home Assistant Supervisor API as an app sees it: the
// services the app declared in its manifest. Today that is the MQTT service, which tells the app
// where the home's broker (usually the Mosquitto app) listens and which credentials to use.
package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables the client reads.
const (
	// TokenEnv holds the token the Supervisor gives every app it starts.
	TokenEnv = "SUPERVISOR_TOKEN"
	// URLEnv overrides the Supervisor's address. The Supervisor does not set it; tests do, to point
	// the app at a stand-in.
	URLEnv = "SUPERVISOR_URL"
)

// DefaultURL is where the Supervisor API answers inside an app's container.
const DefaultURL = "http://supervisor"

var (
	// ErrNoToken reports that SUPERVISOR_TOKEN is not set: the process was not started by the
	// Supervisor, so there is no Supervisor to ask.
	ErrNoToken = errors.New("not running under the Home Assistant Supervisor (SUPERVISOR_TOKEN is not set); use broker: embedded or external outside Home Assistant")
	// ErrUnauthorized reports that the Supervisor refused the app's token.
	ErrUnauthorized = errors.New("the Supervisor refused the app's token")
	// ErrServiceNotDeclared reports a 403: the app's manifest does not declare the MQTT service.
	ErrServiceNotDeclared = errors.New("the app may not read the Supervisor's MQTT service: its config.yaml must declare services: [mqtt:want]")
	// ErrNoBroker reports that the Supervisor offers no MQTT service: no broker app (such as the
	// Mosquitto broker app) is installed and running.
	ErrNoBroker = errors.New("no MQTT broker app is running: install and start the Mosquitto broker app, or set broker to embedded or external")
	// ErrBadAnswer reports an answer that is not the Supervisor's documented format.
	ErrBadAnswer = errors.New("unexpected answer from the Supervisor")
)

// APIError is a refusal from the Supervisor API, with its HTTP status and message. Err is one of
// the sentinel errors above when the refusal has a known meaning.
type APIError struct {
	Status  int
	Message string // the Supervisor's own message, if it sent one
	Err     error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("supervisor api")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (Supervisor says: %s)", e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel error, if any.
func (e *APIError) Unwrap() error { return e.Err }

// Config configures a Client.
type Config struct {
	// URL is the Supervisor's address; empty means DefaultURL.
	URL string
	// Token is the app's Supervisor token; required.
	Token string
	// HTTPClient is used for requests; nil means a client with a 10 second timeout.
	HTTPClient *http.Client
}

// Client talks to the Supervisor API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client. It returns ErrNoToken when cfg.Token is empty.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(cfg.URL, "/"), token: cfg.Token, http: cfg.HTTPClient}, nil
}

// FromEnv returns a client configured from SUPERVISOR_TOKEN and, if set, SUPERVISOR_URL.
func FromEnv() (*Client, error) {
	return New(Config{URL: os.Getenv(URLEnv), Token: os.Getenv(TokenEnv)})
}

// MQTT is the Supervisor's MQTT service: where the broker app listens and the credentials it
// created for apps. Password is a secret: never log an MQTT value whole.
type MQTT struct {
	Addon    string // slug of the app that provides the service, e.g. core_mosquitto
	Host     string
	Port     int
	SSL      bool
	Username string
	Password string
	Protocol string // "3.1" or "3.1.1"
}

// maxAnswer bounds the bytes read from one Supervisor answer.
const maxAnswer = 1 << 20

// answer is the envelope of every Supervisor API answer.
type answer struct {
	Result  string          `json:"result"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// MQTTService asks the Supervisor for its MQTT service (GET /services/mqtt).
func (c *Client) MQTTService(ctx context.Context) (*MQTT, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/services/mqtt", nil)
	if err != nil {
		return nil, fmt.Errorf("supervisor api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("supervisor api: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("supervisor api: read answer: %w", err)
	}
	var a answer
	decodeErr := json.Unmarshal(body, &a)
	if resp.StatusCode != http.StatusOK || a.Result != "ok" {
		return nil, refusal(resp.StatusCode, a.Message)
	}
	if decodeErr != nil {
		return nil, &APIError{Status: resp.StatusCode, Err: fmt.Errorf("%w: not JSON", ErrBadAnswer)}
	}
	m, err := parseMQTT(a.Data)
	if err != nil {
		return nil, &APIError{Status: resp.StatusCode, Err: err}
	}
	return m, nil
}

// refusal maps a Supervisor error answer to an *APIError with the matching sentinel.
func refusal(status int, message string) error {
	e := &APIError{Status: status, Message: message}
	switch {
	case status == http.StatusUnauthorized:
		e.Err = ErrUnauthorized
	case status == http.StatusForbidden:
		e.Err = ErrServiceNotDeclared
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(message), "no access"):
		// Supervisors before 2024 answered a missing service declaration with 400, not 403.
		e.Err = ErrServiceNotDeclared
	case status == http.StatusBadRequest:
		// The service exists but no app provides it ("Service not enabled").
		e.Err = ErrNoBroker
	case status == http.StatusOK:
		e.Err = fmt.Errorf("%w: result is not ok", ErrBadAnswer)
	}
	return e
}

// parseMQTT reads the service data. The port may come as a number or a string, ssl as a boolean or
// a string.
func parseMQTT(data json.RawMessage) (*MQTT, error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, fmt.Errorf("%w: data is not an object", ErrBadAnswer)
	}
	m := &MQTT{Protocol: "3.1.1"}
	str := func(key string, dst *string, required bool) error {
		v, ok := raw[key]
		if !ok || v == nil {
			if required {
				return fmt.Errorf("%w: %s is missing", ErrBadAnswer, key)
			}
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%w: %s is not a string", ErrBadAnswer, key)
		}
		*dst = s
		return nil
	}
	for _, f := range []struct {
		key      string
		dst      *string
		required bool
	}{{"addon", &m.Addon, false}, {"host", &m.Host, true}, {"username", &m.Username, false},
		{"password", &m.Password, false}, {"protocol", &m.Protocol, false}} {
		if err := str(f.key, f.dst, f.required); err != nil {
			return nil, err
		}
	}
	if m.Host == "" {
		return nil, fmt.Errorf("%w: host is empty", ErrBadAnswer)
	}
	port, err := parsePort(raw["port"])
	if err != nil {
		return nil, err
	}
	m.Port = port
	switch v := raw["ssl"].(type) {
	case nil:
	case bool:
		m.SSL = v
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl is not a boolean", ErrBadAnswer)
		}
		m.SSL = b
	default:
		return nil, fmt.Errorf("%w: ssl is not a boolean", ErrBadAnswer)
	}
	return m, nil
}

func parsePort(v any) (int, error) {
	var s string
	switch p := v.(type) {
	case nil:
		return 0, fmt.Errorf("%w: port is missing", ErrBadAnswer)
	case json.Number:
		s = p.String()
	case string:
		s = strings.TrimSpace(p)
	default:
		return 0, fmt.Errorf("%w: port is not a number", ErrBadAnswer)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: port is not between 1 and 65535", ErrBadAnswer)
	}
	return n, nil
}
