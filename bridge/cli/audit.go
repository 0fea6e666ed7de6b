package cli

import (
	"bufio"
	"context"
	"encoding/json"
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
	args:    "export",
	summary: "print the audit trail as JSON lines: time, vendor, pseudonymized event id, status, outcome, reason, topics, latency; no clear identifiers, bodies or secrets",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		sinceText := fset.String("since", "24h", "records from this long ago (24h, 90m, 7d) or this time (RFC 3339)")
		vendor := fset.String("vendor", "", "only this vendor's records")
		offline := fset.Bool("offline", false, "do not ask a running server; read the trail's files")
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, -1)
			if err != nil {
				return err
			}
			if len(pos) != 1 || pos[0] != "export" {
				fset.Usage()
				return errUsage
			}
			f.resolve()
			return auditExport(ctx, e, f, *sinceText, *vendor, *offline)
		}
	},
}

// auditExport runs `hookbridge audit export`: the audit trail as JSON lines on stdout, for sharing
// with a vendor during an incident. It holds pseudonymized event ids only: no clear identifier, no
// body, no secret. A running server is asked through its admin listener; without one the trail's
// files are read directly.
func auditExport(ctx context.Context, e *env, f *flags, sinceText, vendor string, offline bool) error {
	stdout, stderr := e.stdout, e.stderr
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
		resp, err := adminGet(ctx, f, "/api/audit?"+q.Encode())
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				_, err := io.Copy(out, resp.Body)
				return err
			}
			var body struct {
				Error string `json:"error"`
			}
			_ = json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&body)
			if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("admin API: %s", body.Error)
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
	_, err = audit.Export(out, audit.ReadLog(dir), audit.Filter{Since: since, Vendor: vendor})
	return err
}
