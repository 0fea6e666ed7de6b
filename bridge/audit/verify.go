package audit

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Problem is one thing Verify found wrong with the trail, located at the first record it
// concerns.
type Problem struct {
	// Chain is the vendor whose chain it is in, noVendorDir ("_none") for records that name none.
	Chain string `json:"chain"`
	// File (relative to the trail's directory) and Line (from 1) locate the record; Line is 0
	// when the problem is not one line (a chain cut off at its end).
	File string    `json:"file,omitempty"`
	Line int       `json:"line,omitempty"`
	Seq  uint64    `json:"seq,omitempty"`
	Time time.Time `json:"time,omitzero"`
	// Kind is one of the Problem kinds below; Detail says it in words.
	Kind   string `json:"problem"`
	Detail string `json:"detail"`
}

// Problem kinds.
const (
	ProblemChanged   = "changed"   // a record's bytes are not the ones its MAC was made over
	ProblemRemoved   = "removed"   // records are missing before this one
	ProblemReordered = "reordered" // this record comes after a later one
	ProblemTruncated = "truncated" // the chain ends before the record its head names
	ProblemGap       = "gap"       // records found removed, or the head changed, at a start (a record says so)
	ProblemHead      = "head"      // the head file is missing or does not match its MAC
)

// String says where the problem is and what it is, in one line.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
	} else {
		b.WriteString("chain " + p.Chain)
	}
	var at []string
	if p.Seq > 0 {
		at = append(at, fmt.Sprintf("seq %d", p.Seq))
	}
	if !p.Time.IsZero() {
		at = append(at, p.Time.UTC().Format(time.RFC3339))
	}
	if len(at) > 0 {
		b.WriteString(" (" + strings.Join(at, ", ") + ")")
	}
	b.WriteString(": " + p.Kind + ": " + p.Detail)
	return b.String()
}

// Report is the result of Verify.
type Report struct {
	// OK is true when no problem was found.
	OK bool `json:"ok"`
	// Chains, Records and Checkpoints count what verified: chains, records whose MAC matched, and
	// purge checkpoints among them.
	Chains      int `json:"chains"`
	Records     int `json:"records"`
	Checkpoints int `json:"checkpoints"`
	// Unsealed counts records from before the chain began (written by 0.1), which nothing
	// protects; Incomplete counts last lines still being written (a server running), not checked.
	Unsealed   int `json:"unsealed,omitempty"`
	Incomplete int `json:"incomplete,omitempty"`
	// Newest is the time of the newest record that verified.
	Newest time.Time `json:"newest,omitzero"`
	// Problems are in chain order (vendors sorted), then in the order of the records.
	Problems []Problem `json:"problems,omitempty"`
}

// Verify checks the trail under dir with its keys: each chain's records, in the order of their
// files and lines, must follow one another (seq rising by one, each MAC made over the previous
// record's), start at the chain's beginning or at a purge checkpoint, and reach the record the
// head names. It reads plain files and takes no lock, so it may run next to a server; records the
// server wrote after its last head are checked as far as they go, and a last line it is writing is
// counted as Incomplete. The error is for a trail that could not be read at all.
func Verify(dir string, keys *Keys) (*Report, error) {
	r := &Report{}
	// The head first: whatever it names is on disk before it is written.
	h, found, herr := readHead(dir, keys)
	switch {
	case herr != nil && !errors.Is(herr, errHead):
		return nil, herr
	case herr != nil:
		r.Problems = append(r.Problems, Problem{Chain: "", File: headName, Kind: ProblemHead,
			Detail: "the head file does not match its MAC: it was changed, or replaced by another trail's"})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	for name := range h.Chains {
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			names = append(names, name) // named by the head, gone from disk
		}
	}
	sort.Strings(names)
	sl := newSealer(keys)
	sealedAny := false
	for _, name := range names {
		var hc *headChain
		if c, ok := h.Chains[name]; ok && herr == nil {
			hc = &c
		}
		n, err := verifyChain(r, sl, dir, name, hc)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			r.Chains++
			sealedAny = true
		}
	}
	if !found && sealedAny {
		r.Problems = append(r.Problems, Problem{File: headName, Kind: ProblemHead,
			Detail: "the head file is missing: whether records were cut off the end of the trail cannot be told"})
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

// Verify writes what is buffered and the head, then verifies the trail as the package's Verify
// does, apart from a purge. For a running server: its newest records are checked too.
func (l *Log) Verify() (*Report, error) {
	if l.keys == nil {
		return nil, ErrNoKey
	}
	l.purgeMu.Lock()
	defer l.purgeMu.Unlock()
	if err := l.Flush(); err != nil {
		return nil, err
	}
	return Verify(l.dir, l.keys)
}

// line is one line of a chain, as read.
type line struct {
	file     string // relative to the trail's directory
	no       int    // from 1
	raw      []byte
	complete bool // ends with a newline
	sealed   sealed
	isSealed bool
}

// meta is what verification reads from a sealed record's JSON.
type meta struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	What    string    `json:"what"`
	Detail  string    `json:"detail"`
	LastSeq uint64    `json:"last_seq"`
	LastMAC string    `json:"last_mac"`
}

func readMeta(raw []byte) meta {
	var m meta
	_ = json.Unmarshal(raw, &m)
	return m
}

// verifyChain verifies one chain and adds what it finds to r; it returns how many sealed records
// the chain holds.
func verifyChain(r *Report, sl *sealer, dir, name string, hc *headChain) (int, error) {
	var files []segmentFile
	if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
		var err error
		if files, err = segmentFiles(filepath.Join(dir, name)); err != nil {
			return 0, err
		}
	}
	var lines []line
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, name, f.name))
		if errors.Is(err, os.ErrNotExist) {
			continue // purged meanwhile
		}
		if err != nil {
			return 0, err
		}
		rel := name + "/" + f.name
		for no := 1; len(data) > 0; no++ {
			raw, rest, complete := bytes.Cut(data, []byte{'\n'})
			data = rest
			ln := line{file: rel, no: no, raw: raw, complete: complete}
			ln.sealed, ln.isSealed = unseal(raw)
			lines = append(lines, ln)
		}
	}
	problem := func(ln *line, kind, detail string) {
		p := Problem{Chain: name, File: ln.file, Line: ln.no, Kind: kind, Detail: detail}
		if ln.isSealed {
			p.Seq = ln.sealed.seq
		}
		p.Time = readMeta(ln.raw).Time
		r.Problems = append(r.Problems, p)
	}

	// The MAC of each seq (first occurrence), and the purge checkpoints' "last record" MACs.
	macs := map[uint64]sum{}
	checkpoints := map[uint64]sum{}
	n := 0
	for i := range lines {
		ln := &lines[i]
		if !ln.isSealed {
			continue
		}
		n++
		if _, dup := macs[ln.sealed.seq]; !dup {
			macs[ln.sealed.seq] = ln.sealed.mac
		}
		if bytes.Contains(ln.raw, []byte(`"kind":"`+KindPurge+`"`)) {
			if m := readMeta(ln.raw); m.Kind == KindPurge && m.LastSeq > 0 {
				var s sum
				if b, err := hex.DecodeString(m.LastMAC); err == nil && len(b) == len(s) {
					copy(s[:], b)
					checkpoints[m.LastSeq] = s
				}
			}
		}
	}

	var maxSeq uint64 // the highest seq met so far, in file and line order
	var maxLine *line
	var newest *line // the last record that verified
	started := false
	for i := range lines {
		ln := &lines[i]
		last := i == len(lines)-1
		switch {
		case !ln.complete && last:
			r.Incomplete++ // being written, or left by a crash; the head tells whether it mattered
			continue
		case !ln.complete:
			problem(ln, ProblemChanged, "an incomplete line in the middle of the chain: a file was cut short")
			continue
		case len(ln.raw) == 0:
			problem(ln, ProblemChanged, "an empty line, which Hookbridge never writes")
			continue
		case !ln.isSealed && !started:
			r.Unsealed++ // written before the chain began
			continue
		case !ln.isSealed:
			problem(ln, ProblemChanged, "a line without a MAC inside the chain: added, or its MAC removed")
			continue
		}
		started = true
		seq := ln.sealed.seq
		if seq <= maxSeq {
			problem(ln, ProblemReordered, fmt.Sprintf("it comes after seq %d (%s:%d)", maxSeq, maxLine.file, maxLine.no))
			continue
		}
		prevSeq := maxSeq
		maxSeq, maxLine = seq, ln
		var prev sum
		if seq == 1 {
			prev = sl.genesis(name)
		} else if m, ok := macs[seq-1]; ok {
			prev = m
		} else if m, ok := checkpoints[seq-1]; ok {
			prev = m
		} else {
			switch {
			case prevSeq == 0:
				problem(ln, ProblemRemoved, fmt.Sprintf("the chain starts at seq %d: the records before it are missing, and no purge checkpoint accounts for them", seq))
			case seq-1 == prevSeq+1:
				problem(ln, ProblemRemoved, fmt.Sprintf("the record before it (seq %d) is missing", seq-1))
			default:
				problem(ln, ProblemRemoved, fmt.Sprintf("the records before it (seq %d to %d) are missing", prevSeq+1, seq-1))
			}
			continue
		}
		if got := sl.mac(prev, ln.sealed.canonical); !hmac.Equal(got[:], ln.sealed.mac[:]) {
			problem(ln, ProblemChanged, "its content does not match its MAC")
			continue
		}
		r.Records++
		newest = ln
		if bytes.Contains(ln.raw, []byte(`"kind":"`)) {
			switch m := readMeta(ln.raw); {
			case m.Kind == KindPurge:
				r.Checkpoints++
			case m.Kind == KindChain && (m.What == WhatGap || m.What == WhatHeadChanged):
				problem(ln, ProblemGap, m.Detail)
			}
		}
	}
	if newest != nil {
		if t := readMeta(newest.raw).Time; t.After(r.Newest) {
			r.Newest = t
		}
	}

	// The end: the record the head names must be there, unchanged.
	if hc != nil {
		switch m, ok := macs[hc.Seq]; {
		case ok && hex.EncodeToString(m[:]) != hc.MAC:
			r.Problems = append(r.Problems, Problem{Chain: name, Seq: hc.Seq, Kind: ProblemChanged,
				Detail: fmt.Sprintf("record seq %d is not the one the head names", hc.Seq)})
		case !ok && hc.Seq > maxSeq:
			p := Problem{Chain: name, Seq: maxSeq + 1, Kind: ProblemTruncated}
			if maxLine != nil {
				p.File = maxLine.file
				p.Detail = fmt.Sprintf("the chain ends at seq %d (%s:%d), but the head names seq %d: records were cut off its end", maxSeq, maxLine.file, maxLine.no, hc.Seq)
			} else {
				p.Seq = 0
				p.Detail = fmt.Sprintf("the chain has no records left, but the head names seq %d: its files were removed", hc.Seq)
			}
			r.Problems = append(r.Problems, p)
		}
	}
	return n, nil
}
