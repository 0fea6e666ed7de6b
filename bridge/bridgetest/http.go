package bridgetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Response is an HTTP answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any // the body decoded as a JSON object; nil when it is not one
	Raw    string         // the body as received
}

// Do sends a request with the headers and body (nil for none) and reads the answer; it fails the
// test when no answer comes.
func Do(tb testing.TB, method, url string, header map[string]string, body []byte) Response {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// Header is one header line; a RawRequest may repeat a name.
type Header struct{ Key, Value string }

// RawRequest is a request written byte for byte to a listener, well-formed or not.
type RawRequest struct {
	Method string // default POST
	Target string // request target, default /hooks/acme-locks
	Header []Header
	Body   []byte
	// NoLength leaves Content-Length out; it is also left out when Header sets Content-Length or
	// Transfer-Encoding.
	NoLength bool
	// KeepAlive leaves "Connection: close" out.
	KeepAlive bool
	// HalfClose closes the write side after sending, as a client that gives up mid-body.
	HalfClose bool
}

// Bytes serializes the request as HTTP/1.1, with Host: hookbridge.test.
func (r RawRequest) Bytes() []byte {
	method, target := r.Method, r.Target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/hooks/acme-locks"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hookbridge.test\r\n", method, target)
	framed := r.NoLength
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Key, h.Value)
		if k := strings.ToLower(h.Key); k == "content-length" || k == "transfer-encoding" {
			framed = true
		}
	}
	if !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	if !r.KeepAlive {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// Values returns the values of the header lines named key.
func (r RawRequest) Values(key string) []string {
	var out []string
	for _, h := range r.Header {
		if strings.EqualFold(h.Key, key) {
			out = append(out, h.Value)
		}
	}
	return out
}

// RawResponse is a listener's answer to a RawRequest, parsed, with the bytes it came in.
type RawResponse struct {
	Status int
	Header http.Header
	Body   map[string]any // the body decoded as a JSON object; nil when it is not one
	Text   string         // the body
	Raw    string         // status line, headers and body as received
	Closed bool           // the server closed the connection after answering
}

// SendRaw writes a request to addr and reads the answer. A server that closes the connection
// without any answer yields status 0 (and Closed).
func SendRaw(tb testing.TB, addr string, r RawRequest) RawResponse {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(r.Bytes()); err != nil && !IsReset(err) {
		tb.Fatalf("write request: %v", err)
	}
	if r.HalfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	return ReadRaw(tb, c, method, !r.KeepAlive)
}

// ReadRaw reads one response to a request of method from c; untilClose reads on until the server
// closes the connection.
func ReadRaw(tb testing.TB, c net.Conn, method string, untilClose bool) RawResponse {
	tb.Helper()
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		if raw.Len() == 0 && (errors.Is(err, io.EOF) || IsReset(err)) {
			return RawResponse{Closed: true}
		}
		tb.Fatalf("read response: %v (got %q)", err, raw.String())
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !IsReset(err) {
		tb.Fatalf("read response body: %v", err)
	}
	out := RawResponse{Status: resp.StatusCode, Header: resp.Header, Text: string(text)}
	_ = json.Unmarshal(text, &out.Body)
	if untilClose || resp.Close {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, br)
		out.Closed = err == nil || IsReset(err)
	}
	out.Raw = raw.String()
	return out
}

// IsReset reports whether err is the peer resetting or closing the connection.
func IsReset(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}
