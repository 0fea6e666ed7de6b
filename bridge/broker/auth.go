package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/acl"
)

// Account is one MQTT login on the embedded broker.
type Account struct {
	Username string
	Password string
	// Read lists absolute topic filters the account may subscribe to.
	Read []string
	// Write lists absolute topic filters the account may publish to. Only an account with write
	// rules may set a Will, and only on a topic they match.
	Write []string
	// Limits override the account's bounds; zero fields take Options.DeviceLimits, or
	// Options.WriterLimits for an account with write rules.
	Limits Limits
}

type account struct {
	name   string
	digest [sha256.Size]byte
	read   acl.Filters
	write  acl.Filters
	limits Limits
	// shareTag prefixes the account's shared subscription group names (see privateShares).
	shareTag string
}

// privateShares renames the group of each well-formed "$share/{group}/{filter}" to one of the
// account's own: mochi keys shared groups by name alone, so another account joining the same
// group took messages away from the first. The tag is a digest of the username (a username may
// hold characters a group may not) of fixed length, so two accounts' names never meet. The ACL
// still judges {filter}; a malformed shared filter is left for mochi and the ACL to refuse.
// The client never sees the group name again (a SUBACK carries codes only), and its UNSUBSCRIBE
// is renamed the same way.
func (a *account) privateShares(fs packets.Subscriptions) packets.Subscriptions {
	var out packets.Subscriptions
	for i, f := range fs {
		rest, ok := strings.CutPrefix(f.Filter, "$share/")
		if !ok {
			continue
		}
		group, filter, found := strings.Cut(rest, "/")
		if !found || group == "" || filter == "" || strings.ContainsAny(group, "+#") {
			continue
		}
		if out == nil {
			out = append(packets.Subscriptions(nil), fs...) // the packet mochi holds stays as read
		}
		out[i].Filter = "$share/" + a.shareTag + "." + group + "/" + filter
	}
	if out == nil {
		return fs
	}
	return out
}

// maxTopicLen bounds a topic name or filter an account may use, in bytes: the store keys
// retained messages by topic, and a key past bbolt's 32 KiB fails the whole transaction it is
// in, the events that share it included.
const maxTopicLen = 1024

// mayPublish reports whether the account may publish to a topic name (wildcards never).
func (a *account) mayPublish(topic string) bool {
	return len(topic) <= maxTopicLen && !strings.ContainsAny(topic, "+#") && a.write.Matches(topic)
}

// ErrWillRefused reports a CONNECT whose Will the account may not publish.
var ErrWillRefused = errors.New("will not allowed")

// ErrRetainedQuota reports a CONNECT whose retained Will is larger than its account's
// Limits.RetainedMessageSize.
var ErrRetainedQuota = errors.New("retained will too large")

// ErrClientIDTooLong reports a client id longer than the broker accepts.
var ErrClientIDTooLong = errors.New("client id too long")

// ConnectError is a CONNECT refused by Hookbridge with a reason code of its own: mochi's
// OnConnectAuthenticate can only answer "bad username or password".
type ConnectError struct {
	Account string
	// Code is the MQTT 5 reason code sent; an MQTT 3.1.1 client got V3 instead.
	Code packets.Code
	V3   byte
	Err  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect refused for account %q: %v (reason 0x%02x)", e.Account, e.Err, e.Code.Code)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// authHook authenticates accounts and enforces their ACL: nothing is allowed that no rule grants,
// subscriptions must be contained in the granted filters, and '$' topics are out of reach.
type authHook struct {
	mqtt.HookBase
	accounts map[string]*account
	// clients is mochi's session table: connected clients and offline persistent sessions.
	clients *mqtt.Clients
	count   *counters
	limit   *logLimiter
	log     zerolog.Logger
	refs    *clientRefs

	sessMu sync.Mutex // guards sessions and seeded
	// sessions indexes each account's sessions: every client that passed checkSessions (mochi
	// adds it to clients next) and every session restored from the store. An entry is live while
	// clients holds it, or while it is connecting (open, not yet added); others are pruned as met.
	// It spares a copy of mochi's whole table (GetAll) per CONNECT.
	sessions map[string]map[*mqtt.Client]struct{}
	seeded   bool

	// deviceLimits are the bounds of an account without write rules, with defaults filled.
	deviceLimits Limits

	planMu sync.Mutex                          // guards plans
	plans  map[*mqtt.Client]map[uint16]ackPlan // SUBSCRIBEs and UNSUBSCRIBEs cut, by packet id
}

var _ mqtt.Hook = (*authHook)(nil)

func newAuthHook(opts Options, clients *mqtt.Clients, count *counters, limit *logLimiter, refs *clientRefs) *authHook {
	h := &authHook{accounts: map[string]*account{}, clients: clients, count: count, limit: limit, log: opts.Log, refs: refs,
		sessions: map[string]map[*mqtt.Client]struct{}{}, plans: map[*mqtt.Client]map[uint16]ackPlan{}}
	device := opts.DeviceLimits.withDefaults(DefaultDeviceLimits, opts.SessionExpiry)
	writer := opts.WriterLimits.withDefaults(DefaultWriterLimits, opts.SessionExpiry)
	h.deviceLimits = device
	for _, a := range opts.Accounts {
		class := device
		if len(a.Write) > 0 {
			class = writer
		}
		h.accounts[a.Username] = &account{
			name:   a.Username,
			digest: sha256.Sum256([]byte(a.Password)),
			read:   acl.NewFilters(a.Read...),
			write:  acl.NewFilters(a.Write...),
			limits: a.Limits.withDefaults(class, opts.SessionExpiry),
		}
		tag := sha256.Sum256([]byte("share\x00" + a.Username))
		h.accounts[a.Username].shareTag = hex.EncodeToString(tag[:12])
	}
	return h
}

func (h *authHook) ID() string { return "hookbridge-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnWill,
		mqtt.OnSubscribe, mqtt.OnUnsubscribe, mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnDisconnect,
		mqtt.OnSessionEstablished:
		return true
	}
	return false
}

// authenticate returns the account whose credentials the CONNECT carries, or nil, in the same
// time for an unknown username as for a wrong password.
func (h *authHook) authenticate(pk packets.Packet) *account {
	d := sha256.Sum256(pk.Connect.Password)
	a, ok := h.accounts[string(pk.Connect.Username)]
	if !ok || len(pk.Connect.Username) == 0 {
		subtle.ConstantTimeCompare(d[:], bytes.Repeat([]byte{0}, sha256.Size))
		return nil
	}
	if subtle.ConstantTimeCompare(d[:], a.digest[:]) != 1 {
		return nil
	}
	return a
}

// OnConnect runs before mochi authenticates the client, stores its session or its Will, and it
// refuses what an authenticated account may not do, with the reason code that says why: a Will
// the account may not publish is refused with "not authorized" (MQTT 5 0x87, 3.1.1 return code
// 5), a retained Will larger than Limits.RetainedMessageSize with "quota exceeded" (0x97, 3), a
// client id longer than maxClientIDLen with "client identifier not valid" (0x85, 2), a
// session past the account's Limits.Sessions with "quota exceeded" (0x97, 3). A
// client with bad credentials is left to OnConnectAuthenticate, so that it learns nothing about
// its Will. It then renames the client to its session id (see sessionID), before mochi looks up,
// takes over or creates the session.
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	a := h.authenticate(pk)
	if a == nil {
		return nil
	}
	if pk.Connect.WillFlag && !a.mayPublish(pk.Connect.WillTopic) {
		cl.Properties.Will = mqtt.Will{}
		h.count.willsRefused.Add(1)
		if ok, n := h.limit.allow("will:" + a.name); ok {
			h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("remote", cl.Net.Remote).
				Str("topic", pk.Connect.WillTopic).Int64("suppressed", n).
				Msg("login refused: the account may not publish its Will's topic")
		}
		return refuse(cl, a.name, packets.ErrNotAuthorized, packets.Err3NotAuthorized.Code, ErrWillRefused)
	}
	if pk.Connect.WillFlag && pk.Connect.WillRetain {
		w := willPacket(cl.Properties.Will) // mochi's ParseConnect filled it from pk
		if size := retainedSize(&w); size > int64(a.limits.RetainedMessageSize) {
			cl.Properties.Will = mqtt.Will{}
			h.count.retainedRefused.Add(1)
			if ok, n := h.limit.allow("retained:" + a.name); ok {
				h.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("remote", cl.Net.Remote).
					Int64("size", size).Int("limit_message_size", a.limits.RetainedMessageSize).Int64("suppressed", n).
					Msg("login refused: its retained Will is larger than the account may retain")
			}
			return refuse(cl, a.name, packets.ErrQuotaExceeded, packets.Err3ServerUnavailable.Code, ErrRetainedQuota)
		}
	}
	if len(cl.ID) > maxClientIDLen {
		return refuse(cl, a.name, packets.ErrClientIdentifierNotValid, packets.Err3ClientIdentifierNotValid.Code, ErrClientIDTooLong)
	}
	if !reservedID(cl.ID) { // else refused by OnConnectAuthenticate
		cl.ID = sessionID(a.name, cl.ID)
		if err := h.checkSessions(cl, a); err != nil {
			return err
		}
		h.capExpiry(cl, a)
	}
	if pk.Connect.WillFlag && pk.Connect.WillRetain && cl.Properties.Will.WillDelayInterval > 0 {
		// mochi retains a delayed Will from its event loop, where the retain guard cannot reach:
		// a retained Will is published at once instead (see retainGuard).
		cl.Properties.Will.WillDelayInterval = 0
	}
	return nil
}

// refuse answers a CONNECT with a refusing CONNACK: the MQTT 5 reason code v5, or the MQTT 3.1.1
// return code v3. mochi closes the connection when OnConnect returns the error.
func refuse(cl *mqtt.Client, name string, v5 packets.Code, v3 byte, err error) error {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: v5.Code}
	if cl.Properties.ProtocolVersion < 5 {
		ack.ReasonCode = v3
	} else {
		ack.Properties.ReasonString = v5.Reason
	}
	_ = cl.WritePacket(ack)
	return &ConnectError{Account: name, Code: v5, V3: v3, Err: err}
}

// OnConnectAuthenticate accepts a known username with its password. Anonymous clients are refused,
// and so are the client ids of the broker's own inline clients (OnConnect leaves them unrenamed).
// A session that belongs to another account is refused too, as a second line behind the session
// ids: mochi would hand the new client that session's subscriptions and queued messages, which
// the ACL never saw, and cut off its owner. An accepted client's connection gets its account's
// Limits.SendQueue.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if reservedID(cl.ID) {
		return false
	}
	a := h.authenticate(pk)
	if a == nil {
		h.count.loginsRefused.Add(1)
		return false
	}
	if old, ok := h.clients.Get(cl.ID); ok && !bytes.Equal(old.Properties.Username, pk.Connect.Username) {
		return false
	}
	if c, ok := cl.Net.Conn.(*clientConn); ok {
		c.setAccount(a.name, h.refs.of(cl.ID), a.limits.SendQueue, a.limits.SendBuffer)
	}
	return true
}

// OnSessionEstablished starts bounding what the client's connection queues (see clientConn):
// mochi calls it once it has resent what a resumed session had unacknowledged, and before it
// reads the client's first packet.
func (h *authHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if c, ok := cl.Net.Conn.(*clientConn); ok {
		c.established()
	}
}

// OnACLCheck is called with a subscription filter on SUBSCRIBE and with a topic name when a message
// is delivered or published. Containment covers both: a topic name is a filter without wildcards.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	a, ok := h.accounts[string(cl.Properties.Username)]
	if !ok {
		return false
	}
	if write {
		return a.mayPublish(topic)
	}
	filter, ok := acl.SplitShared(topic)
	if !ok || strings.HasPrefix(filter, "$") || len(filter) > maxTopicLen {
		return false
	}
	return a.read.Covers(filter)
}

// OnWill checks a Will again as mochi is about to publish it. OnConnect refused every Will its
// account may not publish, so this never finds one; if it ever does, the Will goes to a topic no
// client can subscribe to, not retained, and the error is logged: mochi offers no way to cancel.
func (h *authHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if a, ok := h.accounts[string(cl.Properties.Username)]; ok && a.mayPublish(will.TopicName) {
		return will, nil
	}
	h.count.willsRefused.Add(1)
	h.log.Error().Str("component", "mqtt").Str("account", string(cl.Properties.Username)).Str("topic", will.TopicName).
		Msg("a Will the account may not publish got past the login: voided")
	return mqtt.Will{TopicName: voidTopic, Payload: []byte{0}}, nil
}

// reservedID reports whether a client's own id is one the broker's inline clients use.
func reservedID(id string) bool { return id == mqtt.InlineClientId || strings.HasPrefix(id, "$") }

// voidTopic is where a Will that must not be published goes: a '$' topic that the ACL lets no
// client read and that no wildcard matches.
const voidTopic = "$hookbridge/void"
