//go:build !unix

package broker

import (
	"net"
	"syscall"
)

// peek reads nothing where there is no non-blocking read to ask: the CONNECT is read on the
// connection's goroutine.
func peek(net.Conn, []byte) int { return 0 }

// rawConnOf returns nil where there is no non-blocking write to ask: every write is queued for
// the connection's flusher (see clientConn).
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (c *clientConn) writeFD(uintptr) bool { return true }
