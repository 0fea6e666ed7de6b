//go:build unix

package broker

import (
	"net"
	"syscall"
)

// peek reads into b what the peer has sent already, without waiting: the socket is non-blocking
// under Go's poller, so the read returns at once, with what there is or EAGAIN.
func peek(c net.Conn, b []byte) int {
	rc := rawConnOf(c)
	if rc == nil {
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

// rawConnOf returns c's raw connection, for non-blocking reads and writes, or nil.
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeFD makes one write of c.wbuf to the socket, which Go's poller keeps non-blocking: it takes
// what fits in the socket's buffer and returns at once, with EAGAIN when nothing fits. It reports
// done either way, so RawConn.Write never waits. (A write deadline in the past would not do: Go
// then refuses the write before trying it.) c.mu must be held.
func (c *clientConn) writeFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.wbuf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			n, err = 0, nil
		case n < 0:
			n = 0
		}
		c.wn, c.werr = n, err
		return true
	}
}
