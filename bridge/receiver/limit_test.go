package receiver_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/receiver"
)

// limited starts a server that answers 202, capped at max connections, with a 1 s header timeout.
// peak reports the most connections the server held at once; closing srv ends it.
func limited(t *testing.T, limit int) (addr string, l *receiver.LimitListener, peak func() int, srv *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open, most := 0, 0
	srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		}),
		ReadHeaderTimeout: time.Second,
		IdleTimeout:       time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case http.StateNew:
				open++
				most = max(most, open)
			case http.StateClosed, http.StateHijacked:
				open--
			}
		},
	}
	l = receiver.Limit(srv, ln, limit, nil, zerolog.New(zerolog.NewTestWriter(t)))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve() = %v, want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ln.Addr().String(), l, func() int { mu.Lock(); defer mu.Unlock(); return most }, srv
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const request = "POST /hooks/v HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"

// roundTrip sends one request on c and reads the status line and headers of the answer.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLimitWaitsForSlowClients: with every slot held by a client that never finishes its headers,
// new connections wait until the server's header timeout ends those, and the server never holds
// more than the cap (plus, for a moment, one: a closed connection's slot passes to the next before
// the server has noted the close).
func TestLimitWaitsForSlowClients(t *testing.T) {
	addr, l, peak, _ := limited(t, 3)
	for range 3 {
		io.WriteString(dial(t, addr), "POST /hooks/v HTTP/1.1\r\nX-Slow: ")
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	type result struct {
		status int
		err    error
		after  time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for range 2 {
		go func() {
			resp, err := http.Post("http://"+addr+"/hooks/v", "application/json", strings.NewReader("{}"))
			if err != nil {
				results <- result{err: err}
				return
			}
			resp.Body.Close()
			results <- result{status: resp.StatusCode, after: time.Since(start)}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil || r.status != http.StatusAccepted {
			t.Fatalf("POST = %d, %v; want 202", r.status, r.err)
		}
		if r.after < 500*time.Millisecond || r.after > 3*time.Second {
			t.Errorf("a waiting connection was served after %v, want about the 1 s header timeout", r.after)
		}
	}
	// The second may still be in the kernel's backlog, not counted, when slots free again.
	if w := l.Stats().Waited(); w < 1 || w > 2 || l.Stats().Shed() != 0 {
		t.Errorf("waited %d, shed %d; want 1 or 2 and 0", w, l.Stats().Shed())
	}
	if p := peak(); p > 4 {
		t.Errorf("the server held %d connections at once, want at most 3 (4 for a moment)", p)
	}
}

// TestLimitShedsIdle: at the cap, a new connection is served at once by closing the keep-alive
// connection idle the longest; the other idle one stays open.
func TestLimitShedsIdle(t *testing.T) {
	addr, l, peak, _ := limited(t, 2)
	var conns []net.Conn
	var readers []*bufio.Reader
	for range 2 {
		c := dial(t, addr)
		r := bufio.NewReader(c)
		if got := roundTrip(t, c, r); got != http.StatusAccepted {
			t.Fatalf("status %d, want 202", got)
		}
		conns, readers = append(conns, c), append(readers, r)
		time.Sleep(50 * time.Millisecond) // the first is idle the longest
	}
	start := time.Now()
	c := dial(t, addr)
	if got := roundTrip(t, c, bufio.NewReader(c)); got != http.StatusAccepted {
		t.Fatalf("status %d, want 202", got)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the third connection waited %v, want it served at once", d)
	}
	conns[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := readers[0].ReadByte(); err != io.EOF {
		t.Errorf("the longest-idle connection: read %v, want EOF (closed to make room)", err)
	}
	conns[1].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := readers[1].ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the other idle connection: read %v, want it still open", err)
	}
	if got := roundTrip(t, conns[1], readers[1]); got != http.StatusAccepted {
		t.Errorf("the other idle connection's next request: status %d, want 202", got)
	}
	if l.Stats().Shed() != 1 || l.Stats().Waited() != 0 {
		t.Errorf("shed %d, waited %d; want 1 and 0", l.Stats().Shed(), l.Stats().Waited())
	}
	if p := peak(); p > 3 {
		t.Errorf("the server held %d connections at once, want at most 2 (3 for a moment)", p)
	}
}

// TestLimitCloseWhileWaiting: closing the server ends a connection waiting for a slot, and Serve
// returns (checked by limited's cleanup).
func TestLimitCloseWhileWaiting(t *testing.T) {
	addr, l, _, srv := limited(t, 1)
	io.WriteString(dial(t, addr), "POST /hooks/v HTTP/1.1\r\nX-Slow: ")
	time.Sleep(100 * time.Millisecond)
	waiting := dial(t, addr)
	time.Sleep(100 * time.Millisecond)
	if l.Stats().Open() != 1 {
		t.Errorf("%d connections hold a slot, want 1", l.Stats().Open())
	}
	srv.Close()
	waiting.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := waiting.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the waiting connection: read %v, want it closed", err)
	}
}
