package broker

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// rssBytes returns the process's resident set size, after returning freed memory to the OS.
func rssBytes(t testing.TB) uint64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// TestMeasureIdleDevices reports what 1,000 connected idle devices, each with 5 subscriptions,
// cost the process (RSS after FreeOSMemory). It runs only with HOOKBRIDGE_MEASURE=1: it opens
// 1,000 connections and measures, it does not judge.
func TestMeasureIdleDevices(t *testing.T) {
	if os.Getenv("HOOKBRIDGE_MEASURE") == "" {
		t.Skip("set HOOKBRIDGE_MEASURE=1 to measure")
	}
	const devices = 1000
	b, err := New(Options{
		Accounts: []Account{{Username: "dev", Password: "pw-12345678", Read: []string{"p/v/+"}}},
		Store:    openStore(t),
		Log:      zerolog.Nop(),
		// One account for all, as before the per-account bounds: lift its session bound.
		DeviceLimits: Limits{Sessions: 2 * devices},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rss0, heap0, stack0 := rssBytes(t), heapInUse(), stackInUse()
	var conns []*rawmqtt.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < devices; i++ {
		c, err := rawmqtt.Dial(b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ack, err := c.Connect(rawmqtt.Options{ClientID: fmt.Sprintf("idle-%d", i), Username: "dev", Password: "pw-12345678", Clean: true, Keepalive: 600})
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("connect %d: %v 0x%02x", i, err, ack.ReasonCode)
		}
		codes, _, err := c.Subscribe(1, "p/v/a", "p/v/b", "p/v/c", "p/v/d", "p/v/e")
		if err != nil || len(codes) != 5 || codes[0] != 1 {
			t.Fatalf("subscribe %d: %v %x", i, err, codes)
		}
	}
	rss1, heap1, stack1 := rssBytes(t), heapInUse(), stackInUse()
	t.Logf("%d idle devices x 5 subscriptions: RSS %+.1f MiB (%.1f -> %.1f), heap in use %+.1f MiB, stacks %+.1f MiB, goroutines %d",
		devices, (float64(rss1)-float64(rss0))/(1<<20), float64(rss0)/(1<<20), float64(rss1)/(1<<20),
		(float64(heap1)-float64(heap0))/(1<<20), (float64(stack1)-float64(stack0))/(1<<20), runtime.NumGoroutine())
}
