//go:build !unix

package broker

import "net"

// peek reads nothing where there is no non-blocking read to ask: the CONNECT is read on the
// connection's goroutine.
func peek(net.Conn, []byte) int { return 0 }
