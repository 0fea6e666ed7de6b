package loadgen

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestField(t *testing.T) {
	tests := []struct {
		name, payload, field, want string
		ok                         bool
	}{
		{"string", `{"device":"abc","actor":"7e32"}`, "actor", "7e32", true},
		{"number", `{"at":1764058443,"type":"motion.detected"}`, "at", "1764058443", true},
		{"last number", `{"type":"x","at":17}`, "at", "17", true},
		{"absent", `{"type":"x"}`, "zone", "", false},
		{"no field name", `{"type":"x"}`, "", "", false},
		{"unterminated", `{"zone":"abc`, "zone", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Field([]byte(tc.payload), tc.field)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Field(%s, %q) = %q, %v, want %q, %v", tc.payload, tc.field, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var xs []int64
	for i := 100; i >= 1; i-- {
		xs = append(xs, int64(i)*int64(time.Millisecond))
	}
	got := Summarize(xs)
	want := Latency{N: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := Summarize(nil); got != (Latency{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		status    int
		closeConn bool
		err       bool
	}{
		{"accepted", "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"status\":\"accepted\"}", 202, false, false},
		{"close", "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", 503, true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, false, true},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n", 0, false, true},
		{"garbage", "SSH-2.0-OpenSSH\r\n", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
			status, closeConn, err := readResponse(r)
			if status != tc.status || closeConn != tc.closeConn || (err != nil) != tc.err {
				t.Fatalf("readResponse = %d, %v, %v, want %d, %v, error %v", status, closeConn, err, tc.status, tc.closeConn, tc.err)
			}
			if err == nil {
				// The body was consumed: the next answer on the connection reads whole.
				if status, _, err := readResponse(r); status != 200 || err != nil {
					t.Errorf("next readResponse = %d, %v, want 200, nil", status, err)
				}
			}
		})
	}
}

func TestSamplesUnique(t *testing.T) {
	samples, err := NewSamples([]string{"porchlight-cams", "gridwise-energy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSamples([]string{"acme-locks"}, nil); err == nil {
		t.Error("NewSamples(acme-locks) without a pseudonymizer succeeded, want an error")
	}
	for _, s := range samples {
		ids, markers := map[string]bool{}, map[string]bool{}
		for seq := uint64(0); seq < 1000; seq++ {
			_, id, marker := s.Build(nil, "run1", seq, time.Now())
			if ids[id] || markers[marker] {
				t.Fatalf("%s: event %d repeats an id or marker (%q, %q)", s.Vendor, seq, id, marker)
			}
			ids[id], markers[marker] = true, true
		}
	}
}

func TestFirstPending(t *testing.T) {
	e := NewEvents(2)
	for seq := range uint64(5) {
		e.take()
		e.sent(seq, 1, 1)
	}
	e.answered(0, 2, 202)
	e.answered(1, 2, 500) // not accepted: never pending
	e.answered(2, 2, 202)
	e.answered(3, 2, 202)
	// 4 has no answer: not pending
	if got := e.FirstPending(0, 5); got != 0 {
		t.Fatalf("FirstPending = %d, want 0", got)
	}
	e.received(0, 0, 3)
	if got := e.FirstPending(0, 5); got != 0 {
		t.Fatalf("after one of two subscribers: FirstPending = %d, want 0", got)
	}
	e.received(1, 0, 3)
	if got := e.FirstPending(0, 5); got != 2 {
		t.Fatalf("FirstPending = %d, want 2", got)
	}
	for _, seq := range []uint64{2, 3} {
		e.received(0, seq, 3)
		e.received(1, seq, 3)
	}
	if got := e.FirstPending(2, 5); got != 5 {
		t.Fatalf("all received: FirstPending = %d, want 5", got)
	}
	if got := e.FirstPending(100, 200); got != 200 {
		t.Fatalf("beyond the record: FirstPending = %d, want 200", got)
	}
}
