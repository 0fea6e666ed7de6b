//go:build unix

package broker

import (
	"net"
	"syscall"
)

// peek reads into b what the peer has sent already, without waiting: the socket is non-blocking
// under Go's poller, so the read returns at once, with what there is or EAGAIN.
func peek(c net.Conn, b []byte) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Read(func(fd uintptr) bool {
		if k, err := syscall.Read(int(fd), b); err == nil && k > 0 {
			n = k
		}
		return true // done, data or not: never wait here
	})
	return n
}
