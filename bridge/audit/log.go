package audit

import (
	"bufio"
	"bytes"
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
// (noVendorDir for requests that named no configured vendor):
//
//	{dir}/{vendor}/{YYYYMMDD}T{HH}.jsonl   (UTC)
//
// Appends go to a buffer, written and fsynced every FlushEvery and at Close: a crash loses at
// most that much of the trail, never a webhook (the trail is a record of requests, not part of
// "2xx means kept"). Keeping the trail out of the state store keeps its transactions small and
// its mapped file, which counts in the process's memory, from growing with every request.
// Retention deletes whole segments, so a record lives between its vendor's retention and an hour
// more. Files are plain: an export can read them while the server writes.
type Log struct {
	dir string

	mu     sync.Mutex // guards open and closed
	open   map[string]*segment
	closed bool

	stop chan struct{}
	done chan struct{}
}

type segment struct {
	hour string // "20261125T08"
	f    *os.File
	w    *bufio.Writer
}

const (
	// FlushEvery is how often buffered records are written and fsynced.
	FlushEvery  = time.Second
	noVendorDir = "_none"
	hourLayout  = "20060102T15"
	segmentExt  = ".jsonl"
)

// OpenLog opens (creating) the trail under dir and starts its flusher.
func OpenLog(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	l := &Log{dir: dir, open: map[string]*segment{}, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

// ReadLog opens the trail under dir for reading only (an export next to a running server).
func ReadLog(dir string) *Log { return &Log{dir: dir, closed: true} }

func vendorDir(vendor string) string {
	if vendor == "" {
		return noVendorDir
	}
	return vendor
}

// Append adds one record (a JSON object without a trailing newline) for a vendor at a time.
func (l *Log) Append(at time.Time, vendor string, record []byte) error {
	hour := at.UTC().Format(hourLayout)
	dir := vendorDir(vendor)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("audit log closed")
	}
	seg := l.open[dir]
	if seg == nil || seg.hour != hour {
		if seg != nil {
			l.closeSegment(seg)
		}
		var err error
		if seg, err = l.openSegment(dir, hour); err != nil {
			delete(l.open, dir)
			return err
		}
		l.open[dir] = seg
	}
	seg.w.Write(record)
	return seg.w.WriteByte('\n')
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

func (l *Log) closeSegment(s *segment) {
	s.w.Flush()
	s.f.Sync()
	s.f.Close()
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

// Flush writes and fsyncs what is buffered.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.open {
		if s.w.Buffered() == 0 {
			continue
		}
		if err := s.w.Flush(); err != nil {
			errs = append(errs, err)
		}
		if err := s.f.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close writes what is buffered and closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for dir, s := range l.open {
		l.closeSegment(s)
		delete(l.open, dir)
	}
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return nil
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
		files, err := os.ReadDir(filepath.Join(l.dir, d.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			hour, ok := strings.CutSuffix(f.Name(), segmentExt)
			if !ok {
				continue
			}
			if _, err := time.Parse(hourLayout, hour); err != nil {
				continue
			}
			byHour[hour] = append(byHour[hour], filepath.Join(l.dir, d.Name(), f.Name()))
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
	if !l.closed {
		if err := l.Flush(); err != nil {
			return err
		}
	}
	byHour, hours, err := l.segments()
	if err != nil {
		return err
	}
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
// (retention("") for requests that named no configured vendor) and returns how many records went.
func (l *Log) Purge(now time.Time, retention func(vendor string) time.Duration) (int, error) {
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
		vendor := d.Name()
		if vendor == noVendorDir {
			vendor = ""
		}
		cutoff := now.Add(-retention(vendor))
		files, err := os.ReadDir(filepath.Join(l.dir, d.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			hourText, ok := strings.CutSuffix(f.Name(), segmentExt)
			hour, err := time.Parse(hourLayout, hourText)
			if !ok || err != nil || hour.Add(time.Hour).After(cutoff) {
				continue
			}
			l.mu.Lock()
			if s := l.open[d.Name()]; s != nil && s.hour == hourText {
				l.closeSegment(s)
				delete(l.open, d.Name())
			}
			l.mu.Unlock()
			path := filepath.Join(l.dir, d.Name(), f.Name())
			data, err := os.ReadFile(path)
			if err == nil {
				n += bytes.Count(data, []byte{'\n'})
				err = os.Remove(path)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}
