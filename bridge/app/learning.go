package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// SaveLearntEvery is how often what learn mode recorded is saved, when it changed; Stop saves it
// once more. A crash loses at most this much learning, never a published event.
const SaveLearntEvery = 10 * time.Second

// ErrUnknownVendor reports a draft asked for a vendor the catalog has no policy for.
var ErrUnknownVendor = errors.New("no policy for this vendor")

// learning runs learn mode: one recorder per vendor in learn mode, merged at start with what an
// earlier run saved, and saved to the store now and then and at stop. It also answers the admin
// API's questions about what was learnt (addon/admin's Learning).
type learning struct {
	store *store.Store
	cat   *catalog.Catalog
	log   zerolog.Logger
	recs  map[string]*learn.Recorder // by vendor name; only vendors in learn mode; fixed after start
	every time.Duration              // how often the saver looks for changes: SaveLearntEvery

	saveMu sync.Mutex        // serializes saves; guards saved
	saved  map[string]uint64 // each recorder's generation when it was saved last
	saver  background
}

// newLearning builds a recorder for each vendor in learn mode and merges what the store keeps
// for it. A stored structure this build cannot read is reported and learning starts afresh: it
// holds no event, only structure, and the vendor's next events teach it again.
func newLearning(vendors vendor.Vendors, names []string, st *store.Store, cat *catalog.Catalog, log zerolog.Logger) (*learning, error) {
	l := &learning{store: st, cat: cat, log: log.With().Str("component", "learn").Logger(),
		recs: map[string]*learn.Recorder{}, saved: map[string]uint64{}, every: SaveLearntEvery}
	for _, name := range names {
		if vendors[name].Mode != vendor.ModeLearn {
			continue
		}
		rec := learn.New(name, learn.DefaultLimits)
		data, err := st.Learnt(name)
		if err != nil {
			return nil, fmt.Errorf("read what %s learnt: %w", name, err)
		}
		if data != nil {
			s, err := learn.Unmarshal(data)
			if err == nil {
				err = rec.Merge(s)
			}
			if err != nil {
				l.log.Warn().Err(err).Str("vendor", name).Msg("what learn mode saved for this vendor is unreadable: learning starts afresh")
				rec.Reset()
			}
		}
		l.recs[name] = rec
		l.saved[name] = rec.Generation()
		events, paths := rec.Size()
		l.log.Info().Str("vendor", name).Uint64("events", events).Int("paths", paths).Msg("learn mode: publishing nothing, recording the structure of verified events")
	}
	return l, nil
}

// recorders returns the recorders for the pipeline.
func (l *learning) recorders() map[string]pipeline.Recorder {
	out := make(map[string]pipeline.Recorder, len(l.recs))
	for name, r := range l.recs {
		out[name] = r
	}
	return out
}

// start saves what changed every SaveLearntEvery until close.
func (l *learning) start() {
	if len(l.recs) == 0 {
		return
	}
	l.saver.run(func(stop <-chan struct{}) {
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l.save()
			}
		}
	})
}

// close stops the saver and saves once more; it runs after the partner listener stopped and
// before the store closes.
func (l *learning) close() {
	if l == nil {
		return
	}
	l.saver.halt()
	l.save()
}

// save stores each recorder whose generation changed since it was saved last.
func (l *learning) save() {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	names := make([]string, 0, len(l.recs))
	for name := range l.recs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rec := l.recs[name]
		gen := rec.Generation() // before the snapshot: a change in between is saved next time
		if gen == l.saved[name] {
			continue
		}
		data, err := rec.Snapshot().Marshal()
		if err == nil {
			err = l.store.PutLearnt(name, data)
		}
		if err != nil {
			l.log.Error().Err(err).Str("vendor", name).Msg("could not save what learn mode recorded; trying again later")
			continue
		}
		l.saved[name] = gen
	}
}

// forget drops what learn mode recorded of a vendor being offboarded, in memory (the store's
// record is deleted by the offboarding): nothing of it is saved again.
func (l *learning) forget(name string) {
	rec, ok := l.recs[name]
	if !ok {
		return
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	rec.Reset()
	l.saved[name] = rec.Generation()
}

// Learnt returns what was learnt about a vendor's events: its recorder's snapshot in learn mode,
// else what the store keeps from when it was (nil, nil when nothing).
func (l *learning) Learnt(name string) (*learn.Structure, error) {
	if rec, ok := l.recs[name]; ok {
		return rec.Snapshot(), nil
	}
	return storedLearnt(l.store, name)
}

// Draft drafts a vendor's schema and policy from what was learnt.
func (l *learning) Draft(name string) (*draft.Draft, error) {
	s, err := l.Learnt(name)
	if err != nil {
		return nil, err
	}
	return makeDraft(l.cat, name, s)
}

// storedLearnt reads and decodes a vendor's stored structure; nil, nil when there is none.
func storedLearnt(st *store.Store, name string) (*learn.Structure, error) {
	data, err := st.Learnt(name)
	if err != nil || data == nil {
		return nil, err
	}
	return learn.Unmarshal(data)
}

func makeDraft(cat *catalog.Catalog, name string, s *learn.Structure) (*draft.Draft, error) {
	cv, ok := cat.Vendor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownVendor, name)
	}
	if s == nil {
		return nil, draft.ErrNothingLearnt
	}
	return draft.Make(draft.Input{Learnt: s, Policy: cv.PolicyDoc, PolicyFile: cv.Policy.File})
}

// OfflineDraft drafts a vendor's schema and policy from what the store in dataDir keeps, for
// `hookbridge draft` while the bridge is stopped (a running bridge holds the store's lock: ask
// its admin API instead).
func OfflineDraft(cat *catalog.Catalog, dataDir, name string) (*draft.Draft, error) {
	if _, ok := cat.Vendor(name); !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownVendor, name)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "hookbridge.db")); err != nil {
		return nil, fmt.Errorf("%w: no state file in %s", draft.ErrNothingLearnt, dataDir)
	}
	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s, err := storedLearnt(st, name)
	if err != nil {
		return nil, fmt.Errorf("what %s learnt: %w", name, err)
	}
	return makeDraft(cat, name, s)
}
