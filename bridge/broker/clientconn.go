package broker

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// clientConn is the connection the gate hands mochi for one client. Its reads return the CONNECT
// the gate read first (replay); its writes never block.
//
// mochi writes each packet to a client's socket while holding that client's lock, and whoever
// queues a QoS 1 or 2 message for the client takes the same lock (for a packet id), as does
// DisconnectClient (the admin API's drop); a SUBSCRIBE holds the retain guard (shared) until its
// SUBACK is written, and every retained publish waits for the guard (exclusive). A blocking write
// to a client that had stopped reading therefore stalled every retained publish of the bridge
// (webhooks on a retained route hung), every QoS 1 message to that client and the drop of its
// session, for as long as its connection lasted: with keep-alive 0, for ever. One device account
// stalled everyone.
//
// So Write hands the socket what it takes at once, with one non-blocking write, and queues the
// rest for a goroutine of the connection's own, which starts when the queue does and ends when it
// empties: an idle connection costs no goroutine, and a reader that keeps up never meets it.
// While anything is queued every write is queued behind it, so the bytes keep mochi's order (and
// so each session's order, and the store hook's hold, which runs before mochi encodes a packet).
//
// A connection is cut (closed, counted in Stats.SlowClientsCut and logged with its account at
// most once a minute per account) when its queue would pass its account's Limits.SendQueue, or
// when its peer takes nothing of the queue for Options.SendTimeout. Closing the socket ends
// mochi's read loop, so a cut client's session ends as if its connection had dropped: a
// persistent session keeps its unacknowledged QoS 1 and 2 messages (mochi adds each to the
// inflight set before it writes it) and gets them again when it reconnects; QoS 0 messages that
// were queued are lost, as they would be on any broken connection.
//
// The bound counts only what is queued once the session is established. Before that, mochi
// resends a resumed session's unacknowledged messages (up to Options.MaxInflight of them, one
// write each, before it reads anything from the client): that backlog is memory mochi holds for
// the session anyway, and counting it would cut a device that was offline while many events
// came, every time it reconnects. Only the send timeout applies to it, and the bound to what is
// queued beyond it.
type clientConn struct {
	net.Conn
	replay []byte // the bytes the gate read, returned first; mochi's reading goroutine only
	send   *sendPolicy
	raw    syscall.RawConn    // nil where there is no non-blocking write: every write is queued
	rawFn  func(uintptr) bool // c.writeFD, bound once, so a write allocates nothing

	mu sync.Mutex // guards the fields below; the non-blocking write runs under it too
	// queue holds the bytes the socket did not take, oldest first; unsent counts them and those
	// the flusher is writing.
	queue    []byte
	unsent   int
	flushing bool   // the flusher runs: every write is queued
	limit    int    // Limits.SendQueue of the account, set at login
	bounded  bool   // the session is established: limit applies
	backlog  int    // of unsent, what was queued before the session was established
	account  string // the account, once logged in
	ref      string // the session's client ref, once logged in
	err      error  // set once the connection is cut, failed or closed: writes fail with it
	// The non-blocking write's argument and results (see writeFD).
	wbuf []byte
	wn   int
	werr error
}

// sendPolicy is what every clientConn of a broker shares: the bound before login, how long a
// peer may take nothing, and where cuts are counted and logged.
type sendPolicy struct {
	limit int           // the queue bound until the account is known (Limits.SendQueue of devices)
	stall time.Duration // Options.SendTimeout
	// buffer, when set, is each connection's SO_SNDBUF (Options.sendBuffer): tests make it small,
	// since the kernel's autotuned buffers take megabytes on loopback before anything is queued.
	buffer int
	count  *counters
	logs   *logLimiter
	log    zerolog.Logger
}

// ErrSlowClient reports a connection closed because its client did not take what the broker sent
// it: its queue passed Limits.SendQueue, or it took nothing for Options.SendTimeout.
var ErrSlowClient = errors.New("client does not read what it is sent")

func newClientConn(c net.Conn, replay []byte, p *sendPolicy) *clientConn {
	cc := &clientConn{Conn: c, replay: replay, send: p, limit: p.limit}
	if tc, ok := c.(*net.TCPConn); ok && p.buffer > 0 {
		_ = tc.SetWriteBuffer(p.buffer)
	}
	if cc.raw = rawConnOf(c); cc.raw != nil {
		cc.rawFn = cc.writeFD
	}
	return cc
}

// Read returns the replayed bytes first, then reads the connection.
func (c *clientConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		if len(c.replay) == 0 {
			c.replay = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// SetDeadline sets the read deadline only: mochi sets one for the keep-alive before each packet
// it reads, and writes are the connection's own business (see clientConn).
func (c *clientConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline does nothing, for the same reason.
func (c *clientConn) SetWriteDeadline(time.Time) error { return nil }

// setAccount gives the connection its account's bounds, once the account is known: the queue's,
// and the socket's send buffer (Limits.SendBuffer; unless the tests set one for all).
func (c *clientConn) setAccount(name, ref string, limit, buffer int) {
	if tc, ok := c.Conn.(*net.TCPConn); ok && buffer > 0 && c.send.buffer == 0 {
		_ = tc.SetWriteBuffer(buffer)
	}
	c.mu.Lock()
	c.account, c.ref, c.limit = name, ref, limit
	c.mu.Unlock()
}

// established starts bounding the queue: mochi has resent what a resumed session had
// unacknowledged, and what is queued of it is the backlog, which the bound does not count.
func (c *clientConn) established() {
	c.mu.Lock()
	c.bounded, c.backlog = true, c.unsent
	c.mu.Unlock()
}

// Write sends p, or queues what the socket does not take at once; it never waits for the peer.
// It fails once the connection is cut, failed or closed, and cuts it when the queue would pass
// the bound.
func (c *clientConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	n := 0
	if !c.flushing {
		var err error
		if n, err = c.writeNow(p); err != nil {
			c.failLocked(err)
			c.mu.Unlock()
			return n, err
		}
		if n == len(p) {
			c.mu.Unlock()
			return n, nil
		}
	}
	rest := p[n:]
	if c.bounded && c.unsent-c.backlog+len(rest) > c.limit {
		cut := c.cutLocked(cutQueue)
		c.mu.Unlock()
		c.send.logCut(cut)
		return n, ErrSlowClient
	}
	c.queue = append(c.queue, rest...)
	c.unsent += len(rest)
	c.send.count.sendQueued.Add(int64(len(rest)))
	if !c.flushing {
		c.flushing = true
		go c.flush()
	}
	c.mu.Unlock()
	return len(p), nil
}

// writeNow writes what the socket takes of p without waiting. c.mu must be held.
func (c *clientConn) writeNow(p []byte) (int, error) {
	if c.raw == nil {
		return 0, nil
	}
	c.wbuf = p
	err := c.raw.Write(c.rawFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.wn, c.werr = nil, 0, nil
	if err != nil {
		return 0, err
	}
	return n, werr
}

// flush writes the queue until it is empty, then ends; it runs while c.flushing.
func (c *clientConn) flush() {
	for {
		c.mu.Lock()
		b := c.queue
		c.queue = nil
		if len(b) == 0 || c.err != nil {
			c.flushing = false
			if c.err == nil {
				// The next write is a non-blocking one again, which a passed deadline would refuse.
				_ = c.Conn.SetWriteDeadline(time.Time{})
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.sendAll(b) {
			return
		}
	}
}

// sendAll writes b, waiting for the peer as long as it takes some of it within the stall
// timeout; it reports whether all of b was written, and cuts or fails the connection if not.
func (c *clientConn) sendAll(b []byte) bool {
	for len(b) > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.send.stall))
		n, err := c.Conn.Write(b)
		b = b[n:]
		c.mu.Lock()
		if c.err != nil {
			// Closed or cut meanwhile, which dropped what was unsent.
			c.mu.Unlock()
			return false
		}
		c.unsent -= n
		c.backlog = max(0, c.backlog-n) // the oldest bytes go first
		c.send.count.sendQueued.Add(-int64(n))
		switch {
		case err == nil:
		case n > 0 && isTimeout(err):
			// It took some: a slow reader, not a stalled one. Another round.
		case isTimeout(err):
			cut := c.cutLocked(cutStalled)
			c.mu.Unlock()
			c.send.logCut(cut)
			return false
		default:
			c.failLocked(err)
			c.mu.Unlock()
			return false
		}
		c.mu.Unlock()
	}
	return true
}

// Close drops what is queued and closes the connection.
func (c *clientConn) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.dropLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// failLocked ends a connection whose socket failed: mochi's reader then fails too and ends the
// session. c.mu must be held.
func (c *clientConn) failLocked(err error) {
	if c.err == nil {
		c.err = err
	}
	c.dropLocked()
	_ = c.Conn.Close()
}

// dropLocked forgets what was not sent. c.mu must be held.
func (c *clientConn) dropLocked() {
	c.send.count.sendQueued.Add(-int64(c.unsent))
	c.queue, c.unsent, c.backlog = nil, 0, 0
}

// Reasons a connection is cut, as logged.
const (
	cutQueue   = "send queue"
	cutStalled = "stalled"
)

// slowCut is a cut connection, for the log.
type slowCut struct {
	account, ref, remote, bound string
	unsent, limit               int
}

// cutLocked closes a connection whose client does not read what it is sent, counts it, and
// returns what logCut logs. c.mu must be held.
func (c *clientConn) cutLocked(bound string) slowCut {
	cut := slowCut{account: c.account, ref: c.ref, remote: c.Conn.RemoteAddr().String(), bound: bound, unsent: c.unsent, limit: c.limit}
	c.failLocked(ErrSlowClient)
	c.send.count.slowCut.Add(1)
	return cut
}

// logCut logs a cut connection, at most once a minute per account.
func (p *sendPolicy) logCut(cut slowCut) {
	if ok, n := p.logs.allow("slow:" + cut.account); ok {
		e := p.log.Warn().Str("component", "mqtt").Str("account", cut.account)
		if cut.ref != "" {
			e = e.Str("client_ref", cut.ref)
		} else {
			e = e.Str("remote", cut.remote) // before login
		}
		e.Str("bound", cut.bound).Int("unsent", cut.unsent).Int("limit", cut.limit).
			Dur("timeout", p.stall).Int64("suppressed", n).
			Msg("connection closed: the client does not read what the broker sends it")
	}
}
