package receiver

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// MaxConns is how many partner connections the listener keeps open at once. The server's timeouts
// bound how long each one lasts, but not how many there are: without a cap, connections opened
// faster than they time out would take memory (some 15 KB each) the home's other apps share.
// A home's vendors need a few dozen at a burst.
const MaxConns = 512

// Limit wraps ln so that srv holds at most limit connections. When a new connection arrives at the
// cap, the keep-alive connection idle the longest is closed to make room (its client reconnects);
// with none idle, the new one waits until a connection ends (a slow client's ends by the server's
// timeouts). It chains srv.ConnState, so call it after setting that, before serving. stats, when
// not nil, counts for metrics.
func Limit(srv *http.Server, ln net.Listener, limit int, stats *ConnStats, log zerolog.Logger) *LimitListener {
	if stats == nil {
		stats = new(ConnStats)
	}
	l := &LimitListener{
		Listener: ln,
		stats:    stats,
		slots:    make(chan struct{}, limit),
		idle:     map[*limitedConn]time.Time{},
		done:     make(chan struct{}),
		log:      log,
	}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if lc, ok := c.(*limitedConn); ok && lc.l == l {
			l.mu.Lock()
			if s == http.StateIdle {
				l.idle[lc] = time.Now()
			} else {
				delete(l.idle, lc)
			}
			l.mu.Unlock()
		}
		if next != nil {
			next(c, s)
		}
	}
	return l
}

// LimitListener is a listener that caps its open connections; see Limit.
type LimitListener struct {
	net.Listener
	slots chan struct{} // one per open connection

	mu   sync.Mutex
	idle map[*limitedConn]time.Time // keep-alive connections waiting for a request, since when

	stats     *ConnStats
	closeOnce sync.Once
	done      chan struct{}
	lastWarn  atomic.Int64 // unix nanos of the last warning
	log       zerolog.Logger
}

// Accept returns the next connection once it has a slot.
func (l *LimitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
		l.stats.open.Add(1)
		return &limitedConn{Conn: c, l: l}, nil
	default:
	}
	if l.shedIdle() {
		l.stats.shed.Add(1)
	} else {
		l.stats.waited.Add(1)
		l.warn()
	}
	select {
	case l.slots <- struct{}{}:
		l.stats.open.Add(1)
		return &limitedConn{Conn: c, l: l}, nil
	case <-l.done:
		c.Close()
		return nil, net.ErrClosed
	}
}

// shedIdle closes the connection idle the longest, if any; its slot frees when it is closed.
func (l *LimitListener) shedIdle() bool {
	l.mu.Lock()
	var oldest *limitedConn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close()
	return true
}

// warn logs, at most once a minute, that new connections wait for a slot.
func (l *LimitListener) warn() {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(time.Minute) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn().Int("max_connections", cap(l.slots)).Uint64("waited_total", l.stats.Waited()).
		Msg("partner connections at the cap, none idle: new ones wait for a slow one to time out")
}

// Close stops accepting; connections waiting for a slot are closed.
func (l *LimitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Stats returns the listener's counters.
func (l *LimitListener) Stats() *ConnStats { return l.stats }

// ConnStats counts a capped listener's connections.
type ConnStats struct {
	open   atomic.Int64  // connections holding a slot
	shed   atomic.Uint64 // idle connections closed to make room
	waited atomic.Uint64 // connections that waited for a slot
}

// Open is how many connections hold a slot.
func (s *ConnStats) Open() int64 { return s.open.Load() }

// Shed is how many idle keep-alive connections were closed to make room.
func (s *ConnStats) Shed() uint64 { return s.shed.Load() }

// Waited is how many connections had to wait for a slot.
func (s *ConnStats) Waited() uint64 { return s.waited.Load() }

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l    *LimitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
		c.l.stats.open.Add(-1)
	})
	return err
}
