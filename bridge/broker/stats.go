package broker

import (
	"sync"
	"sync/atomic"
	"time"
)

// counters are the broker's own counters, shared by its hooks and listener.
type counters struct {
	dropped       atomic.Int64
	loginsRefused atomic.Int64
	willsRefused  atomic.Int64

	sessionsRefused      atomic.Int64
	subscriptionsRefused atomic.Int64
	subscribesRefused    atomic.Int64
	unsubscribesRefused  atomic.Int64
	expiryCapped         atomic.Int64
	retainedRefused      atomic.Int64
	qos2Refused          atomic.Int64

	loginsShed      atomic.Int64
	loginTimeouts   atomic.Int64
	loginsMalformed atomic.Int64
	loginsBusy      atomic.Int64

	slowCut    atomic.Int64
	sendQueued atomic.Int64
}

// Stats are the broker's counters.
type Stats struct {
	Clients         int64
	Subscriptions   int64
	Inflight        int64
	Retained        int64
	Dropped         int64 // messages not queued for a session: full outbound queue or inflight quota
	InflightDropped int64

	// LoginsRefused counts CONNECTs refused for bad credentials.
	LoginsRefused int64
	// WillsRefused counts CONNECTs refused because the account may not publish their Will.
	WillsRefused int64

	// One counter per Limits bound. SessionsRefused counts CONNECTs refused past Sessions or
	// PersistentSessions;
	// SubscriptionsRefused counts filters refused past Subscriptions; SubscribesRefused and
	// UnsubscribesRefused count SUBSCRIBE and UNSUBSCRIBE packets refused whole past Filters;
	// ExpiryCapped counts MQTT 5 CONNECTs whose session expiry was shortened to SessionExpiry;
	// RetainedRefused counts retained messages refused past RetainedMessages, RetainedBytes or
	// RetainedMessageSize: PUBLISHes refused or dropped, Wills published without being retained,
	// and CONNECTs refused for a retained Will larger than RetainedMessageSize.
	SessionsRefused      int64
	SubscriptionsRefused int64
	SubscribesRefused    int64
	UnsubscribesRefused  int64
	ExpiryCapped         int64
	RetainedRefused      int64
	// QoS2Refused counts QoS 2 PUBLISHes refused because their session held MaxInflight
	// messages awaiting acknowledgement.
	QoS2Refused int64

	// The login gate. PendingLogins is how many connections have not sent their CONNECT yet;
	// LoginsShed counts pending ones closed to make room for newer ones (MaxPending,
	// MaxPendingPerSource); LoginTimeouts counts those with no whole CONNECT in ConnectTimeout;
	// LoginsMalformed those whose first packet was no CONNECT, or too large; LoginsBusy the CONNECTs
	// refused because the broker held MaxClients clients.
	PendingLogins   int64
	LoginsShed      int64
	LoginTimeouts   int64
	LoginsMalformed int64
	LoginsBusy      int64

	// SlowClientsCut counts connections closed because their client did not read what the broker
	// sent it: its queue would have passed Limits.SendQueue, or it took nothing for SendTimeout.
	SlowClientsCut int64
	// SendQueued is how many bytes the broker holds now for connections whose client has not
	// taken them yet (see Limits.SendQueue).
	SendQueued int64
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	i := b.srv.Info
	s := Stats{
		Clients:         atomic.LoadInt64(&i.ClientsConnected),
		Subscriptions:   atomic.LoadInt64(&i.Subscriptions),
		Inflight:        atomic.LoadInt64(&i.Inflight),
		Retained:        atomic.LoadInt64(&i.Retained),
		Dropped:         b.count.dropped.Load(),
		InflightDropped: atomic.LoadInt64(&i.InflightDropped),
		LoginsRefused:   b.count.loginsRefused.Load(),
		WillsRefused:    b.count.willsRefused.Load(),

		SessionsRefused:      b.count.sessionsRefused.Load(),
		SubscriptionsRefused: b.count.subscriptionsRefused.Load(),
		SubscribesRefused:    b.count.subscribesRefused.Load(),
		UnsubscribesRefused:  b.count.unsubscribesRefused.Load(),
		ExpiryCapped:         b.count.expiryCapped.Load(),
		RetainedRefused:      b.count.retainedRefused.Load(),
		QoS2Refused:          b.count.qos2Refused.Load(),

		LoginsShed:      b.count.loginsShed.Load(),
		LoginTimeouts:   b.count.loginTimeouts.Load(),
		LoginsMalformed: b.count.loginsMalformed.Load(),
		LoginsBusy:      b.count.loginsBusy.Load(),

		SlowClientsCut: b.count.slowCut.Load(),
		SendQueued:     b.count.sendQueued.Load(),
	}
	if b.gate != nil {
		s.PendingLogins = int64(b.gate.pendingCount())
	}
	return s
}

// logLimiter lets a log line through at most once per interval per key; the keys are few (an
// account or a kind of event), never a remote address.
type logLimiter struct {
	every time.Duration

	mu         sync.Mutex // guards last and suppressed
	last       map[string]time.Time
	suppressed map[string]int64
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: map[string]time.Time{}, suppressed: map[string]int64{}}
}

// allow reports whether a line for key may be logged now, and how many were held back since the
// last one that was.
func (l *logLimiter) allow(key string) (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.suppressed[key]++
		return false, 0
	}
	l.last[key] = now
	n := l.suppressed[key]
	delete(l.suppressed, key)
	return true, n
}
