package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Sessions are keyed by account and client id: OnConnect renames every client to
// sessionID(username, client id) before mochi looks its session up, so mochi's session table, the
// takeover of a session and the store's records all keep one account's client ids apart from
// another's, and no account can take, hold or cancel another's session (or its delayed Will).
// The client never sees the internal id: mochi sends a v5 client the id it assigned (Assigned
// Client Identifier) from a field of its own, and client ids appear in nothing else it sends.
//
// NUL separates the two parts: mochi refuses a client id containing NUL (MQTT UTF-8 strings may
// not), so the part after the last NUL is the client id, whatever the username holds, and no
// client id from before 0.2 (stored under the plain id) can ever name a session again.

// sessionSep separates the username from the client id in a session id.
const sessionSep = "\x00"

// maxClientIDLen bounds a client id, in bytes. MQTT requires brokers to accept 23 characters;
// the bound keeps the store's keys (session id + subscription filter) far below bbolt's 32 KiB,
// past which a write fails its whole transaction, events included.
const maxClientIDLen = 256

// sessionID returns the internal id of a client id of an account.
func sessionID(username, clientID string) string { return username + sessionSep + clientID }

// splitSessionID returns the account and the client's own id of an internal id; ok is false
// for an id that is not one (mochi's inline client, a session stored before 0.2).
func splitSessionID(id string) (username, clientID string, ok bool) {
	i := strings.LastIndex(id, sessionSep)
	if i < 0 {
		return "", id, false
	}
	return id[:i], id[i+1:], true
}

// clientIDOf returns the client's own id (for the admin API; logs write its ref instead).
func clientIDOf(cl *mqtt.Client) string {
	_, id, _ := splitSessionID(cl.ID)
	return id
}

// ErrUnknownAccount reports a username that no account has.
var ErrUnknownAccount = errors.New("unknown account")

// SessionInfo describes one session of an account.
type SessionInfo struct {
	// ClientID is the client's own id.
	ClientID string
	// Connected reports whether a connection holds the session now.
	Connected bool
	// Persistent reports whether the session outlives its connection (3.1.1 clean session off, or
	// a v5 session expiry).
	Persistent bool
	// Subscriptions counts the session's subscriptions.
	Subscriptions int
	// ExpiresAt is when an offline persistent session will be deleted; zero when connected or clean.
	ExpiresAt time.Time
	// LogRef is what the broker's log lines write for the session instead of its client id
	// (client_ref): the same all through one run, another in the next (see clientRefs).
	LogRef string
}

// Sessions lists an account's sessions, connected and offline persistent ones, by client id.
func (b *Broker) Sessions(username string) ([]SessionInfo, error) {
	if _, ok := b.auth.accounts[username]; !ok {
		return nil, fmt.Errorf("sessions of %q: %w", username, ErrUnknownAccount)
	}
	var out []SessionInfo
	for _, cl := range b.clientsOf(username, "") {
		si := SessionInfo{
			ClientID:      clientIDOf(cl),
			Connected:     !cl.Closed(),
			Persistent:    !cleanSession(cl),
			Subscriptions: cl.State.Subscriptions.Len(),
			LogRef:        b.refs.of(cl.ID),
		}
		if !si.Connected && si.Persistent {
			si.ExpiresAt = time.Unix(cl.StopTime(), 0).Add(b.sessionExpiry(cl))
		}
		out = append(out, si)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// DropSessions ends an account's session with clientID, or all of its sessions when clientID is
// "". It logs the account, the count and the session's ref (see clientRefs), never a client id.
// A connected client is disconnected (MQTT 5: DISCONNECT 0x98, administrative action) without
// its Will, and the session, its subscriptions and queued messages are deleted, from the store too
// (durably, before DropSessions returns). It returns how many sessions it dropped.
func (b *Broker) DropSessions(username, clientID string) (int, error) {
	if _, ok := b.auth.accounts[username]; !ok {
		return 0, fmt.Errorf("drop sessions of %q: %w", username, ErrUnknownAccount)
	}
	n := 0
	var errs []error
	for _, cl := range b.clientsOf(username, clientID) {
		if err := b.endSession(cl, packets.ErrAdministrativeAction); err != nil {
			errs = append(errs, err)
		}
		n++
	}
	ev := b.log.Info().Str("component", "mqtt").Str("account", username).Int("sessions", n).Bool("all", clientID == "")
	if clientID != "" {
		ev = ev.Str("client_ref", b.refs.of(sessionID(username, clientID)))
	}
	ev.Msg("sessions dropped by the operator")
	return n, errors.Join(errs...)
}

// clientsOf returns an account's sessions, those with clientID only unless it is "".
func (b *Broker) clientsOf(username, clientID string) []*mqtt.Client {
	var out []*mqtt.Client
	for id, cl := range b.srv.Clients.GetAll() {
		u, c, ok := splitSessionID(id)
		if ok && u == username && (clientID == "" || c == clientID) {
			out = append(out, cl)
		}
	}
	return out
}

// endSession disconnects a session's client, if connected, without its Will, and deletes the
// session as its expiry would (subscriptions, queued messages, records), durably.
func (b *Broker) endSession(cl *mqtt.Client, code packets.Code) error {
	if atomic.LoadUint32(&cl.Properties.Will.Flag) != 0 {
		atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
	}
	if !cl.Closed() {
		if cl.Properties.ProtocolVersion == 5 {
			_ = b.srv.DisconnectClient(cl, code)
		} else {
			cl.Stop(code) // MQTT 3.1.1 has no DISCONNECT from the server
		}
	}
	if cur, ok := b.srv.Clients.Get(cl.ID); ok && cur == cl {
		b.srv.Clients.Delete(cl.ID)
	}
	b.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	if b.hook != nil {
		if err := b.hook.DeleteSession(cl.ID); err != nil {
			return fmt.Errorf("delete session %s: %w", b.refs.of(cl.ID), err)
		}
	}
	return nil
}

// cleanSession reports whether a session ends with its connection.
func cleanSession(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

// sessionExpiry returns how long an offline persistent session is kept: mochi's rule (a v5
// client's own expiry, else the broker's maximum), bounded by its account's Limits.
func (b *Broker) sessionExpiry(cl *mqtt.Client) time.Duration {
	expire := time.Duration(b.srv.Options.Capabilities.MaximumSessionExpiryInterval) * time.Second
	if cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryIntervalFlag {
		expire = time.Duration(cl.Properties.Props.SessionExpiryInterval) * time.Second
	}
	if a, ok := b.auth.accounts[string(cl.Properties.Username)]; ok {
		expire = min(expire, a.limits.SessionExpiry)
	}
	return expire
}

// purgeStoredSessions deletes, before mochi restores them, the stored sessions that no account
// can reach: those stored before 0.2 under a plain client id (which another account could
// otherwise have taken over), and those of accounts that no longer exist.
func (b *Broker) purgeStoredSessions() error {
	if b.hook == nil {
		return nil
	}
	n, err := b.hook.PurgeSessions(func(id string, username []byte) bool {
		u, _, ok := splitSessionID(id)
		return ok && u == string(username) && b.auth.accounts[u] != nil
	})
	if err != nil {
		return fmt.Errorf("purge stored sessions: %w", err)
	}
	if n > 0 {
		b.log.Info().Str("component", "mqtt").Int("sessions", n).
			Msg("stored sessions dropped: kept under a client id alone (before 0.2) or of a removed account")
	}
	return nil
}
