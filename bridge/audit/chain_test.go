package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// The trail verifyTrail builds: acme-locks has 4 records in each of three hours, gridwise-energy
// and requests naming no vendor 2 in the first hour.
const (
	hour0 = "20261125T08"
	hour1 = "20261125T09"
	hour2 = "20261125T10"
)

func segPath(dir, chain, hour string) string { return filepath.Join(dir, chain, hour+".jsonl") }

// buildTrail writes the test trail under a new directory and closes it.
func buildTrail(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	rec := audit.NewRecorder(l, []string{"acme-locks", "gridwise-energy"}, 0)
	for h := range 3 {
		for i := range 4 {
			rec.Observe(&outcome.Outcome{Vendor: "acme-locks", Token: "tok", Status: 202, Reason: outcome.Accepted,
				Received: t0.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Minute), Skipped: h*4 + i})
		}
	}
	for i := range 2 {
		rec.Observe(&outcome.Outcome{Vendor: "gridwise-energy", Status: 401, Reason: outcome.BadSignature, Received: t0.Add(time.Duration(i) * time.Second)})
		rec.Observe(&outcome.Outcome{Status: 404, Reason: outcome.UnknownVendor, Received: t0.Add(time.Duration(i) * time.Second)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// editFile applies fn to a file's lines (without their newlines) and writes them back.
func editFile(t *testing.T, path string, fn func(lines [][]byte) [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	lines = fn(lines)
	out := append(bytes.Join(lines, []byte{'\n'}), '\n')
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, dir string) *audit.Report {
	t.Helper()
	r, err := audit.Verify(dir, testKeys)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// TestVerifyFindsTampering tampers with a trail in each way a person with the files (but not the
// key) could, and checks that Verify names the first record concerned.
func TestVerifyFindsTampering(t *testing.T) {
	acme := func(hour string) string { return "acme-locks/" + hour + ".jsonl" }
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		// want is the first problem: kind, file, line and seq (0: not compared).
		kind string
		file string
		line int
		seq  uint64
	}{
		{"an edited byte", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour1), func(l [][]byte) [][]byte {
				l[2] = bytes.Replace(l[2], []byte(`"status":202`), []byte(`"status":203`), 1)
				return l
			})
		}, audit.ProblemChanged, acme(hour1), 3, 7},
		{"an edited byte that breaks the JSON", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour0), func(l [][]byte) [][]byte {
				l[1][0] = '['
				return l
			})
		}, audit.ProblemChanged, acme(hour0), 2, 2},
		{"an edited MAC", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour0), func(l [][]byte) [][]byte {
				n := len(l[3])
				l[3][n-3] ^= 1 // a hex digit to another
				if l[3][n-3] < '0' || (l[3][n-3] > '9' && l[3][n-3] < 'a') || l[3][n-3] > 'f' {
					l[3][n-3] = '0'
				}
				return l
			})
		}, audit.ProblemChanged, acme(hour0), 4, 4},
		{"a removed line", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour1), func(l [][]byte) [][]byte { return slices.Delete(l, 1, 2) })
		}, audit.ProblemRemoved, acme(hour1), 2, 7},
		{"two swapped lines", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour1), func(l [][]byte) [][]byte {
				l[1], l[2] = l[2], l[1]
				return l
			})
		}, audit.ProblemReordered, acme(hour1), 3, 6},
		{"a duplicated line", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "gridwise-energy", hour0), func(l [][]byte) [][]byte { return append(l, l[0]) })
		}, audit.ProblemReordered, "gridwise-energy/" + hour0 + ".jsonl", 3, 1},
		{"a line without its MAC", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour2), func(l [][]byte) [][]byte {
				i := bytes.LastIndex(l[1], []byte(`,"mac":`))
				l[1] = append(l[1][:i:i], '}')
				return l
			})
		}, audit.ProblemChanged, acme(hour2), 2, 0},
		{"a record moved to another vendor's chain", func(t *testing.T, dir string) {
			src, _ := os.ReadFile(segPath(dir, "gridwise-energy", hour0))
			os.WriteFile(segPath(dir, "_none", hour0), src, 0o600)
		}, audit.ProblemChanged, "_none/" + hour0 + ".jsonl", 1, 1},
		{"the end of the last file cut off mid-line", func(t *testing.T, dir string) {
			p := segPath(dir, "acme-locks", hour2)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-40)
		}, audit.ProblemTruncated, acme(hour2), 0, 12},
		{"the last line of the last file removed", func(t *testing.T, dir string) {
			editFile(t, segPath(dir, "acme-locks", hour2), func(l [][]byte) [][]byte { return l[:3] })
		}, audit.ProblemTruncated, acme(hour2), 0, 12},
		{"a file in the middle cut short", func(t *testing.T, dir string) {
			p := segPath(dir, "acme-locks", hour1)
			data, _ := os.ReadFile(p)
			os.Truncate(p, int64(bytes.IndexByte(data, '\n')+1+10)) // 10 bytes of line 2 left
		}, audit.ProblemChanged, acme(hour1), 2, 0},
		{"the last file deleted", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, "acme-locks", hour2))
		}, audit.ProblemTruncated, acme(hour1), 0, 9},
		{"a file in the middle deleted", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, "acme-locks", hour1))
		}, audit.ProblemRemoved, acme(hour2), 1, 9},
		{"the first file deleted", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, "acme-locks", hour0))
		}, audit.ProblemRemoved, acme(hour1), 1, 5},
		{"a whole chain deleted", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, "gridwise-energy"))
		}, audit.ProblemTruncated, "", 0, 0},
		{"the head deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "head.json"))
		}, audit.ProblemHead, "head.json", 0, 0},
		{"the head edited", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "head.json"), func(l [][]byte) [][]byte {
				l[0] = bytes.Replace(l[0], []byte(`"seq":12`), []byte(`"seq":11`), 1)
				return l
			})
		}, audit.ProblemHead, "head.json", 0, 0},
	}
	if r := verify(t, buildTrail(t)); !r.OK || r.Records != 16 || r.Chains != 3 {
		t.Fatalf("Verify(untouched trail) = %+v, want OK with 16 records in 3 chains", r)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildTrail(t)
			tc.tamper(t, dir)
			r := verify(t, dir)
			if r.OK || len(r.Problems) == 0 {
				t.Fatalf("Verify = OK, want a %s problem", tc.kind)
			}
			p := r.Problems[0]
			if p.Kind != tc.kind || p.File != tc.file || p.Line != tc.line || (tc.seq != 0 && p.Seq != tc.seq) {
				t.Errorf("first problem = %s (%+v),\nwant %s at %s:%d seq %d", p, p, tc.kind, tc.file, tc.line, tc.seq)
			}
		})
	}
}

// TestVerifyAcceptsPurges: retention deletes the oldest hours of each chain, each by its own
// vendor's retention, and leaves checkpoints that Verify accepts, across a second purge and a
// restart; removing a checkpoint, or records beyond what it accounts for, is found.
func TestVerifyAcceptsPurges(t *testing.T) {
	dir := buildTrail(t)
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	// acme-locks keeps 1 day: as of a day after hour1 ended, hours 0 and 1 go; the others keep 30.
	days := map[string]time.Duration{"acme-locks": 24 * time.Hour}
	retention := func(v string) time.Duration {
		if d, ok := days[v]; ok {
			return d
		}
		return 30 * 24 * time.Hour
	}
	now := t0.Add(2*time.Hour + 24*time.Hour)
	if n, err := l.Purge(now, retention); n != 8 || err != nil {
		t.Fatalf("Purge = %d, %v, want 8 records", n, err)
	}
	if r := verify(t, dir); !r.OK || r.Checkpoints != 1 || r.Records != 9 {
		t.Fatalf("Verify after a purge = %+v, want OK, 1 checkpoint, 8 webhook records and the checkpoint", r)
	}
	// More records, a second purge of everything acme-locks had, a restart.
	audit.NewRecorder(l, []string{"acme-locks"}, 0).Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Received: now})
	if n, err := l.Purge(now.Add(26*time.Hour), retention); n != 6 || err != nil {
		t.Fatalf("second Purge = %d, %v, want 6 (hour 2's records, the first checkpoint, the new record)", n, err)
	}
	l.Close()
	if r := verify(t, dir); !r.OK || r.Checkpoints != 1 {
		t.Fatalf("Verify after a second purge = %+v, want OK", r)
	}
	l, err = audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Repairs(); len(got) != 0 {
		t.Errorf("Repairs after a clean stop = %q, want none", got)
	}
	audit.NewRecorder(l, []string{"acme-locks"}, 0).Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Received: now.Add(27 * time.Hour)})
	l.Close()
	if r := verify(t, dir); !r.OK {
		t.Fatalf("Verify after a restart = %+v, want OK", r)
	}

	// The checkpoint's file removed: the chain starts at a seq nothing accounts for.
	files, _ := filepath.Glob(filepath.Join(dir, "acme-locks", "*.jsonl"))
	slices.Sort(files)
	os.Remove(files[0])
	r := verify(t, dir)
	if r.OK || r.Problems[0].Kind != audit.ProblemRemoved {
		t.Fatalf("Verify without the checkpoint = %+v, want a removed problem first", r)
	}
}

// TestChainAcrossRestarts: a chain continues across a close and a reopen, a crash's torn last
// line is dropped at open, and records removed while no server ran are recorded at the next
// start (Verify reports it from then on).
func TestChainAcrossRestarts(t *testing.T) {
	dir := buildTrail(t)
	p := segPath(dir, "gridwise-energy", hour0)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-11-25T08:00:02Z","vendor":"gridwise-energy","sta`)
	f.Close()
	if r := verify(t, dir); !r.OK || r.Incomplete != 1 {
		t.Fatalf("Verify with a torn last line after the head = %+v, want OK with 1 incomplete", r)
	}
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Repairs(); len(got) != 1 || !strings.Contains(got[0], "incomplete last line") {
		t.Errorf("Repairs = %q, want the torn line dropped", got)
	}
	rec := audit.NewRecorder(l, []string{"acme-locks", "gridwise-energy"}, 0)
	// A record whose time is before the chain's newest hour goes to the newest segment.
	rec.Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Received: t0})
	rec.Observe(&outcome.Outcome{Vendor: "gridwise-energy", Status: 202, Reason: outcome.Accepted, Received: t0.Add(time.Hour)})
	l.Close()
	if r := verify(t, dir); !r.OK || r.Records != 18 {
		t.Fatalf("Verify after a restart = %+v, want OK with 18 records", r)
	}
	if data, _ := os.ReadFile(segPath(dir, "acme-locks", hour0)); bytes.Count(data, []byte{'\n'}) != 4 {
		t.Errorf("a late record went back into an older hour's segment")
	}

	// Removed while stopped: the newest hour of acme-locks.
	os.Remove(segPath(dir, "acme-locks", hour2))
	l, err = audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Repairs(); len(got) != 1 || !strings.Contains(got[0], "head named seq 13") {
		t.Errorf("Repairs = %q, want the gap found", got)
	}
	l.Close()
	r := verify(t, dir)
	if r.OK || len(r.Problems) != 1 || r.Problems[0].Kind != audit.ProblemGap || r.Problems[0].Chain != "acme-locks" {
		t.Fatalf("Verify after a restart over a gap = %+v, want the one gap record reported", r)
	}
}

// TestVerifyUnsealed: records of a trail written before the chain began (0.1) are counted, not
// failed; the chain starts after them.
func TestVerifyUnsealed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "acme-locks"), 0o700)
	old := audit.Record{Time: t0, Vendor: "acme-locks", Status: 202, Outcome: "accepted", Reason: "accepted"}
	os.WriteFile(segPath(dir, "acme-locks", hour0), append(old.AppendJSON(nil), '\n'), 0o600)
	l, err := audit.OpenLog(dir, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	audit.NewRecorder(l, []string{"acme-locks"}, 0).Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Received: t0.Add(time.Minute)})
	l.Close()
	if r := verify(t, dir); !r.OK || r.Unsealed != 1 || r.Records != 1 {
		t.Fatalf("Verify = %+v, want OK with 1 unsealed and 1 record", r)
	}
}

// TestVerifyNeedsTheKey: another key finds every record changed.
func TestVerifyNeedsTheKey(t *testing.T) {
	dir := buildTrail(t)
	other, _ := audit.NewKeys([]byte("another-master-key-0123456789abc"))
	r, err := audit.Verify(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Records != 0 {
		t.Fatalf("Verify with another key = %+v, want nothing verified", r)
	}
}

// TestKeysFile: the key is created once, 0600, beside (not in) the trail, and read back the same.
func TestKeysFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := audit.LoadKeys(dir); err == nil {
		t.Fatalf("LoadKeys of an empty dir = nil error, want ErrNoKey")
	}
	k1, created, err := audit.LoadOrCreateKeys(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateKeys = %v, %v, want created", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, audit.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v, want 0600", st.Mode().Perm(), err)
	}
	k2, created, err := audit.LoadOrCreateKeys(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKeys = %v, %v, want read", created, err)
	}
	if k1.SecretDigest("v", "s") != k2.SecretDigest("v", "s") {
		t.Errorf("the key read back differs from the one written")
	}
}

// TestSecretDigest: keyed, per vendor, never the secret or its plain hash.
func TestSecretDigest(t *testing.T) {
	const secret = "whsec_c2VjcmV0LWNhbmFyeS0wMTIzNDU2Nzg5"
	d := testKeys.SecretDigest("acme-locks", secret)
	plain := sha256.Sum256([]byte(secret))
	other, _ := audit.NewKeys([]byte("another-master-key-0123456789abc"))
	switch {
	case len(d) != 32:
		t.Errorf("SecretDigest = %q, want 32 hex digits", d)
	case strings.Contains(hex.EncodeToString(plain[:]), d):
		t.Errorf("SecretDigest is the secret's plain SHA-256")
	case d == testKeys.SecretDigest("gridwise-energy", secret):
		t.Errorf("SecretDigest is the same for two vendors")
	case d == other.SecretDigest("acme-locks", secret):
		t.Errorf("SecretDigest does not depend on the key")
	case d != testKeys.SecretDigest("acme-locks", secret):
		t.Errorf("SecretDigest is not stable")
	}
}
