package audit

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Log is the audit trail on disk: JSON lines in hourly segment files, one directory per vendor
// (noVendorDir for records that name no configured vendor), and a head file:
//
//	{dir}/{vendor}/{YYYYMMDD}T{HH}.jsonl   (UTC)
//	{dir}/head.json
//
// Each directory is one tamper-evident chain (see chain.go): every record line carries its seq
// and a MAC over the previous record's MAC and its own bytes, made with a key kept outside the
// directory (KeyFile). A record goes to the segment of its time's hour, or to the chain's newest
// segment when that is later (a record observed late, a clock set back): a chain's order is the
// order of its files and lines.
//
// Appends go to a buffer, written and fsynced every FlushEvery and at Close: a crash loses at
// most that much of the trail, never a webhook (the trail is a record of requests, not part of
// "2xx means kept"). Records of what people and Hookbridge did (Note) are written through at
// once. Keeping the trail out of the state store keeps its transactions small and its mapped
// file, which counts in the process's memory, from growing with every request. Retention deletes
// whole segments, so a record lives between its vendor's retention and an hour more, and leaves a
// checkpoint record in the chain. Files are plain: an export or a verification can read them
// while the server writes.
type Log struct {
	dir  string
	keys *Keys // nil for a Log opened by ReadLog

	// headMu serializes head writes and is taken before mu.
	headMu sync.Mutex
	// purgeMu keeps a purge and an in-process verification apart.
	purgeMu sync.Mutex

	mu        sync.Mutex // guards the fields below
	chains    map[string]*chain
	seal      *sealer
	buf       []byte // a sealed line being built
	closed    bool
	headDirty bool                    // a chain's durable end moved since the head was written
	config    map[string]VendorConfig // as the last start saw it; nil before NoteConfig on a new trail
	hasConfig bool                    // config came from a verified head, or NoteConfig set it
	repairs   []string

	stop chan struct{}
	done chan struct{}
}

// chain is one directory's chain state.
type chain struct {
	name string
	seq  uint64 // the newest record's seq; 0 before the first
	mac  sum    // the newest record's MAC; the genesis before the first
	hour string // the newest segment's hour: records never go to an older one
	seg  *segment
	// durable is the newest record known to be on disk (fsynced): what the head may name.
	durable headChain
}

type segment struct {
	hour    string // "20261125T08"
	f       *os.File
	w       *bufio.Writer
	lastSeq uint64 // the newest record written into w
	lastMAC sum
}

const (
	// FlushEvery is how often buffered records are written and fsynced.
	FlushEvery  = time.Second
	noVendorDir = "_none"
	hourLayout  = "20060102T15"
	segmentExt  = ".jsonl"
)

// Errors of the trail.
var (
	// ErrClosed reports an append to a closed (or read-only) trail.
	ErrClosed = errors.New("audit log closed")
	// ErrNotObject reports a record that is not a JSON object.
	ErrNotObject = errors.New("audit record is not a JSON object")
)

// OpenLog opens (creating) the trail under dir, chained with keys, and starts its flusher. It
// finds each chain's newest record on disk, to continue from it, and drops a torn last line that a
// crash left (it was never fsynced, so no head names it). A chain that ends before what its head
// names (records removed while no server ran) gets a record saying so, which Verify reports until
// retention purges it; Repairs lists what was found.
func OpenLog(dir string, keys *Keys) (*Log, error) {
	if keys == nil {
		return nil, errors.New("audit: OpenLog needs keys")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	l := &Log{dir: dir, keys: keys, chains: map[string]*chain{}, seal: newSealer(keys),
		stop: make(chan struct{}), done: make(chan struct{})}
	h, found, herr := readHead(dir, keys)
	if herr != nil && !errors.Is(herr, errHead) {
		return nil, herr
	}
	if err := l.loadChains(); err != nil {
		return nil, err
	}
	now := time.Now()
	var notes []Action
	switch {
	case errors.Is(herr, errHead):
		l.repairs = append(l.repairs, "the head file does not match its MAC: it was changed, or the audit key was replaced")
		notes = append(notes, Action{Time: now, Kind: KindChain, By: ByHookbridge, What: WhatHeadChanged,
			Detail: "at start the head file did not match its MAC: it was changed, or the audit key was replaced"})
	case found:
		l.config, l.hasConfig = h.Config, h.Config != nil
		names := make([]string, 0, len(h.Chains))
		for name := range h.Chains {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			hc := h.Chains[name]
			c := l.chains[name]
			var seq uint64
			var mac string
			if c != nil {
				seq, mac = c.seq, hex.EncodeToString(c.mac[:])
			}
			if seq > hc.Seq || (seq == hc.Seq && mac == hc.MAC) {
				continue
			}
			detail := fmt.Sprintf("at start the chain ended at seq %d, but the head named seq %d: records were removed while Hookbridge was stopped", seq, hc.Seq)
			if seq == hc.Seq {
				detail = fmt.Sprintf("at start the chain's newest record (seq %d) was not the one the head named: records were replaced while Hookbridge was stopped", seq)
			}
			l.repairs = append(l.repairs, chainVendor(name)+": "+detail)
			notes = append(notes, Action{Time: now, Kind: KindChain, Vendor: chainVendor(name), By: ByHookbridge, What: WhatGap, Detail: detail})
		}
	}
	for _, c := range l.chains {
		c.durable = headChain{Seq: c.seq, MAC: hex.EncodeToString(c.mac[:])}
	}
	l.headDirty = true
	for _, a := range notes {
		if err := l.Append(a.Time, a.Vendor, a.AppendJSON(nil)); err != nil {
			l.closeFiles()
			return nil, err
		}
	}
	if err := l.Flush(); err != nil {
		l.closeFiles()
		return nil, err
	}
	go l.flusher()
	return l, nil
}

// ReadLog opens the trail under dir for reading only (an export next to a running server).
func ReadLog(dir string) *Log { return &Log{dir: dir, closed: true} }

// Repairs returns what OpenLog found and set right or recorded: a torn last line dropped, a chain
// that ended before its head.
func (l *Log) Repairs() []string { return l.repairs }

func vendorDir(vendor string) string {
	if vendor == "" {
		return noVendorDir
	}
	return vendor
}

func chainVendor(dir string) string {
	if dir == noVendorDir {
		return ""
	}
	return dir
}

// loadChains finds each chain's newest record on disk.
func (l *Log) loadChains() error {
	dirs, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		c, err := l.loadChain(d.Name())
		if err != nil {
			return err
		}
		if c != nil {
			l.chains[d.Name()] = c
		}
	}
	return nil
}

// loadChain reads a chain's newest sealed record, from its newest segment back; nil when the
// directory holds no segment.
func (l *Log) loadChain(name string) (*chain, error) {
	files, err := segmentFiles(filepath.Join(l.dir, name))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	c := &chain{name: name, mac: l.seal.genesis(name), hour: files[len(files)-1].hour}
	for i := len(files) - 1; i >= 0; i-- {
		path := filepath.Join(l.dir, name, files[i].name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if n := len(data); n > 0 && data[n-1] != '\n' {
			cut := bytes.LastIndexByte(data, '\n') + 1
			if err := os.Truncate(path, int64(cut)); err != nil {
				return nil, fmt.Errorf("audit: drop a torn line: %w", err)
			}
			data = data[:cut]
			l.repairs = append(l.repairs, fmt.Sprintf("%s/%s: dropped an incomplete last line (%d bytes) that a crash left", name, files[i].name, n-cut))
		}
		lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
		for j := len(lines) - 1; j >= 0; j-- {
			if s, ok := unseal(lines[j]); ok {
				c.seq, c.mac = s.seq, s.mac
				return c, nil
			}
		}
	}
	return c, nil // only records from before the chain began: it starts afresh
}

// segmentFile is a segment's file name and hour.
type segmentFile struct{ name, hour string }

// segmentFiles lists a chain directory's segments, oldest first.
func segmentFiles(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []segmentFile
	for _, e := range entries {
		hour, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || e.IsDir() {
			continue
		}
		if _, err := time.Parse(hourLayout, hour); err != nil {
			continue
		}
		out = append(out, segmentFile{name: e.Name(), hour: hour})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].hour < out[j].hour })
	return out, nil
}

// chainLocked returns a directory's chain, starting it when there is none; l.mu must be held.
func (l *Log) chainLocked(dir string) *chain {
	c := l.chains[dir]
	if c == nil {
		c = &chain{name: dir, mac: l.seal.genesis(dir)}
		l.chains[dir] = c
	}
	return c
}

// Append adds one record (a JSON object without a trailing newline) for a vendor at a time,
// sealed as the next record of the vendor's chain.
func (l *Log) Append(at time.Time, vendor string, record []byte) error {
	if len(record) < 2 || record[0] != '{' || record[len(record)-1] != '}' {
		return ErrNotObject
	}
	hour := at.UTC().Format(hourLayout)
	dir := vendorDir(vendor)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	c := l.chainLocked(dir)
	if hour < c.hour {
		hour = c.hour
	}
	if c.seg == nil || c.seg.hour != hour {
		if c.seg != nil {
			l.closeSegment(c)
		}
		seg, err := l.openSegment(dir, hour)
		if err != nil {
			return err
		}
		c.seg, c.hour = seg, hour
	}
	var m sum
	l.buf, m = l.seal.seal(l.buf[:0], c.mac, c.seq+1, record)
	if _, err := c.seg.w.Write(l.buf); err != nil {
		return err
	}
	c.seq, c.mac = c.seq+1, m
	c.seg.lastSeq, c.seg.lastMAC = c.seq, m
	return nil
}

func (l *Log) openSegment(dir, hour string) (*segment, error) {
	if err := os.MkdirAll(filepath.Join(l.dir, dir), 0o700); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, dir, hour+segmentExt), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit segment: %w", err)
	}
	return &segment{hour: hour, f: f, w: bufio.NewWriterSize(f, 32<<10)}, nil
}

// closeSegment writes, syncs and closes a chain's open segment; l.mu must be held.
func (l *Log) closeSegment(c *chain) {
	s := c.seg
	c.seg = nil
	err := s.w.Flush()
	if err == nil {
		err = s.f.Sync()
	}
	s.f.Close()
	if err == nil && s.lastSeq > c.durable.Seq {
		c.durable = headChain{Seq: s.lastSeq, MAC: hex.EncodeToString(s.lastMAC[:])}
		l.headDirty = true
	}
}

func (l *Log) flusher() {
	defer close(l.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Flush writes and fsyncs what is buffered, then the head when a chain's end on disk moved.
func (l *Log) Flush() error {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	l.mu.Lock()
	var errs []error
	for _, c := range l.chains {
		s := c.seg
		if s == nil || s.w.Buffered() == 0 {
			continue
		}
		err := s.w.Flush()
		if err == nil {
			err = s.f.Sync()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.durable = headChain{Seq: s.lastSeq, MAC: hex.EncodeToString(s.lastMAC[:])}
		l.headDirty = true
	}
	var h *head
	if l.headDirty && l.keys != nil {
		h = l.headLocked()
		l.headDirty = false
	}
	l.mu.Unlock()
	if h != nil {
		if err := writeHead(l.dir, l.keys, *h); err != nil {
			errs = append(errs, err)
			l.mu.Lock()
			l.headDirty = true
			l.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// headLocked returns the head to write; l.mu must be held.
func (l *Log) headLocked() *head {
	h := &head{Written: time.Now().UTC(), Chains: map[string]headChain{}}
	for name, c := range l.chains {
		if c.durable.Seq > 0 {
			h.Chains[name] = c.durable
		}
	}
	if l.hasConfig {
		h.Config = l.config
	}
	return h
}

// Close writes what is buffered, the head, and closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true // no more appends
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	err := l.Flush()
	l.closeFiles()
	return err
}

// closeFiles closes every open segment and marks the log closed.
func (l *Log) closeFiles() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, c := range l.chains {
		if c.seg != nil {
			l.closeSegment(c)
		}
	}
}

// segments returns the trail's segment files by hour, each hour's files across vendors.
func (l *Log) segments() (map[string][]string, []string, error) {
	dirs, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	byHour := map[string][]string{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := segmentFiles(filepath.Join(l.dir, d.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			byHour[f.hour] = append(byHour[f.hour], filepath.Join(l.dir, d.Name(), f.name))
		}
	}
	hours := make([]string, 0, len(byHour))
	for h := range byHour {
		hours = append(hours, h)
	}
	sort.Strings(hours)
	return byHour, hours, nil
}

// Audit calls fn with each record at or after since, oldest first, until fn returns false.
// Records still in the writer's buffer are written first.
func (l *Log) Audit(since time.Time, fn func(at time.Time, record []byte) bool) error {
	if l.keys != nil { // a writer, not ReadLog
		if err := l.Flush(); err != nil {
			return err
		}
	}
	byHour, hours, err := l.segments()
	if err != nil {
		return err
	}
	// A record may sit in a later hour's segment than its time's (see Log), never an earlier one.
	first := since.UTC().Truncate(time.Hour).Format(hourLayout)
	type line struct {
		at  time.Time
		rec []byte
	}
	for _, h := range hours {
		if h < first {
			continue
		}
		var lines []line
		for _, path := range byHour[h] {
			data, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			for _, raw := range bytes.Split(data, []byte{'\n'}) {
				var head struct {
					Time time.Time `json:"time"`
				}
				if len(raw) == 0 || json.Unmarshal(raw, &head) != nil {
					continue // empty, or a line the writer had not finished
				}
				if !head.Time.Before(since) {
					lines = append(lines, line{head.Time, raw})
				}
			}
		}
		slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
		for _, ln := range lines {
			if !fn(ln.at, ln.rec) {
				return nil
			}
		}
	}
	return nil
}

// Purge deletes the segments whose every record is older than its vendor's retention
// (retention("") for records that name no configured vendor) and returns how many records went.
// Before deleting a chain's segments it appends, and writes through, a checkpoint record naming
// the last record deleted, so that the chain still verifies.
func (l *Log) Purge(now time.Time, retention func(vendor string) time.Duration) (int, error) {
	l.purgeMu.Lock()
	defer l.purgeMu.Unlock()
	dirs, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		k, err := l.purgeChain(d.Name(), now, retention)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// purgeChain purges one chain's segments past retention.
func (l *Log) purgeChain(name string, now time.Time, retention func(string) time.Duration) (int, error) {
	vendor := chainVendor(name)
	cutoff := now.Add(-retention(vendor))
	files, err := segmentFiles(filepath.Join(l.dir, name))
	if err != nil {
		return 0, err
	}
	var old []segmentFile
	for _, f := range files {
		hour, _ := time.Parse(hourLayout, f.hour)
		if hour.Add(time.Hour).After(cutoff) {
			break // files are in hour order
		}
		old = append(old, f)
	}
	if len(old) == 0 {
		return 0, nil
	}
	// The chain's open segment may be among them (a vendor quiet since): close it first.
	l.mu.Lock()
	if c := l.chains[name]; c != nil && c.seg != nil && c.seg.hour <= old[len(old)-1].hour {
		l.closeSegment(c)
	}
	l.mu.Unlock()

	cp := Action{Time: now.UTC(), Kind: KindPurge, Vendor: vendor, By: ByRetention, What: WhatPurged}
	for _, f := range old {
		data, err := os.ReadFile(filepath.Join(l.dir, name, f.name))
		if err != nil {
			return 0, err
		}
		for _, raw := range bytes.Split(data, []byte{'\n'}) {
			if len(raw) == 0 {
				continue
			}
			cp.Purged++
			var head struct {
				Time time.Time `json:"time"`
			}
			if json.Unmarshal(raw, &head) == nil && !head.Time.IsZero() {
				if cp.From.IsZero() || head.Time.Before(cp.From) {
					cp.From = head.Time.UTC()
				}
				if head.Time.After(cp.To) {
					cp.To = head.Time.UTC()
				}
			}
			if s, ok := unseal(raw); ok {
				cp.LastSeq, cp.LastMAC = s.seq, hex.EncodeToString(s.mac[:])
			}
		}
	}
	cp.Detail = fmt.Sprintf("%d records past retention deleted, in %d hourly files", cp.Purged, len(old))
	// The checkpoint is on disk before a record it accounts for is gone.
	if err := l.Note(cp); err != nil {
		return 0, fmt.Errorf("audit checkpoint: %w", err)
	}
	var errs []error
	for _, f := range old {
		if err := os.Remove(filepath.Join(l.dir, name, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return cp.Purged, errors.Join(errs...)
}
