package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// TestForget deletes a vendor's retained messages and the messages queued for an offline session,
// and nothing of another vendor's: a fresh subscriber gets no retained message of the vendor, the
// session resumes with the other vendor's message only, and a restart on the same store brings
// nothing back.
func TestForget(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	accounts := []Account{{Username: "dev", Password: "pw-12345678", Read: []string{"p/v/#", "p/w/#"}}}
	start := func(st *store.Store) *Broker {
		b, err := New(Options{Accounts: accounts, Store: st, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start(st)
	sub := func(id string, clean bool, rec *recorder) paho.Client {
		c := connect(t, b.Addr(), id, clean, rec, false)
		for _, f := range []string{"p/v/#", "p/w/#"} {
			if tok := c.Subscribe(f, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe %s: %v", f, tok.Error())
			}
		}
		return c
	}
	c := sub("keeper", false, &recorder{})
	c.Disconnect(50)
	time.Sleep(50 * time.Millisecond)
	ev := &publish.Event{Vendor: "v", Token: "e1", At: time.Now(), Messages: []route.Message{
		{Topic: "p/v/lock/state", Payload: []byte(`{"s":1}`), QoS: 1, Retain: true},
		{Topic: "p/v/lock/battery", Payload: []byte(`{"b":1}`), QoS: 1},
		{Topic: "p/w/meter/state", Payload: []byte(`{"w":1}`), QoS: 1, Retain: true},
	}}
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	retained, queued, err := b.Forget("p/v/")
	if err != nil || retained != 1 || queued != 2 {
		t.Fatalf("Forget(p/v/) = %d retained, %d queued, %v; want 1 and 2 (the state and the battery message)", retained, queued, err)
	}
	if _, _, err := b.Forget("p/v"); err == nil {
		t.Errorf("Forget(p/v) = nil error, want one: p/v would also take p/vendor2")
	}

	topics := func(rec *recorder) []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []string
		for _, m := range rec.msgs {
			out = append(out, m.Topic())
		}
		slices.Sort(out)
		return out
	}
	check := func(b *Broker, when string) {
		t.Helper()
		fresh := &recorder{}
		f := connect(t, b.Addr(), "fresh-"+when, true, fresh, false)
		for _, flt := range []string{"p/v/#", "p/w/#"} {
			if tok := f.Subscribe(flt, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
		}
		waitCount(t, fresh, 1)
		kept := &recorder{}
		k := connect(t, b.Addr(), "keeper", false, kept, false)
		time.Sleep(300 * time.Millisecond) // anything queued arrives at once on resuming
		f.Disconnect(50)
		k.Disconnect(50)
		if got := topics(fresh); !slices.Equal(got, []string{"p/w/meter/state"}) {
			t.Errorf("%s: a fresh subscriber got %v, want only p/w/meter/state", when, got)
		}
		if got := topics(kept); when == "now" && !slices.Equal(got, []string{"p/w/meter/state"}) {
			t.Errorf("%s: the offline session resumed with %v, want only p/w/meter/state", when, got)
		}
		if got := topics(kept); when == "after a restart" && len(got) != 0 {
			t.Errorf("%s: the session resumed with %v, want nothing (it took the rest before)", when, got)
		}
	}
	check(b, "now")
	b.Close()
	st.Close()
	if st, err = store.Open(dir, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b = start(st)
	defer b.Close()
	check(b, "after a restart")
}
