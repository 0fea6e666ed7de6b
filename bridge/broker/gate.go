package broker

import (
	"container/list"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// maxConnectSize bounds a CONNECT the gate reads, in bytes (the broker's MaxPacketSize, if
// smaller, bounds it too). A CONNECT holds a client id (at most maxClientIDLen bytes), a login
// and Home Assistant's Will ("offline" on its status topic): a few hundred bytes.
const maxConnectSize = 16 << 10

// gate is the broker's listener. mochi allocates a whole client (some 75 KiB: an outbound queue,
// buffers, two goroutines) for each connection it accepts, before the client has sent a byte, and
// sets no deadline for the CONNECT; a cap on such connections, closing new ones when full, let
// 256 idle sockets lock every device out. The gate instead reads each connection's CONNECT itself,
// on one goroutine and a few hundred bytes per connection, with a deadline, and hands mochi only
// connections that sent a whole CONNECT (replaying its bytes), each wrapped so that mochi's writes
// to it never block (see clientConn).
//
// Connections that have not sent their CONNECT yet are pending. When MaxPending of them are held,
// a new connection sheds the oldest pending one, and one source address holds at most
// MaxPendingPerSource (past it, its own oldest is shed): whoever holds sockets open, a fresh
// connection that sends its CONNECT at once always gets through, and one source cannot shed the
// pending connections of others. The accept loop never reads or waits on a socket.
type gate struct {
	ln           net.Listener
	id           string
	timeout      time.Duration // for the whole CONNECT, from accept
	maxPending   int
	perSource    int
	maxConnect   int
	count        *counters
	limit        *logLimiter
	send         *sendPolicy // of the connections it hands mochi
	log          zerolog.Logger
	wg           sync.WaitGroup // the goroutines of pending connections
	acceptWait   time.Duration  // backoff after an accept error; Serve's goroutine only
	closeOnce    sync.Once
	closeClients listeners.CloseFn

	mu       sync.Mutex // guards pending, bySource, closed
	pending  list.List  // of *pendingLogin, oldest first
	bySource map[string]*list.List
	closed   bool
}

// pendingLogin is a connection whose CONNECT the gate is reading.
type pendingLogin struct {
	conn    net.Conn
	source  string
	elem    *list.Element // in gate.pending
	srcElem *list.Element // in gate.bySource[source]
	shed    bool          // closed by the gate to make room
}

var _ listeners.Listener = (*gate)(nil)

func newGate(ln net.Listener, opts Options, count *counters, limit *logLimiter, send *sendPolicy) *gate {
	maxConnect := maxConnectSize
	if int(opts.MaxPacketSize) < maxConnect {
		maxConnect = int(opts.MaxPacketSize)
	}
	return &gate{ln: ln, id: "tcp", timeout: opts.ConnectTimeout, maxPending: opts.MaxPending,
		perSource: min(opts.MaxPendingPerSource, opts.MaxPending), maxConnect: maxConnect,
		count: count, limit: limit, send: send, log: opts.Log.With().Str("component", "mqtt").Logger(),
		bySource: map[string]*list.List{}}
}

func (g *gate) ID() string              { return g.id }
func (g *gate) Address() string         { return g.ln.Addr().String() }
func (g *gate) Protocol() string        { return "tcp" }
func (g *gate) Init(*slog.Logger) error { return nil }
func (g *gate) pendingCount() int       { g.mu.Lock(); defer g.mu.Unlock(); return g.pending.Len() }
func (g *gate) isClosed() (closed bool) { g.mu.Lock(); closed = g.closed; g.mu.Unlock(); return }

// Serve accepts connections until Close, each read on a goroutine of its own.
func (g *gate) Serve(establish listeners.EstablishFn) {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || g.isClosed() {
				return
			}
			// Out of file descriptors, say: wait it out instead of ending the accept loop for good.
			g.acceptWait = min(max(2*g.acceptWait, 5*time.Millisecond), time.Second)
			g.log.Warn().Err(err).Dur("retry_in", g.acceptWait).Msg("accept failed")
			time.Sleep(g.acceptWait)
			continue
		}
		g.acceptWait = 0
		// Whatever the client sent already, without waiting: a device sends its CONNECT right
		// after connecting, and when the accept queue is long (a flood) it is here by now.
		var first [512]byte
		buf := append([]byte(nil), first[:peek(c, first[:])]...)
		total, err := connectTotal(buf, g.maxConnect)
		if err != nil {
			g.refuseJunk(c, err)
			continue
		}
		if total > 0 && len(buf) >= total {
			if g.isClosed() {
				c.Close()
				return
			}
			go g.serve(c, buf, establish) // never pending: nothing to shed
			continue
		}
		p := g.admit(c)
		if p == nil {
			c.Close()
			return
		}
		g.wg.Add(1)
		go g.login(p, buf, establish)
		// Let the new goroutine read before more connections are accepted: under a flood of new
		// connections, a device's pending one must read its CONNECT before it becomes the oldest.
		runtime.Gosched()
	}
}

// admit registers a new pending connection, shedding the oldest pending one of its source, or
// of all, when either is full. It returns nil once the gate is closed.
func (g *gate) admit(c net.Conn) *pendingLogin {
	source := sourceOf(c.RemoteAddr())
	_ = c.SetDeadline(time.Now().Add(g.timeout))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	src := g.bySource[source]
	if src == nil {
		src = list.New()
		g.bySource[source] = src
	}
	var victim *pendingLogin
	switch {
	case src.Len() >= g.perSource:
		victim = src.Front().Value.(*pendingLogin)
	case g.pending.Len() >= g.maxPending:
		victim = g.pending.Front().Value.(*pendingLogin)
	}
	if victim != nil {
		g.removeLocked(victim)
		victim.shed = true
		g.count.loginsShed.Add(1)
		victim.conn.Close() // its goroutine's read fails and it goes
		g.note("shed", victim.conn, "pending connection closed to make room for a new one: too many connections have not logged in")
	}
	p := &pendingLogin{conn: c, source: source}
	p.elem = g.pending.PushBack(p)
	p.srcElem = src.PushBack(p)
	return p
}

// removeLocked forgets a pending connection; g.mu must be held. It reports whether it was still
// pending.
func (g *gate) removeLocked(p *pendingLogin) bool {
	if p.elem == nil {
		return false
	}
	g.pending.Remove(p.elem)
	src := g.bySource[p.source]
	src.Remove(p.srcElem)
	if src.Len() == 0 {
		delete(g.bySource, p.source)
	}
	p.elem, p.srcElem = nil, nil
	return true
}

// login reads the rest of a pending connection's CONNECT (buf holds its start) and hands the
// connection to mochi, or closes it.
func (g *gate) login(p *pendingLogin, buf []byte, establish listeners.EstablishFn) {
	connect, err := readConnect(p.conn, buf, g.maxConnect)
	g.mu.Lock()
	still := g.removeLocked(p)
	closed := g.closed
	g.mu.Unlock()
	g.wg.Done() // Close waits for the pending only, not for the sessions mochi serves
	if err != nil || !still || closed {
		switch {
		case p.shed || closed:
			p.conn.Close()
		case isJunk(err):
			g.refuseJunk(p.conn, err)
		case isTimeout(err):
			g.count.loginTimeouts.Add(1)
			g.note("timeout", p.conn, "connection closed before login: no whole CONNECT in time")
			p.conn.Close()
		default:
			p.conn.Close() // the client went away
		}
		return
	}
	_ = p.conn.SetDeadline(time.Time{}) // admit's, for the CONNECT; mochi sets its own
	g.serve(p.conn, connect, establish)
}

// serve hands a connection whose CONNECT the gate read (and buf holds) to mochi, as a clientConn:
// its writes never block mochi.
func (g *gate) serve(c net.Conn, buf []byte, establish listeners.EstablishFn) {
	err := establish(g.id, newClientConn(c, buf, g.send))
	g.logEstablish(c, err)
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isJunk reports whether a connection's first bytes are no CONNECT the gate takes.
func isJunk(err error) bool {
	return errors.Is(err, errNotConnect) || errors.Is(err, packets.ErrPacketTooLarge) || errors.Is(err, packets.ErrMalformedVariableByteInteger)
}

// refuseJunk counts, notes and closes a connection whose first bytes are no CONNECT.
func (g *gate) refuseJunk(c net.Conn, _ error) {
	g.count.loginsMalformed.Add(1)
	g.note("malformed", c, "connection closed before login: its first packet is no CONNECT the broker takes")
	c.Close()
}

// errNotConnect reports a connection whose first byte is not a CONNECT's.
var errNotConnect = errors.New("first packet is not a CONNECT")

// connectTotal returns the size of the CONNECT whose first bytes buf holds (fixed header and
// body), 0 while its header is incomplete, or an error when buf starts no CONNECT of at most max
// bytes.
func connectTotal(buf []byte, max int) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if buf[0] != packets.Connect<<4 {
		return 0, errNotConnect
	}
	n, shift := 0, 0
	for i := 1; i < 5; i++ {
		if i >= len(buf) {
			return 0, nil
		}
		n |= int(buf[i]&0x7f) << shift
		shift += 7
		if buf[i]&0x80 == 0 {
			if i+1+n > max {
				return 0, packets.ErrPacketTooLarge
			}
			return i + 1 + n, nil
		}
	}
	return 0, packets.ErrMalformedVariableByteInteger
}

// readConnect reads until buf holds a whole CONNECT of at most max bytes, growing buf only as
// bytes arrive: a connection that announces a large CONNECT and sends nothing costs nothing.
func readConnect(c net.Conn, buf []byte, max int) ([]byte, error) {
	var chunk [512]byte
	for {
		total, err := connectTotal(buf, max)
		if err != nil {
			return nil, err
		}
		want := 1 // the fixed header, a byte at a time: it is at most 5
		if total > 0 {
			if len(buf) >= total {
				return buf, nil
			}
			want = min(len(chunk), total-len(buf))
		}
		k, err := c.Read(chunk[:want])
		buf = append(buf, chunk[:k]...)
		if err != nil && k == 0 {
			return nil, err
		}
	}
}

// Close stops accepting, closes the pending connections, has mochi close its clients, and waits
// for the pending connections' goroutines.
func (g *gate) Close(closeClients listeners.CloseFn) {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		for e := g.pending.Front(); e != nil; e = e.Next() {
			e.Value.(*pendingLogin).conn.Close()
		}
		g.mu.Unlock()
		g.ln.Close()
		g.wg.Wait()
		closeClients(g.id)
	})
}

// note logs a connection the gate closed, at most once a minute per kind, with the remote
// address of the latest and how many were not logged.
func (g *gate) note(kind string, c net.Conn, msg string) {
	if ok, n := g.limit.allow("gate:" + kind); ok {
		g.log.Warn().Str("remote", c.RemoteAddr().String()).Int64("suppressed", n).Msg(msg)
	}
}

// logEstablish logs how a connection mochi served ended: refusals at most once a minute (the
// hooks log their own with the account), the rest at debug level.
func (g *gate) logEstablish(c net.Conn, err error) {
	var ce *ConnectError
	switch {
	case err == nil || errors.As(err, &ce):
	case errors.Is(err, packets.ErrBadUsernameOrPassword):
		g.note("auth", c, "login refused: bad username or password, or a reserved client id")
	case errors.Is(err, packets.ErrServerBusy):
		g.count.loginsBusy.Add(1)
		g.note("busy", c, "login refused: the broker holds as many clients as it may (MaxClients)")
	default:
		g.log.Debug().Str("remote", c.RemoteAddr().String()).Err(err).Msg("connection ended")
	}
}

// sourceOf is the source a pending connection counts against: its IP address, or, for IPv6, its
// /64 (one host usually holds a whole /64, and could otherwise open 512 pending connections from
// each of its addresses).
func sourceOf(a net.Addr) string {
	s := a.String()
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return s
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return ratelimit.SourceKey(ip).String()
}
