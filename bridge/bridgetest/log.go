package bridgetest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogBuffer is a process log kept in memory, safe for concurrent writes. With Max set it keeps
// only about the last Max bytes (between Max and 2*Max), so that a long test's log does not count
// as memory growth.
type LogBuffer struct {
	Max int

	mu  sync.Mutex // guards buf
	buf []byte
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if b.Max > 0 && len(b.buf) > 2*b.Max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.Max:]...)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Take returns what the buffer holds and empties it.
func (b *LogBuffer) Take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.buf)
	b.buf = b.buf[:0]
	return s
}

// LogEntries decodes each line of a JSON log into a T; lines that are not JSON objects of that
// shape are skipped.
func LogEntries[T any](log string) []T {
	var out []T
	for _, line := range strings.Split(log, "\n") {
		var v T
		if json.Unmarshal([]byte(line), &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// GrepLines returns the lines of s that contain any of the words, at most 20.
func GrepLines(s string, words ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) && len(out) < 20 {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CheckFor polls fn, every every, until it returns nil, and fails the test with fn's last error
// once total has passed (nats-server's checkFor).
func CheckFor(tb testing.TB, total, every time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(err)
		}
		time.Sleep(every)
	}
}
