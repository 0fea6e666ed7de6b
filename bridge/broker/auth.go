package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/acl"
)

// Account is one MQTT login on the embedded broker.
type Account struct {
	Username string
	Password string
	// Read lists absolute topic filters the account may subscribe to.
	Read []string
	// Write lists absolute topic filters the account may publish to.
	Write []string
}

type account struct {
	digest [sha256.Size]byte
	read   acl.Filters
	write  acl.Filters
}

// authHook authenticates accounts and enforces their ACL: nothing is allowed that no rule grants,
// subscriptions must be contained in the granted filters, and '$' topics are out of reach.
type authHook struct {
	mqtt.HookBase
	accounts map[string]*account
	// session returns the session a client id names, connected or kept for a persistent client.
	session func(id string) (*mqtt.Client, bool)
}

var _ mqtt.Hook = (*authHook)(nil)

func newAuthHook(accounts []Account, session func(id string) (*mqtt.Client, bool)) *authHook {
	h := &authHook{accounts: map[string]*account{}, session: session}
	for _, a := range accounts {
		h.accounts[a.Username] = &account{
			digest: sha256.Sum256([]byte(a.Password)),
			read:   acl.NewFilters(a.Read...),
			write:  acl.NewFilters(a.Write...),
		}
	}
	return h
}

func (h *authHook) ID() string { return "hookbridge-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate accepts a known username with its password. Anonymous clients are refused,
// and so is the client id mochi reserves for its inline client (taking it over would hijack it). A
// client id whose session belongs to another account is refused too: mochi would hand the new
// client that session's subscriptions and queued messages, which the ACL never saw, and cut off
// its owner.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.ID == mqtt.InlineClientId || strings.HasPrefix(cl.ID, "$") {
		return false
	}
	a, ok := h.accounts[string(pk.Connect.Username)]
	if !ok || len(pk.Connect.Username) == 0 {
		// Spend the same work as a real comparison.
		d := sha256.Sum256(pk.Connect.Password)
		subtle.ConstantTimeCompare(d[:], bytes.Repeat([]byte{0}, sha256.Size))
		return false
	}
	d := sha256.Sum256(pk.Connect.Password)
	if subtle.ConstantTimeCompare(d[:], a.digest[:]) != 1 {
		return false
	}
	if old, ok := h.session(cl.ID); ok && !bytes.Equal(old.Properties.Username, pk.Connect.Username) {
		return false
	}
	if c, ok := cl.Net.Conn.(interface{ loggedIn() }); ok {
		c.loggedIn()
	}
	return true
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
		return !strings.ContainsAny(topic, "+#") && a.write.Matches(topic)
	}
	filter, ok := acl.SplitShared(topic)
	if !ok || strings.HasPrefix(filter, "$") || len(filter) > 1024 {
		return false
	}
	return a.read.Covers(filter)
}
