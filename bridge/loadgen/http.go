package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Vendor is one vendor the generator sends as: its sample and the signer holding its secret.
type Vendor struct {
	Sample *Sample
	Signer verify.Signer
	// PublicURL is the bridge's public_url ("" when not set), for schemes that sign the URL.
	PublicURL string
}

// Generator sends webhooks to one partner listener.
type Generator struct {
	// Addr is the listener's host:port.
	Addr    string
	Vendors []Vendor
	// RunID makes event ids and markers unique to this run, so a bridge that keeps replay records
	// across runs never sees an id twice.
	RunID  string
	Events *Events
	// Follow records each event's marker, so that subscribers can match the messages they
	// receive; off for a server that publishes nothing.
	Follow bool
}

// Load is how one phase sends.
type Load struct {
	// Concurrency is the number of connections, each with one request in flight at a time.
	Concurrency int
	Duration    time.Duration
	// Rate, when positive, paces requests at that many per second over all connections; a request
	// whose turn comes while every connection is busy waits, and its latency counts from when it
	// was due, so a stall shows in the numbers instead of slowing the clock (no coordinated
	// omission). Zero sends as fast as the connections allow.
	Rate float64
}

// Result is what one phase sent and what came back.
type Result struct {
	// From and To are the phase's event numbers, [From, To).
	From, To uint64
	// Elapsed runs from the first request to the last answer.
	Elapsed  time.Duration
	Sent     int
	Accepted int // answered 202
	// Statuses counts answers by status code.
	Statuses map[int]int
	// Errors counts requests that got no answer (connection failures); FirstError is the first.
	Errors     int
	FirstError string
	// HTTP is from sending a request (in a paced phase, from when it was due) to reading its
	// answer, over answered requests.
	HTTP Latency
	// Lag is, in a paced phase, how late the generator sent requests after they were due: its own
	// share of the latencies, from timer resolution, scheduling or too few connections.
	Lag Latency
}

// Rate returns accepted requests per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// Run sends for one phase and waits for every answer.
func (g *Generator) Run(ctx context.Context, l Load) *Result {
	if l.Concurrency < 1 {
		l.Concurrency = 1
	}
	res := &Result{From: g.Events.Next(), Statuses: map[int]int{}}
	start := time.Now()
	end := start.Add(l.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	var slots chan int64
	if l.Rate > 0 {
		slots = make(chan int64, l.Concurrency)
		go g.pace(ctx, slots, start, l.Rate)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards res.Statuses, res.Errors, res.FirstError, lat
		lat, lag []int64
		sent     atomic.Int64
		finished atomic.Int64
	)
	for range l.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &httpConn{addr: g.Addr, deadline: end.Add(30 * time.Second)}
			defer c.close()
			var (
				req, body []byte
				myLat     []int64
				myLag     []int64
				statuses  = map[int]int{}
				errs      int
				firstErr  error
			)
			for ctx.Err() == nil {
				var due int64
				if slots != nil {
					var ok bool
					select {
					case due, ok = <-slots:
					case <-ctx.Done():
					}
					if !ok {
						break
					}
				}
				seq := g.Events.take()
				v := &g.Vendors[seq%uint64(len(g.Vendors))]
				now := time.Now()
				var id, marker string
				body, id, marker = v.Sample.Build(body[:0], g.RunID, seq, now)
				var err error
				req, err = g.request(req[:0], v, body, id, now)
				if err != nil {
					errs++
					firstErr = cmp(firstErr, err)
					continue
				}
				if g.Follow {
					g.Events.mark(marker, seq)
				}
				at := g.Events.at(now)
				sentAt := at
				if due > 0 {
					myLag = append(myLag, max(0, at-due))
					at = due
				}
				g.Events.sent(seq, at, sentAt)
				sent.Add(1)
				status, err := c.roundTrip(req)
				doneAt := g.Events.Now()
				if err != nil {
					errs++
					firstErr = cmp(firstErr, err)
					g.Events.answered(seq, doneAt, 0)
					if ctx.Err() == nil {
						time.Sleep(10 * time.Millisecond) // a refused connection must not spin
					}
					continue
				}
				g.Events.answered(seq, doneAt, status)
				finished.Store(doneAt)
				statuses[status]++
				myLat = append(myLat, doneAt-at)
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, myLat...)
			lag = append(lag, myLag...)
			for s, n := range statuses {
				res.Statuses[s] += n
			}
			res.Errors += errs
			if firstErr != nil && res.FirstError == "" {
				res.FirstError = firstErr.Error()
			}
		}()
	}
	wg.Wait()
	res.To = g.Events.Next()
	res.Sent = int(sent.Load())
	res.Accepted = res.Statuses[202]
	res.Elapsed = time.Since(start)
	if f := finished.Load(); f > 0 {
		res.Elapsed = time.Duration(f - g.Events.at(start))
	}
	res.HTTP = Summarize(lat)
	res.Lag = Summarize(lag)
	return res
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// pace hands out send times at rate per second from start until ctx ends. It sends every slot that
// is due, then sleeps until the next one; when the workers are all busy it blocks, and the slots
// it hands out later keep their due times.
func (g *Generator) pace(ctx context.Context, slots chan<- int64, start time.Time, rate float64) {
	defer close(slots)
	interval := time.Duration(float64(time.Second) / rate)
	deadline, _ := ctx.Deadline()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(deadline) {
			return
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		select {
		case slots <- g.Events.at(due):
		case <-ctx.Done():
			return
		}
	}
}

// request appends a signed POST of body to dst.
func (g *Generator) request(dst []byte, v *Vendor, body []byte, id string, now time.Time) ([]byte, error) {
	m := &verify.Message{Body: body, ID: id, Time: now}
	if v.Signer.Auth.SignsURL() {
		m.URL = vendor.VendorURL(v.PublicURL, v.Sample.Vendor)
	}
	if err := v.Signer.SignMessage(m); err != nil {
		return nil, err
	}
	hdr := m.Header
	dst = append(dst, "POST /hooks/"...)
	dst = append(dst, v.Sample.Vendor...)
	if _, q, ok := strings.Cut(m.URL, "?"); ok {
		dst = append(dst, '?')
		dst = append(dst, q...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, g.Addr...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	for k, val := range hdr {
		dst = append(dst, k...)
		dst = append(dst, ": "...)
		dst = append(dst, val...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...), nil
}

// httpConn is one keep-alive HTTP/1.1 connection. It writes prepared requests and reads answers
// with a minimal parser (status line, Content-Length, Connection: close), which costs the
// generator a fraction of net/http's client: on a small machine, what the generator spends the
// server under test does not get.
type httpConn struct {
	addr     string
	deadline time.Time
	nc       net.Conn
	r        *bufio.Reader
}

// ErrChunked reports an answer without Content-Length, which the generator does not read.
var ErrChunked = errors.New("chunked answer")

func (c *httpConn) roundTrip(req []byte) (int, error) {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		_ = nc.SetDeadline(c.deadline)
		c.nc = nc
		if c.r == nil {
			c.r = bufio.NewReaderSize(nc, 4096)
		} else {
			c.r.Reset(nc)
		}
	}
	if _, err := c.nc.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, closeConn, err := readResponse(c.r)
	if err != nil || closeConn {
		c.close()
	}
	return status, err
}

func (c *httpConn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// readResponse reads one answer and discards its body.
func readResponse(r *bufio.Reader) (status int, closeConn bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	length := -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closeConn = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, ErrChunked
		}
	}
	if length < 0 {
		return 0, false, ErrChunked
	}
	if _, err := r.Discard(length); err != nil {
		return 0, false, err
	}
	return status, closeConn, nil
}
