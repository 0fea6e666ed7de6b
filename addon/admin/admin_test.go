package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

func testAdmin(connected bool) (*Admin, *killswitch.Switches) {
	sw := killswitch.New(map[string]bool{"v": true}, map[string]bool{"v": true}, nil, nil)
	a := New(Config{
		Vendors:         vendor.Vendors{"v": {Name: "v", Policy: &policy.Policy{Vendor: "v"}}},
		Switches:        sw,
		Log:             zerolog.Nop(),
		BrokerConnected: func() bool { return connected },
	})
	return a, sw
}

func TestCrossSiteKillSwitchRefused(t *testing.T) {
	cases := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"curl, no browser headers", nil, http.StatusOK},
		{"same origin", map[string]string{"Origin": "http://127.0.0.1:8099", "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"another site's form", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"another site, Origin only", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same site, other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"opaque origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, sw := testAdmin(true)
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8099/api/vendors/v/disable", nil)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, req)
			if w.Code != c.want {
				t.Fatalf("status = %d, want %d (%s)", w.Code, c.want, w.Body)
			}
			if disabled := !sw.Open("v"); disabled != (c.want == http.StatusOK) {
				t.Errorf("vendor disabled = %v after status %d", disabled, w.Code)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	for _, connected := range []bool{true, false} {
		a, _ := testAdmin(connected)
		for path, want := range map[string]int{"/healthz": 200, "/readyz": map[bool]int{true: 200, false: 503}[connected]} {
			w := httptest.NewRecorder()
			a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8099"+path, nil))
			if w.Code != want {
				t.Errorf("connected=%v GET %s = %d, want %d", connected, path, w.Code, want)
			}
		}
	}
}
