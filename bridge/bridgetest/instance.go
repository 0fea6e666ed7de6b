package bridgetest

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// Config says how Launch starts an instance. The zero value starts DefaultOptions in a fresh data
// dir with the built-in catalog only.
type Config struct {
	// Options are the options; nil means DefaultOptions().
	Options *options.Options
	// Dir is the data dir; "" means a fresh temporary one. Give the Dir of a stopped instance to
	// restart it.
	Dir string
	// Policies is a directory of extra policies over the built-in catalog; "" for none.
	// TestPolicies is the test catalog's.
	Policies string
	// Schemas is a directory of extra schemas over the built-in ones; "" for none.
	Schemas string
	// NoSync turns fsync off.
	NoSync bool
	// Log receives the instance's log; nil means a new LogBuffer, which Instance.Logs then holds
	// (as it holds a *LogBuffer given here).
	Log io.Writer
}

// Instance is Hookbridge running in the test process, on loopback ports, as `serve` builds it. The
// embedded App gives the accessors; it is nil once the instance stopped.
type Instance struct {
	*app.App
	TB      testing.TB
	Dir     string           // the data dir
	Options *options.Options // the options it runs with
	Catalog *catalog.Catalog // the catalog it runs with
	Logs    *LogBuffer       // its log, unless Config.Log was another writer
	// URL and AdminURL are the partner and admin listeners' base URLs ("http://127.0.0.1:port");
	// MQTTAddr is the embedded broker's address, "" when it does not run.
	URL, AdminURL, MQTTAddr string

	stopOnce sync.Once
	stopErr  error
}

// Start starts an instance with DefaultOptions changed by mutate (when not nil), the test
// catalog's policies and fsync on, in dir, or in a fresh data dir when dir is "". It fails the
// test, with the log, when the instance does not start, and stops it when the test ends.
func Start(tb testing.TB, dir string, mutate func(*options.Options)) *Instance {
	tb.Helper()
	o := DefaultOptions()
	if mutate != nil {
		mutate(o)
	}
	logs := &LogBuffer{}
	i, err := Launch(tb, Config{Options: o, Dir: dir, Policies: TestPolicies(tb), Log: logs})
	if err != nil {
		tb.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	return i
}

// Launch starts an instance as c says and stops it when the test ends (Stop). It returns the error
// of app.New or App.Start; a failed start leaves nothing running.
func Launch(tb testing.TB, c Config) (*Instance, error) {
	tb.Helper()
	o := c.Options
	if o == nil {
		o = DefaultOptions()
	}
	dir := c.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	w, logs := c.Log, (*LogBuffer)(nil)
	switch lw := c.Log.(type) {
	case nil:
		logs = &LogBuffer{}
		w = logs
	case *LogBuffer:
		logs = lw
	}
	files := Files(tb, c.Policies)
	files.Schemas = c.Schemas
	cat, _, err := files.Catalog()
	if err != nil {
		return nil, err
	}
	a, err := app.New(app.Config{Options: o, Catalog: cat, DataDir: dir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		MQTTAddr: "127.0.0.1:0", NoSync: c.NoSync, Log: app.NewLogger(w, o.LogLevel), Version: "test"})
	if err != nil {
		return nil, err
	}
	if err := a.Start(context.Background()); err != nil {
		return nil, err
	}
	ad := a.Addrs()
	i := &Instance{App: a, TB: tb, Dir: dir, Options: o, Catalog: cat, Logs: logs,
		URL: "http://" + ad.HTTP, AdminURL: "http://" + ad.Admin, MQTTAddr: ad.MQTT}
	tb.Cleanup(i.Stop)
	return i, nil
}

// Stop stops the instance, once, within 10 s, and fails the test if stopping reports an error.
func (i *Instance) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Shutdown(ctx); err != nil {
		i.TB.Errorf("stop: %v", err)
	}
}

// Shutdown stops the instance, once, and returns what stopping it reported (the first call's
// error on every call).
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.stopErr = i.App.Stop(ctx)
		i.App = nil
	})
	return i.stopErr
}

// Policy returns a vendor's policy from the instance's catalog, failing the test for an unknown
// vendor.
func (i *Instance) Policy(vendor string) *policy.Policy {
	i.TB.Helper()
	v, ok := i.Catalog.Vendor(vendor)
	if !ok {
		i.TB.Fatalf("vendor %s is not in the catalog", vendor)
	}
	return v.Policy
}

// Sign returns the headers that authenticate body as vendor's event id at now, under the vendor's
// test secret (Secrets), with Content-Type: application/json.
func (i *Instance) Sign(vendor, id string, body []byte, now time.Time) map[string]string {
	i.TB.Helper()
	return i.SignWith(vendor, Secrets()[vendor], id, body, now)
}

// SignWith is Sign under another secret (for a scheme that verifies with the sender's public
// key, the sender's private key). A scheme that signs the URL signs the instance's public_url +
// /hooks/{vendor}; Sender.Sign also gives the path when the scheme adds to the query.
func (i *Instance) SignWith(vendor, secret, id string, body []byte, now time.Time) map[string]string {
	i.TB.Helper()
	s := Sender{Vendor: vendor, Auth: i.Policy(vendor).Auth, Secret: secret, PublicURL: i.Options.PublicURL}
	return s.Sign(i.TB, id, body, now, "").Header
}

// Post sends a POST with the headers and body to path on the partner listener.
func (i *Instance) Post(path string, header map[string]string, body []byte) Response {
	i.TB.Helper()
	return Do(i.TB, http.MethodPost, i.URL+path, header, body)
}

// Send posts body as vendor's event id, signed now with the vendor's test secret.
func (i *Instance) Send(vendor, id string, body []byte) Response {
	i.TB.Helper()
	return i.Post("/hooks/"+vendor, i.Sign(vendor, id, body, time.Now()), body)
}

// Admin sends a request without headers or body to path on the admin listener.
func (i *Instance) Admin(method, path string) Response {
	i.TB.Helper()
	return Do(i.TB, method, i.AdminURL+path, nil, nil)
}
