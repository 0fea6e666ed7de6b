package broker

import (
	"net"
	"syscall"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// TestSendBufferPerAccount checks the send buffer of each account's connections on the broker's
// side: a device's is Limits.SendBuffer (Linux reports twice what was set), so that the kernel
// holds at most that much for a device that stops reading; Home Assistant's keeps the kernel's
// autotuning.
func TestSendBufferPerAccount(t *testing.T) {
	b := newTestBroker(t, Options{})
	login(t, b.Addr(), rawmqtt.Options{ClientID: "panel", Username: devUser, Password: devPass, Clean: true})
	login(t, b.Addr(), rawmqtt.Options{ClientID: "hass", Username: haUser, Password: haPass, Clean: true})
	got := map[string]int{}
	for _, cl := range b.srv.Clients.GetAll() {
		cc, ok := cl.Net.Conn.(*clientConn)
		if !ok {
			continue
		}
		raw, err := cc.Conn.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var size int
		var serr error
		if err := raw.Control(func(fd uintptr) {
			size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		got[string(cl.Properties.Username)] = size
	}
	want := 2 * DefaultDeviceLimits.SendBuffer
	if got[devUser] != want {
		t.Errorf("device connection's SO_SNDBUF = %d, want %d (Limits.SendBuffer, doubled by Linux)", got[devUser], want)
	}
	if got[haUser] == 0 || got[haUser] == want {
		t.Errorf("Home Assistant's SO_SNDBUF = %d, want the kernel's own (not %d)", got[haUser], want)
	}
}
