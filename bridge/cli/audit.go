package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
)

var auditCommand = &command{
	name:    "audit",
	args:    "export|verify",
	summary: "export: print the audit trail as JSON lines (time, vendor, pseudonymized event id, status, outcome, reason, topics, latency; no clear identifiers, bodies or secrets); verify: check that no record was changed, removed or reordered, exit 1 naming the first that was",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		sinceText := fset.String("since", "24h", "export: records from this long ago (24h, 90m, 7d) or this time (RFC 3339)")
		vendor := fset.String("vendor", "", "export: only this vendor's records")
		actions := fset.Bool("actions", false, "export: also the records of what people and Hookbridge did (kill switches, incidents, secrets and policies by digest, purges)")
		asJSON := fset.Bool("json", false, "verify: print the report as JSON")
		offline := fset.Bool("offline", false, "do not ask a running server; read the trail's files")
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, -1)
			if err != nil {
				return err
			}
			if len(pos) != 1 || (pos[0] != "export" && pos[0] != "verify") {
				fset.Usage()
				return errUsage
			}
			f.resolve()
			if pos[0] == "verify" {
				return auditVerify(ctx, e, f, *offline, *asJSON)
			}
			return auditExport(ctx, e, f, auditFilter{since: *sinceText, vendor: *vendor, actions: *actions}, *offline)
		}
	},
}

// auditFilter is what `audit export` selects.
type auditFilter struct {
	since, vendor string
	actions       bool
}

// auditExport runs `hookbridge audit export`: the audit trail as JSON lines on stdout, for sharing
// with a vendor during an incident. It holds pseudonymized event ids only: no clear identifier, no
// body, no secret. A running server is asked through its admin listener; without one the trail's
// files are read directly.
func auditExport(ctx context.Context, e *env, f *flags, af auditFilter, offline bool) error {
	stdout, stderr := e.stdout, e.stderr
	sinceText, vendor := af.since, af.vendor
	since, err := audit.ParseSince(sinceText, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "hookbridge audit export: --since: %v\n", err)
		return errUsage
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()

	if !offline {
		q := url.Values{"since": {sinceText}}
		if vendor != "" {
			q.Set("vendor", vendor)
		}
		if af.actions {
			q.Set("actions", "true")
		}
		resp, err := adminGet(ctx, f, "/api/audit?"+q.Encode())
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				_, err := io.Copy(out, resp.Body)
				return err
			}
			msg := apiError(io.LimitReader(resp.Body, 4<<10))
			if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("admin API: %s", msg)
			}
			fmt.Fprintf(stderr, "hookbridge audit export: admin API answered %s; reading the state file instead\n", resp.Status)
		}
	}

	dir := filepath.Join(f.data, "audit")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no audit trail in %s (--data): %w", f.data, err)
	}
	// The trail is plain files: reading them needs no lock, even while a server writes them (its
	// last second of records may still be in its buffer).
	_, err = audit.Export(out, audit.ReadLog(dir), audit.Filter{Since: since, Vendor: vendor, Actions: af.actions})
	return err
}

// errVerify reports a trail that failed verification; the problems were printed.
var errVerify = errors.New("the audit trail failed verification")

// auditVerify runs `hookbridge audit verify`: it checks the trail's chains and prints what it
// found, returning errVerify when a record was changed, removed or reordered. A running server
// is asked first: it writes its buffered records and head before it verifies, so its newest
// records are checked too. Without one (or with --offline) the files are read directly, with the
// key from the data dir; next to a running server that checks the trail as of its last flush, a
// second ago at most.
func auditVerify(ctx context.Context, e *env, f *flags, offline, asJSON bool) error {
	var rep *audit.Report
	if !offline {
		var r audit.Report
		ok, err := fromServer(ctx, e, f, "audit verify", "/api/audit/verify", &r)
		if err != nil {
			return err
		}
		if ok {
			rep = &r
		}
	}
	if rep == nil {
		keys, err := audit.LoadKeys(f.data)
		if err != nil {
			return fmt.Errorf("cannot verify without the trail's key (%s in --data): %w", audit.KeyFile, err)
		}
		dir := filepath.Join(f.data, "audit")
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("no audit trail in %s (--data): %w", f.data, err)
		}
		if rep, err = audit.Verify(dir, keys); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(e.stdout, rep)
	}
	if !rep.OK {
		return fmt.Errorf("%w: %d problems, the first: %s", errVerify, len(rep.Problems), rep.Problems[0])
	}
	return nil
}

// printReport prints a verification report for people.
func printReport(w io.Writer, rep *audit.Report) {
	status := "verified"
	if !rep.OK {
		status = "FAILED"
	}
	fmt.Fprintf(w, "audit trail %s: %d records in %d chains, %d purge checkpoints", status, rep.Records, rep.Chains, rep.Checkpoints)
	if !rep.Newest.IsZero() {
		fmt.Fprintf(w, ", newest %s", rep.Newest.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if rep.Unsealed > 0 {
		fmt.Fprintf(w, "%d records from before the chain began (Hookbridge 0.1) are not protected\n", rep.Unsealed)
	}
	if rep.Incomplete > 0 {
		fmt.Fprintf(w, "%d last lines were still being written and were not checked\n", rep.Incomplete)
	}
	for i, p := range rep.Problems {
		if i == 20 {
			fmt.Fprintf(w, "... and %d more\n", len(rep.Problems)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", p)
	}
}
