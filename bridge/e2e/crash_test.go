package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// crashProc is the real binary with the test options and its own credentials.
type crashProc struct {
	*bridgetest.Process
	// This run's own acme-locks secret, panel password and pseudonym key (see newCrashProc).
	secret, password, key string
}

// newCrashProc prepares a data dir with the test options, logging at level info.
func newCrashProc(t *testing.T) *crashProc {
	t.Helper()
	p := &crashProc{}
	o := bridgetest.DefaultOptions()
	o.LogLevel = "info"
	// Fresh credentials and pseudonym key for every run. The ports are only free, not held, until
	// the binary takes them again after a kill: a crash test running beside this one (in another
	// checkout) may take one meanwhile, and with the same secrets its bridge would pass for this
	// one and mix their events; with its own, a stray connection is refused.
	var err error
	p.secret = bridgetest.NewSecret(t)
	if p.password, err = app.RandomHex(16); err != nil {
		t.Fatal(err)
	}
	if p.key, err = app.RandomHex(16); err != nil {
		t.Fatal(err)
	}
	o.PseudonymKey = p.key
	for i := range o.Vendors {
		if o.Vendors[i].Name == "acme-locks" {
			o.Vendors[i].Secrets = []string{p.secret}
		}
	}
	for i := range o.Devices {
		if o.Devices[i].Username == bridgetest.PanelUser {
			o.Devices[i].Password = p.password
		}
	}
	p.Process = bridgetest.NewProcess(t, o)
	return p
}

// accepted202 counts, per event token, the 202 answers the bridge logged over all its runs.
func (p *crashProc) accepted202() map[string]int {
	type record struct {
		Message string `json:"message"`
		Status  int    `json:"status"`
		Event   string `json:"event"`
	}
	out := map[string]int{}
	for _, rec := range bridgetest.LogEntries[record](p.Logs()) {
		if rec.Message == "webhook" && rec.Status == 202 {
			out[rec.Event]++
		}
	}
	return out
}

// vendorSender posts signed events as a vendor would: retrying every request that does not get a
// 2xx, until it does.
type vendorSender struct {
	t       *testing.T
	url     string
	signer  verify.Signer
	client  *http.Client
	ok      atomic.Int64
	retries atomic.Int64

	mu     sync.Mutex
	status map[int][]int // event index -> statuses seen, in order
}

func newVendorSender(t *testing.T, p *crashProc) *vendorSender {
	v, _ := p.Catalog.Vendor("acme-locks")
	return &vendorSender{t: t, url: "http://" + p.HTTPAddr + "/hooks/acme-locks",
		signer: verify.Signer{Auth: v.Policy.Auth, Secret: p.secret},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		status: map[int][]int{}}
}

func crashEventID(round, i int) string { return fmt.Sprintf("evt_crash_%d_%d", round, i) }
func crashDevice(i int) string         { return fmt.Sprintf("dev-%d", i) }

// send delivers event i, retrying until a 2xx; it fails the test on any 4xx.
func (s *vendorSender) send(ctx context.Context, round, i int) {
	id := crashEventID(round, i)
	body := bridgetest.AcmeEvent(id, crashDevice(i), i%101)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			s.retries.Add(1)
			time.Sleep(time.Duration(min(attempt, 10)) * 20 * time.Millisecond)
		}
		hdr, err := s.signer.Sign(body, id, time.Now())
		if err != nil {
			s.t.Error(err)
			return
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			continue // refused or cut by the crash: retry
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.mu.Lock()
		s.status[i] = append(s.status[i], resp.StatusCode)
		s.mu.Unlock()
		switch {
		case resp.StatusCode == 200 || resp.StatusCode == 202:
			s.ok.Add(1)
			return
		case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 429:
			s.t.Errorf("event %d: status %d", i, resp.StatusCode)
			return
		}
	}
}

// deviceRecorder is a device with a persistent QoS 1 session that records each message before its
// handler returns (so before paho acknowledges it), and re-subscribes on every reconnect like real
// devices do.
type deviceRecorder struct {
	mu   sync.Mutex
	got  map[string][]bool // device token -> for each receipt, whether it was a redelivery (DUP) or a retained copy
	subs atomic.Int64
}

func startCrashDevice(t *testing.T, addr, password string) (*deviceRecorder, paho.Client) {
	d := &deviceRecorder{got: map[string][]bool{}}
	const filter = "hookbridge/acme-locks/locks/+/state"
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("crash-panel").
		SetUsername(bridgetest.PanelUser).SetPassword(password).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetOrderMatters(true).SetKeepAlive(5 * time.Second)
	handler := func(_ paho.Client, m paho.Message) {
		parts := strings.Split(m.Topic(), "/")
		d.mu.Lock()
		// A retained copy comes with the device's re-subscription after a reconnect: MQTT semantics,
		// not a second publish.
		d.got[parts[3]] = append(d.got[parts[3]], m.Duplicate() || m.Retained())
		d.mu.Unlock()
	}
	opts.SetDefaultPublishHandler(handler)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe(filter, 1, handler)
		d.subs.Add(1)
	})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.subs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the first SUBACK land
	return d, c
}

func (d *deviceRecorder) snapshot() map[string][]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]bool, len(d.got))
	for k, v := range d.got {
		out[k] = append([]bool(nil), v...)
	}
	return out
}

// TestCrashDurability is issue 3's crash test against the real binary: a concurrent vendor posts
// 2,000 signed webhooks while a device with a persistent QoS 1 session listens; the bridge is
// SIGKILLed in the middle and started again; the vendor retries whatever got no 2xx. Every event
// that got a 2xx reaches the device, and no event is published twice. Each round kills at a
// different moment; the last round kills twice.
func TestCrashDurability(t *testing.T) {
	const events, workers = 2000, 16
	rounds := []struct {
		name   string
		killAt []int // accepted counts at which to SIGKILL
	}{
		{"early", []int{150}},
		{"middle", []int{1000}},
		{"late", []int{1800}},
		{"twice", []int{500, 1300}},
	}
	for r, round := range rounds {
		t.Run(round.name, func(t *testing.T) {
			p := newCrashProc(t)
			ps, err := pseudo.New([]byte(p.key))
			if err != nil {
				t.Fatal(err)
			}
			p.Start()
			defer func() {
				if p.Running() {
					p.Kill()
				}
			}()
			dev, client := startCrashDevice(t, p.MQTTAddr, p.password)
			defer client.Disconnect(100)
			sender := newVendorSender(t, p)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()

			work := make(chan int)
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						sender.send(ctx, r, i)
					}
				}()
			}
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				for _, at := range round.killAt {
					for sender.ok.Load() < int64(at) && ctx.Err() == nil {
						time.Sleep(time.Millisecond)
					}
					p.Kill()
					p.Start()
				}
			}()
			for i := 0; i < events; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
			<-killed
			if ctx.Err() != nil {
				t.Fatalf("round did not finish in time: %d of %d events got a 2xx", sender.ok.Load(), events)
			}

			// Every event got a 2xx eventually (the vendor retried). Wait for the device to have them.
			want := map[string]int{}
			for i := 0; i < events; i++ {
				want[ps.Token(pseudo.DomainField, "acme-locks", crashDevice(i))] = i
			}
			deadline := time.Now().Add(60 * time.Second)
			var got map[string][]bool
			for {
				got = dev.snapshot()
				missing := 0
				for tok := range want {
					if len(got[tok]) == 0 {
						missing++
					}
				}
				if missing == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d acknowledged events never reached the device; the bridge's warnings:\n%s",
						missing, events, bridgetest.GrepLines(p.Logs(), `"level":"warn"`, `"level":"error"`))
				}
				time.Sleep(50 * time.Millisecond)
			}

			// No event published twice: the bridge answered 202 at most once per event over all its
			// runs, and the device saw at most one first delivery (redeliveries carry DUP, and
			// retained copies the retain flag).
			twice := 0
			for tok, n := range p.accepted202() {
				if n > 1 {
					twice++
					t.Errorf("event %s accepted (published) %d times", tok, n)
				}
			}
			firsts, redeliveries := 0, 0
			for tok, dups := range got {
				fresh := 0
				for _, dup := range dups {
					if dup {
						redeliveries++
					} else {
						fresh++
					}
				}
				if fresh > 1 {
					t.Errorf("device got event %d %d times as a fresh publish (no DUP, not retained)", want[tok], fresh)
					i := want[tok]
					etok := ps.Token(pseudo.DomainEvent, "acme-locks", crashEventID(r, i))
					sender.mu.Lock()
					t.Logf("event %d: answers %v, deliveries (DUP or retained) %v; the bridge's log lines for it:\n%s",
						i, sender.status[i], dups, bridgetest.GrepLines(p.Logs(), etok))
					sender.mu.Unlock()
				}
				firsts++
			}
			if len(p.accepted202()) > events {
				t.Errorf("202 for %d distinct events, more than the %d sent", len(p.accepted202()), events)
			}
			dupAnswers := 0
			sender.mu.Lock()
			for _, st := range sender.status {
				if st[len(st)-1] == 200 {
					dupAnswers++
				}
			}
			sender.mu.Unlock()
			t.Logf("round %s: kills at %v; %d events, %d retries, %d answered duplicate on retry; device: %d events, %d redeliveries or retained copies; double publishes: %d",
				round.name, round.killAt, events, sender.retries.Load(), dupAnswers, firsts, redeliveries, twice)
		})
	}
}

// TestSIGTERMUnderLoad: with webhooks in flight, SIGTERM makes the bridge answer every request it
// took, and exit 0 within the Supervisor's 10 s. "Took" is what the bridge logged as handled: a
// connection still in the kernel's accept queue when the listener closes is reset unread, and the
// vendor, with no answer, retries it like any other failure.
func TestSIGTERMUnderLoad(t *testing.T) {
	p := newCrashProc(t)
	p.Start()
	sender := newVendorSender(t, p)
	// One connection per request: a request on a kept-alive connection that the server closes as
	// idle at the very moment the client reuses it was never taken, yet looks like a cut request.
	sender.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var answered, refused, broken atomic.Int64
	var brokenErr atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("evt_term_%d_%d", w, i)
				body := bridgetest.AcmeEvent(id, "dev-term", i%100)
				hdr, _ := sender.signer.Sign(body, id, time.Now())
				req, _ := http.NewRequest(http.MethodPost, sender.url, bytes.NewReader(body))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := sender.client.Do(req)
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					answered.Add(1)
				case errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1) // the listener is closed: not a request the bridge took
					time.Sleep(5 * time.Millisecond)
				default:
					broken.Add(1)
					brokenErr.Store(err)
				}
			}
		}(w)
	}
	for answered.Load() < 300 {
		time.Sleep(time.Millisecond)
	}
	took, err := p.Terminate()
	cancel()
	wg.Wait()
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, bridgetest.Tail(p.Logs(), 20))
	}
	if took > 10*time.Second {
		t.Errorf("exit took %v, want within 10s", took)
	}
	handled := strings.Count(p.Logs(), `"message":"webhook"`)
	if int64(handled) != answered.Load() {
		t.Errorf("the bridge handled %d requests but only %d got an answer", handled, answered.Load())
	}
	t.Logf("SIGTERM: exit in %v; %d handled and answered; %d refused after the listener closed; %d reset unread in the accept queue (last: %v)",
		took, answered.Load(), refused.Load(), broken.Load(), brokenErr.Load())
}
