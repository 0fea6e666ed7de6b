package e2e_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// The partner side of issue 12, against the real binary: the replay key and the rate budget rest
// on verified bytes, encoded bodies are refused, and numbers are published in one form.

// vendorMessages subscribes homeassistant to vendor's topics, live messages only.
func vendorMessages(t *testing.T, p *binProc, vendor string) *bridgetest.Subscriber {
	t.Helper()
	return bridgetest.SubscribeLive(t, p.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, uniqueID("sub-"+vendor),
		bridgetest.TopicPrefix+"/"+vendor+"/#")
}

// TestPartnerReplayKeySigned (finding 6): a captured request of a GitHub sender, and of
// hmac-sha256 and bearer vendors with an id_header, resent with a new id in that unsigned header
// is a duplicate (200), and is published once.
func TestPartnerReplayKeySigned(t *testing.T) {
	p := startBinary(t, nil)
	for _, c := range []struct{ vendor, idHeader string }{
		{"e2e-github", "X-GitHub-Delivery"},
		{"e2e-hmac", "X-E2E-Delivery"},
		{"e2e-bearer", "X-E2E-Delivery"},
	} {
		t.Run(c.vendor, func(t *testing.T) {
			sub := vendorMessages(t, p, c.vendor)
			id := uniqueID("evt-replay")
			body := acmeEvent(id, "door-"+c.vendor, "50")
			captured := p.sign(t, c.vendor, id, body)
			if r := bridgetest.Do(t, http.MethodPost, p.url("/hooks/"+c.vendor), captured, body); r.Status != http.StatusAccepted {
				t.Fatalf("the original: %d %s, want 202", r.Status, r.Raw)
			}
			for i := range 3 {
				resent := maps.Clone(captured)
				for k := range resent {
					if strings.EqualFold(k, c.idHeader) {
						delete(resent, k)
					}
				}
				resent[c.idHeader] = fmt.Sprintf("%s-new-delivery-%d", id, i)
				r := bridgetest.Do(t, http.MethodPost, p.url("/hooks/"+c.vendor), resent, body)
				if r.Status != http.StatusOK || r.Body["status"] != "duplicate" {
					t.Errorf("resent with %s %s: %d %s, want 200 duplicate", c.idHeader, resent[c.idHeader], r.Status, r.Raw)
				}
			}
			sub.WaitCount(1)
			time.Sleep(300 * time.Millisecond)
			if got := sub.Messages(); len(got) != 1 {
				t.Errorf("published %d times, want once: %v", len(got), got)
			}
		})
	}
}

// TestPartnerJunkNeverStarves (finding 7): with the default rates (a vendor's 600 a minute, a
// source's 1,200), unsigned junk flooding a vendor's endpoint from one address never turns the
// real vendor's signed webhooks from another address into 429s.
func TestPartnerJunkNeverStarves(t *testing.T) {
	p := startBinary(t, func(o *options.Options) {
		o.SourceRatePerMinute = options.Defaults().SourceRatePerMinute
		for i := range o.Vendors {
			o.Vendors[i].RatePerMinute = options.VendorDefaults().RatePerMinute
		}
	})
	junk := httpClientFrom("127.0.0.2")
	var sent atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := acmeEvent(fmt.Sprintf("junk-%d", i), "door-junk", "50")
				st := post(junk, p.url("/hooks/acme-locks"), map[string]string{"Content-Type": "application/json",
					"Webhook-Id": fmt.Sprintf("junk-%d", i), "Webhook-Timestamp": fmt.Sprint(time.Now().Unix()),
					"Webhook-Signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, body)
				sent.Add(1)
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	bridgetest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := sent.Load(); n < 200 {
			return fmt.Errorf("%d junk requests sent, want 200 before the real webhooks", n)
		}
		return nil
	})
	genuine := map[int]int{}
	for i := range 40 {
		id := uniqueID("evt-real")
		r := p.send(t, "acme-locks", id, acmeEvent(id, fmt.Sprintf("door-real-%d", i), "50"))
		genuine[r.Status]++
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	t.Logf("junk: %d requests, statuses %v; real webhooks: %v", sent.Load(), statuses, genuine)
	mu.Unlock()
	if genuine[http.StatusAccepted] != 40 {
		t.Errorf("real signed webhooks during the junk flood: %v, want 40 x 202", genuine)
	}
}

// gzipped returns b compressed with gzip.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestPartnerContentEncoding (finding 9): a signed body with any Content-Encoding but identity,
// compressed or not, gets 415 and publishes nothing.
func TestPartnerContentEncoding(t *testing.T) {
	p := startBinary(t, nil)
	sub := vendorMessages(t, p, "acme-locks")
	for _, c := range []struct {
		name, encoding string
		gzip           bool
		want           int
	}{
		{"gzip body", "gzip", true, http.StatusUnsupportedMediaType},
		{"JSON labelled gzip", "gzip", false, http.StatusUnsupportedMediaType},
		{"x-gzip", "x-gzip", false, http.StatusUnsupportedMediaType},
		{"br", "br", false, http.StatusUnsupportedMediaType},
		{"deflate", "deflate", false, http.StatusUnsupportedMediaType},
		{"a list with identity first", "identity, gzip", false, http.StatusUnsupportedMediaType},
		{"identity", "identity", false, http.StatusAccepted},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := uniqueID("evt-enc")
			body := acmeEvent(id, "door-enc-"+strings.ReplaceAll(c.name, " ", "-"), "50")
			if c.gzip {
				body = gzipped(body)
			}
			h := p.sign(t, "acme-locks", id, body)
			h["Content-Encoding"] = c.encoding
			r := bridgetest.Do(t, http.MethodPost, p.url("/hooks/acme-locks"), h, body)
			if r.Status != c.want {
				t.Errorf("Content-Encoding %s: %d %s, want %d", c.encoding, r.Status, r.Raw, c.want)
			}
			if c.want != http.StatusAccepted {
				if _, ok := r.Body["error"].(string); !ok {
					t.Errorf("Content-Encoding %s: body %s, want a JSON error", c.encoding, r.Raw)
				}
			}
		})
	}
	sub.WaitCount(1)
	time.Sleep(300 * time.Millisecond)
	if got := sub.Messages(); len(got) != 1 || !strings.Contains(got[0].Topic, "/locks/") {
		t.Errorf("published %v, want only the identity body's message", got)
	}
}

// TestPartnerCanonicalNumbers (finding 9): numbers are published in one canonical form, whatever
// the vendor's spelling: 1e2 is 100, -0 is 0, 0.0…01e33 is 10.
func TestPartnerCanonicalNumbers(t *testing.T) {
	p := startBinary(t, nil)
	sub := vendorMessages(t, p, "acme-locks")
	for i, c := range []struct{ sent, want string }{
		{"1e2", "100"},
		{"-0", "0"},
		{"1.0e1", "10"},
		{"5E+1", "50"},
		{"0.00000000000000000000000000000001e33", "10"},
		{"100.000", "100"},
		{"42", "42"},
	} {
		t.Run(c.sent, func(t *testing.T) {
			id := uniqueID("evt-num")
			r := p.send(t, "acme-locks", id, acmeEvent(id, fmt.Sprintf("door-num-%d", i), c.sent))
			if r.Status != http.StatusAccepted {
				t.Fatalf("battery_pct %s: %d %s", c.sent, r.Status, r.Raw)
			}
			msgs := sub.WaitCount(i + 1)
			var fields map[string]json.RawMessage
			if err := json.Unmarshal([]byte(msgs[i].Payload), &fields); err != nil {
				t.Fatalf("payload %s: %v", msgs[i].Payload, err)
			}
			if got := string(fields["battery"]); got != c.want {
				t.Errorf("battery_pct %s published as %s, want %s (payload %s)", c.sent, got, c.want, msgs[i].Payload)
			}
		})
	}
}
