package broker

import (
	"errors"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Limits bound what one account may hold on the broker, so that one account cannot degrade the
// others (finding: one device account with 2,000 persistent sessions slowed every webhook from 3
// to 400 ms and cost 200 MB). A zero field takes the default of the account's kind.
type Limits struct {
	// Sessions bounds the account's sessions: connected ones and offline persistent ones. Past it
	// a CONNECT that would add one is refused: MQTT 5 0x97 (quota exceeded), 3.1.1 return code 3
	// (server unavailable). Taking over one of its own sessions (the same client id) is allowed.
	Sessions int
	// PersistentSessions bounds those of its sessions that outlive their connection (3.1.1 clean
	// session off, a v5 session expiry), connected or not; a CONNECT asking for one more is refused
	// the same way. These are what cost every event: each queues a durable copy of every message
	// it subscribed to, one more write in the event's transaction.
	PersistentSessions int
	// Subscriptions bounds one session's subscriptions. Past it each new filter of a SUBSCRIBE is
	// refused: 0x97 in the SUBACK (3.1.1: 0x80).
	Subscriptions int
	// Filters bounds the filters of one SUBSCRIBE or UNSUBSCRIBE. A SUBSCRIBE with more is
	// refused whole: every filter gets 0x97 (3.1.1: 0x80); an UNSUBSCRIBE with more too: every
	// filter gets 0x83 (MQTT 5 allows no quota code in an UNSUBACK), and a 3.1.1 client, whose
	// UNSUBACK carries no codes, has its connection closed.
	Filters int
	// SessionExpiry bounds how long an offline persistent session is kept (MQTT 5 clients are
	// told in the CONNACK; a 3.1.1 session without clean session gets it too).
	SessionExpiry time.Duration
	// RetainedMessages and RetainedBytes bound the retained messages the account's clients keep
	// on the broker (PUBLISH with the retain flag, and retained Wills), in number and in what
	// they cost the broker (retainedCost: their bytes, and what mochi spends on each besides);
	// RetainedMessageSize bounds the size of one (its topic, payload and properties). See
	// retainQuota for what happens past a bound. Only accounts with write rules can publish.
	RetainedMessages    int
	RetainedBytes       int64
	RetainedMessageSize int
	// SendQueue bounds the bytes the broker holds for one of the account's connections because
	// its client's socket did not take them at once (see clientConn). A write that would pass it
	// closes the connection: a client that reads nothing cannot hold up publishing, nor make
	// the broker keep more than this for it.
	SendQueue int
	// SendBuffer, when positive, is the SO_SNDBUF of the account's connections, set at login:
	// what the kernel may hold for one of them on top of SendQueue (Linux doubles it for its
	// bookkeeping). Zero leaves the kernel's autotuning, which grows a connection's buffer to
	// some 4 MiB.
	SendBuffer int
}

// Default limits. A device (an account without write rules) is one panel, tablet or
// microcontroller, or a few sharing a login: it needs a persistent session or two (a few more
// while it reconnects with fresh client ids), a subscription per topic it shows, and a day of
// queued events to ride out a reboot or a Wi-Fi outage; its retained states come back on
// resubscribe anyway. The account with write rules is Home Assistant: its MQTT integration
// subscribes once per entity topic, batches up to 500 filters in one SUBSCRIBE (and in one
// UNSUBSCRIBE), and an operator may run more than one tool under that login. What it may retain
// is MQTT discovery from tools that log in with it: one config per entity under homeassistant/,
// of one to a few KiB (a Zigbee2MQTT entity's about 1.5 KiB, a Tasmota light's 0.9); a large
// home has a few thousand (one with 49 Zigbee and Z-Wave devices had 1,104). A 1.2 KiB config
// costs about 4.5 KiB (retainedCost): 16 MiB hold some 3,600. Home Assistant's own MQTT
// integration retains nothing by default, and Hookbridge's discovery and entity configs go
// through the broker's inline client and count against no account. 16 MiB of the largest
// messages allowed raised the binary's RSS by 31 to 42 MiB (TestDeviceWriterRetainedBounded),
// under the 60 MB issue 12 allowed one account's attack. A device cannot publish, so its
// retained bounds never come into play.
//
// SendQueue must hold a burst an honest client takes a moment to read, beyond what its socket
// buffers hold: the largest is the retained messages of all its subscriptions at once, when it
// subscribes again after a reconnect. A lock state is some 150 to 250 bytes on the wire, so a
// device's 1 MiB holds 4,000 or more of them (the crash test's device re-subscribes to 2,000),
// about what mochi's outbound queue of 5,120 packets held of them before; a hostile device
// account can make the broker hold 32 sessions' worth, 32 MiB. Home Assistant reads every
// retained message under the prefix and its own discovery (up to RetainedBytes): 16 MiB. Only
// a connection whose client falls behind holds any of it. What a resumed session had queued while
// offline (MaxInflight messages at most, resent at once on reconnect) is not counted against it.
//
// SendBuffer bounds the kernel's share: left to autotuning, a device connection that stops
// reading could pin some 4 MiB of socket buffer besides its 1 MiB queue, 160 MiB for one device
// account's 32 sessions. A device reads a few messages a minute; 128 KiB (256 KiB as Linux
// counts it) takes a burst of 500 lock states before the queue holds any. Home Assistant's
// connection keeps autotuning: it reads every message, fast.
var (
	DefaultDeviceLimits = Limits{Sessions: 32, PersistentSessions: 8, Subscriptions: 256, Filters: 32, SessionExpiry: 24 * time.Hour,
		RetainedMessages: 10_000, RetainedBytes: 16 << 20, RetainedMessageSize: 64 << 10, SendQueue: 1 << 20, SendBuffer: 128 << 10}
	DefaultWriterLimits = Limits{Sessions: 64, PersistentSessions: 16, Subscriptions: 10_000, Filters: 1_000, // SessionExpiry: Options.SessionExpiry
		RetainedMessages: 10_000, RetainedBytes: 16 << 20, RetainedMessageSize: 64 << 10, SendQueue: 16 << 20}
)

// withDefaults fills l's zero fields from d, and bounds the expiry by max.
func (l Limits) withDefaults(d Limits, max time.Duration) Limits {
	orDefault(&l.Sessions, d.Sessions)
	orDefault(&l.PersistentSessions, d.PersistentSessions)
	orDefault(&l.Subscriptions, d.Subscriptions)
	orDefault(&l.Filters, d.Filters)
	orDefault(&l.SessionExpiry, d.SessionExpiry)
	orDefault(&l.RetainedMessages, d.RetainedMessages)
	orDefault(&l.RetainedBytes, d.RetainedBytes)
	orDefault(&l.RetainedMessageSize, d.RetainedMessageSize)
	orDefault(&l.SendQueue, d.SendQueue)
	orDefault(&l.SendBuffer, d.SendBuffer)
	if l.SessionExpiry <= 0 || l.SessionExpiry > max {
		l.SessionExpiry = max
	}
	return l
}

// orDefault sets *v to d unless *v is positive.
func orDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// ErrSessionQuota reports a CONNECT refused because its account holds Limits.Sessions sessions,
// or Limits.PersistentSessions persistent ones and it asked for one more.
var ErrSessionQuota = errors.New("too many sessions for the account")

// checkSessions refuses a CONNECT that would give its account one session, or one persistent
// session, more than its bounds. Sessions in mochi's table are counted, and so are CONNECTs past
// this check that mochi has not added yet, or a burst of concurrent CONNECTs would all pass.
// cl.ID is the session id.
func (h *authHook) checkSessions(cl *mqtt.Client, a *account) error {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	all, persistent := 0, 0
	h.eachSessionLocked(a.name, func(c *mqtt.Client) {
		if c.ID == cl.ID {
			return // resuming or taking over one of its own sessions adds none
		}
		all++
		if !cleanSession(c) {
			persistent++
		}
	})
	over, kind, n, limit := false, "", 0, 0
	switch {
	case all >= a.limits.Sessions:
		over, kind, n, limit = true, "sessions", all, a.limits.Sessions
	case !cleanSession(cl) && persistent >= a.limits.PersistentSessions:
		over, kind, n, limit = true, "persistent sessions", persistent, a.limits.PersistentSessions
	}
	if over {
		h.count.sessionsRefused.Add(1)
		if ok, s := h.limit.allow("sessions:" + a.name); ok {
			h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("remote", cl.Net.Remote).
				Str("bound", kind).Int("sessions", n).Int("limit", limit).Int64("suppressed", s).
				Msg("login refused: the account holds as many sessions as it may")
		}
		return refuse(cl, a.name, packets.ErrQuotaExceeded, packets.Err3ServerUnavailable.Code, ErrSessionQuota)
	}
	innerMap(h.sessions, a.name)[cl] = struct{}{}
	return nil
}

// eachSessionLocked calls fn for each of an account's sessions, pruning the index of entries that
// are no longer: replaced in mochi's table (taken over) or gone from it, and not connecting
// either. A takeover under way may show its session twice, for a moment. h.sessMu must be held.
func (h *authHook) eachSessionLocked(name string, fn func(*mqtt.Client)) {
	h.seedLocked()
	for c := range h.sessions[name] {
		cur, ok := h.clients.Get(c.ID)
		switch {
		case ok && cur == c:
		case !ok && !c.Closed() && !c.IsTakenOver():
			// Connecting: past checkSessions, not yet in the table.
		default:
			delete(h.sessions[name], c)
			continue
		}
		fn(c)
	}
}

// seedLocked indexes the sessions mochi restored from the store, once: the first CONNECT and the
// first sweep both come after mochi read the store. h.sessMu must be held.
func (h *authHook) seedLocked() {
	if h.seeded {
		return
	}
	for id, c := range h.clients.GetAll() {
		if u, _, ok := splitSessionID(id); ok {
			innerMap(h.sessions, u)[c] = struct{}{}
		}
	}
	h.seeded = true
}

// allSessions returns every live session of every account.
func (h *authHook) allSessions() []*mqtt.Client {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	h.seedLocked()
	var out []*mqtt.Client
	for name := range h.sessions {
		h.eachSessionLocked(name, func(c *mqtt.Client) { out = append(out, c) })
	}
	return out
}

// capExpiry bounds a session's expiry by its account's. A v5 client asked for its own, which
// mochi caps at the broker's maximum only; a 3.1.1 persistent session has none, and the expiry
// sweeper applies the account's (see Broker.sessionExpiry).
func (h *authHook) capExpiry(cl *mqtt.Client, a *account) {
	limit := uint32(a.limits.SessionExpiry / time.Second)
	p := &cl.Properties.Props
	if cl.Properties.ProtocolVersion == 5 && p.SessionExpiryInterval > limit {
		p.SessionExpiryInterval = limit
		p.SessionExpiryIntervalFlag = true
		h.count.expiryCapped.Add(1)
	}
}

// ackPlan records which filters of a SUBSCRIBE OnSubscribe refused, or of an UNSUBSCRIBE
// OnUnsubscribe refused, so that the SUBACK or UNSUBACK can get one code per filter back: mochi
// answers only the filters left in the packet.
type ackPlan struct {
	ack     byte   // packets.Suback or packets.Unsuback
	refused []bool // by the filter's index in the client's packet
}

// setPlan records the plan of a client's packet; OnPacketEncode takes it.
func (h *authHook) setPlan(cl *mqtt.Client, id uint16, plan ackPlan) {
	h.planMu.Lock()
	defer h.planMu.Unlock()
	m := innerMap(h.plans, cl)
	m[id] = plan
}

// takePlan returns and forgets the plan for an acknowledgement, if any.
func (h *authHook) takePlan(cl *mqtt.Client, pk packets.Packet) (ackPlan, bool) {
	h.planMu.Lock()
	defer h.planMu.Unlock()
	plan, ok := h.plans[cl][pk.PacketID]
	if !ok || plan.ack != pk.FixedHeader.Type {
		return ackPlan{}, false
	}
	delete(h.plans[cl], pk.PacketID)
	return plan, true
}

// OnSubscribe makes the account's shared subscription groups its own (see privateShares), and
// enforces Limits.Filters and Limits.Subscriptions: it takes the filters past a bound out of the
// SUBSCRIBE before mochi looks at them (no ACL check, no index, nothing stored), and
// OnPacketEncode puts a quota-exceeded code for each back into the SUBACK.
func (h *authHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	a, ok := h.accounts[string(cl.Properties.Username)]
	if !ok {
		return pk
	}
	pk.Filters = a.privateShares(pk.Filters)
	n := len(pk.Filters)
	plan := ackPlan{ack: packets.Suback, refused: make([]bool, n)}
	refused := 0
	if n > a.limits.Filters {
		for i := range plan.refused {
			plan.refused[i] = true
		}
		refused = n
		h.count.subscribesRefused.Add(1)
		if ok, s := h.limit.allow("filters:" + a.name); ok {
			h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("client_ref", h.refs.of(cl.ID)).
				Int("filters", n).Int("limit", a.limits.Filters).Int64("suppressed", s).
				Msg("subscribe refused: more filters in one SUBSCRIBE than allowed")
		}
	} else {
		have := cl.State.Subscriptions.Len()
		seen := map[string]bool{}
		for i, f := range pk.Filters {
			if _, ok := cl.State.Subscriptions.Get(f.Filter); ok || seen[f.Filter] {
				continue
			}
			if have < a.limits.Subscriptions {
				have++
				seen[f.Filter] = true
				continue
			}
			plan.refused[i] = true
			refused++
		}
		if refused > 0 {
			h.count.subscriptionsRefused.Add(int64(refused))
			if ok, s := h.limit.allow("subscriptions:" + a.name); ok {
				h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("client_ref", h.refs.of(cl.ID)).
					Int("refused", refused).Int("limit", a.limits.Subscriptions).Int64("suppressed", s).
					Msg("subscriptions refused: the session holds as many as it may")
			}
		}
	}
	if refused == 0 {
		return pk
	}
	kept := make(packets.Subscriptions, 0, n-refused)
	for i, f := range pk.Filters {
		if !plan.refused[i] {
			kept = append(kept, f)
		}
	}
	pk.Filters = kept
	h.setPlan(cl, pk.PacketID, plan)
	return pk
}

// OnUnsubscribe renames shared subscription groups the way OnSubscribe did, and enforces
// Limits.Filters on an MQTT 5 UNSUBSCRIBE (OnPacketRead does on a 3.1.1 one): one with more
// filters is refused whole, before mochi looks at a filter or the store writes anything, and
// OnPacketEncode answers each filter with 0x83 (implementation specific error: "the UNSUBSCRIBE
// is valid but the Server does not accept it"; quota exceeded is not among the UNSUBACK codes
// MQTT 5 allows) and the reason string "quota exceeded". The session's subscriptions stay.
func (h *authHook) OnUnsubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	a, ok := h.accounts[string(cl.Properties.Username)]
	if !ok {
		return pk
	}
	if n := len(pk.Filters); n > a.limits.Filters {
		h.unsubscribeRefused(cl, a, n)
		plan := ackPlan{ack: packets.Unsuback, refused: make([]bool, n)}
		for i := range plan.refused {
			plan.refused[i] = true
		}
		h.setPlan(cl, pk.PacketID, plan)
		pk.Filters = nil
		return pk
	}
	pk.Filters = a.privateShares(pk.Filters)
	return pk
}

// OnPacketRead copies what mochi may keep of a client's PUBLISH or SUBSCRIBE out of the
// packet's buffer (see unpinPublish), and closes the connection of an MQTT 3.1.1 client whose
// UNSUBSCRIBE holds more than its account's Limits.Filters: a 3.1.1 UNSUBACK has no codes, so
// closing is the only refusal the client can see. mochi ends the connection when this returns
// ErrRejectPacket.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch {
	case cl.Net.Inline:
	case pk.FixedHeader.Type == packets.Publish:
		pk = unpinPublish(pk)
	case pk.FixedHeader.Type == packets.Subscribe:
		pk.Filters = unpinFilters(pk.Filters)
	case pk.FixedHeader.Type == packets.Unsubscribe && cl.Properties.ProtocolVersion < 5:
		a, ok := h.accounts[string(cl.Properties.Username)]
		if ok && len(pk.Filters) > a.limits.Filters {
			h.unsubscribeRefused(cl, a, len(pk.Filters))
			return pk, packets.ErrRejectPacket
		}
	}
	return pk, nil
}

// unsubscribeRefused counts and logs an UNSUBSCRIBE refused past Limits.Filters.
func (h *authHook) unsubscribeRefused(cl *mqtt.Client, a *account, n int) {
	h.count.unsubscribesRefused.Add(1)
	if ok, s := h.limit.allow("unsubscribe:" + a.name); ok {
		h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("client_ref", h.refs.of(cl.ID)).
			Int("filters", n).Int("limit", a.limits.Filters).Int64("suppressed", s).
			Msg("unsubscribe refused: more filters in one UNSUBSCRIBE than allowed")
	}
}

// OnPacketEncode gives a SUBACK one code per filter of the client's SUBSCRIBE again, with the
// quota code for the filters OnSubscribe took out, and an UNSUBACK OnUnsubscribe refused its
// codes; and tells a v5 client its session expiry in
// the CONNACK (it may be shorter than asked for).
func (h *authHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Unsuback:
		plan, ok := h.takePlan(cl, pk)
		if !ok {
			return pk
		}
		pk.ReasonCodes = make([]byte, len(plan.refused))
		for i := range pk.ReasonCodes {
			pk.ReasonCodes[i] = packets.ErrImplementationSpecificError.Code
		}
		pk.Properties.ReasonString = packets.ErrQuotaExceeded.Reason
	case packets.Suback:
		plan, ok := h.takePlan(cl, pk)
		if !ok {
			return pk
		}
		quota := packets.ErrQuotaExceeded.Code
		if cl.Properties.ProtocolVersion < 5 {
			quota = packets.ErrUnspecifiedError.Code // 3.1.1 knows only 0x80
		} else {
			pk.Properties.ReasonString = packets.ErrQuotaExceeded.Reason
		}
		codes := make([]byte, len(plan.refused))
		j := 0
		for i, r := range plan.refused {
			if r || j >= len(pk.ReasonCodes) {
				codes[i] = quota
				continue
			}
			codes[i] = pk.ReasonCodes[j]
			j++
		}
		pk.ReasonCodes = codes
	case packets.Connack:
		if cl.Properties.ProtocolVersion == 5 && pk.ReasonCode == 0 && cl.Properties.Props.SessionExpiryIntervalFlag {
			pk.Properties.SessionExpiryInterval = cl.Properties.Props.SessionExpiryInterval
			pk.Properties.SessionExpiryIntervalFlag = true
		}
	}
	return pk
}

// OnDisconnect forgets a client's pending SUBACK and UNSUBACK plans.
func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.planMu.Lock()
	delete(h.plans, cl)
	h.planMu.Unlock()
}

// sweepSessions deletes offline persistent sessions past their account's expiry. mochi expires
// sessions by the broker-wide maximum (and a v5 client's own, which OnConnect capped); a 3.1.1
// session has no expiry of its own, so a device's would otherwise last that maximum.
//
// It also deletes clean sessions that outlived their connection by more than a few seconds:
// mochi forgets a clean session when its connection ends, except when it could not send the
// CONNACK (the client reset the connection first), which leaves the session in its table until
// the broker-wide expiry, counted against its account's bound.
func (b *Broker) sweepSessions(now time.Time) {
	for _, cl := range b.auth.allSessions() {
		id := cl.ID
		stop := cl.StopTime()
		if stop == 0 || !cl.Closed() || cl.IsTakenOver() {
			continue
		}
		expiry := b.sessionExpiry(cl)
		if cleanSession(cl) {
			expiry = leakedCleanSession
		}
		if time.Unix(stop, 0).Add(expiry).After(now) {
			continue
		}
		if cur, ok := b.srv.Clients.Get(id); !ok || cur != cl {
			continue
		}
		if err := b.endSession(cl, packets.ErrSessionTakenOver); err != nil {
			b.log.Error().Str("component", "mqtt").Err(err).Msg("expire session")
		}
	}
}

// leakedCleanSession is how long after its connection ended a clean session still in mochi's
// table is taken for one mochi left behind: far longer than mochi takes to forget one.
const leakedCleanSession = 10 * time.Second

// sweepLoop runs sweepSessions every second until done closes.
func (b *Broker) sweepLoop(done <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			b.sweepSessions(now)
		}
	}
}

// innerMap returns m[k], made and stored first if m has none.
func innerMap[K, K2 comparable, V any](m map[K]map[K2]V, k K) map[K2]V {
	in := m[k]
	if in == nil {
		in = map[K2]V{}
		m[k] = in
	}
	return in
}
