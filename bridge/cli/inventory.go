package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

var inventoryCommand = &command{
	name:    "inventory",
	summary: "list every vendor connection: owner, risk, auth, state, data flows",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		asJSON := fset.Bool("json", false, "print JSON instead of a table")
		offline := fset.Bool("offline", false, "do not ask a running server; read the files")
		return func(ctx context.Context, args []string) error {
			if _, err := parse(fset, args, 0); err != nil {
				return err
			}
			f.resolve()
			return inventory(ctx, e, f, *asJSON, *offline)
		}
	},
}

// inventory prints the inventory of third-party connections, as a table or JSON. It asks the
// running server's admin listener first (live state and counters); without one it builds the same
// inventory from the options, the catalog and the stored kill-switch states.
func inventory(ctx context.Context, e *env, f *flags, asJSON, offline bool) error {
	var inv []admin.VendorInfo
	if !offline {
		if _, err := fromServer(ctx, e, f, "inventory", "/api/vendors", &inv); err != nil {
			return err
		}
	}
	if inv == nil {
		var err error
		if inv, err = offlineInventory(e, f); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inv)
	}
	printInventory(e.stdout, inv)
	return nil
}

// offlineInventory builds the inventory from the files, as the server would at start.
func offlineInventory(e *env, f *flags) ([]admin.VendorInfo, error) {
	files := f.files(e.prog)
	cat, _, err := files.Catalog()
	if err != nil {
		return nil, err
	}
	o, err := app.ReadOptions(f.options)
	if err != nil {
		return nil, err
	}
	inv, err := app.OfflineInventory(o, cat, f.data, func(msg string) { fmt.Fprintf(e.stderr, "hookbridge inventory: %s\n", msg) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.options, err)
	}
	return inv, nil
}

// printInventory writes the inventory as a table, then each vendor's data flows.
func printInventory(w io.Writer, inv []admin.VendorInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VENDOR\tSTATE\tMODE\tRISK\tAUTH\tRETENTION\tOWNER\tCONTACT\tLAST EVENT\tLAST ERROR")
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, v := range inv {
		auth := v.Scheme
		if !v.SecretConfigured {
			auth += " (no secret)"
		}
		owner, contact := orMissing(v.Owner), orMissing(v.Contact)
		mode := v.Mode
		if mode == "" {
			mode = "live" // an older server's inventory has no mode
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%dd\t%s\t%s\t%s\t%s\n", v.Name, v.State.Mode, mode, v.Risk, auth,
			v.RetentionDays, owner, contact, when(v.LastEvent), when(v.LastError))
	}
	tw.Flush()
	for _, v := range inv {
		fmt.Fprintf(w, "\n%s: %s\n", v.Name, orMissing(v.Title))
		if len(v.Missing) > 0 {
			fmt.Fprintf(w, "  missing in the policy: %s (still the draft's TODO)\n", strings.Join(v.Missing, ", "))
		}
		switch v.Mode {
		case "shadow":
			fmt.Fprintln(w, "  mode shadow: every webhook is checked and answered as in live mode; nothing is published")
		case "learn":
			fmt.Fprintf(w, "  mode learn: verified events are learnt from, nothing is published; draft with `hookbridge draft %s`\n", v.Name)
		}
		schema := v.Schema
		if schema == "" {
			schema = "(none yet)"
		}
		fmt.Fprintf(w, "  endpoint POST %s, schema %s", v.Endpoint, schema)
		if len(v.AllowedCIDRs) > 0 {
			fmt.Fprintf(w, ", sources %s", strings.Join(v.AllowedCIDRs, " "))
		}
		fmt.Fprintf(w, ", %g requests/minute\n", v.RatePerMinute)
		if v.State.Mode != killswitch.Enabled || v.State.Reason != "" {
			fmt.Fprintf(w, "  state %s by %s since %s", v.State.Mode, v.State.By, when(v.State.Since))
			if v.State.Reason != "" {
				fmt.Fprintf(w, ": %s", v.State.Reason)
			}
			fmt.Fprintln(w)
		}
		if c := v.Counters; c != nil {
			fmt.Fprintf(w, "  counters accepted %d, duplicate %d, rejected %d", c.Accepted, c.Duplicate, c.Rejected)
			for _, r := range slices.Sorted(maps.Keys(c.ByReason)) {
				if r != "accepted" && r != "duplicate" {
					fmt.Fprintf(w, ", %s %d", r, c.ByReason[r])
				}
			}
			fmt.Fprintln(w)
		}
		printLifecycle(w, v, when)
		for _, fl := range v.Flows {
			extra := fmt.Sprintf("qos %d", fl.QoS)
			if fl.Retain {
				extra += ", retained"
			}
			fmt.Fprintf(w, "  %s -> %s (%s)\n", fl.When, fl.Topic, extra)
			var out []string
			for _, fd := range fl.Fields {
				s := fd.Name + "=" + fd.From
				if fd.Pseudonymized {
					s += " (pseudonymized)"
				}
				out = append(out, s)
			}
			fmt.Fprintf(w, "      out: %s\n", strings.Join(out, ", "))
			dropped := "everything else"
			if len(fl.Dropped) > 0 {
				dropped = strings.Join(fl.Dropped, ", ") + ", and anything undeclared"
			}
			fmt.Fprintf(w, "      dropped: %s\n", dropped)
		}
	}
}

// printLifecycle writes a vendor's contacts, secrets (by digest: age, last use, ready to remove),
// silence, incidents, offboarding and who sees which field.
func printLifecycle(w io.Writer, v admin.VendorInfo, when func(time.Time) string) {
	whenp := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return when(*t)
	}
	if o := v.Offboarded; o != nil {
		fmt.Fprintf(w, "  OFFBOARDED %s by %s\n", when(o.At), o.By)
	}
	for _, c := range v.Contacts {
		backup := ""
		if c.Backup != "" {
			backup = ", backup " + c.Backup
		}
		fmt.Fprintf(w, "  contact %s: %s, %s%s\n", c.Role, c.Name, c.Channel, backup)
	}
	if a := v.Activity; a != nil {
		line := "  last accepted " + whenp(a.LastAccepted)
		if a.ExpectEvery != "" {
			line += ", expected every " + a.ExpectEvery
		}
		if a.Silent {
			line += ", SILENT since " + whenp(a.SilentSince)
		}
		fmt.Fprintln(w, line)
		if a.RotationDue {
			fmt.Fprintf(w, "  ROTATION DUE: the newest secret is older than rotate_after %s\n", a.RotateAfter)
		}
	}
	for _, sc := range v.Secrets {
		note := ""
		switch {
		case sc.ReadyToRemove:
			note = fmt.Sprintf(", READY TO REMOVE (unused for %s since a newer secret took over)", (time.Duration(sc.ReadyForSeconds) * time.Second).String())
		case sc.RotationDue:
			note = ", rotation due"
		case sc.Newest:
			note = ", newest"
		}
		fmt.Fprintf(w, "  secret %s (%s): first seen %s, %d days old, last verified %s%s\n", sc.Digest, sc.Key, when(sc.FirstSeen), sc.AgeDays, whenp(sc.LastVerified), note)
	}
	for i, inc := range v.Incidents {
		if i == 3 {
			fmt.Fprintf(w, "  ... %d older incidents (hookbridge inventory --json)\n", len(v.Incidents)-i)
			break
		}
		state := "closed"
		if inc.Open {
			state = "OPEN"
		}
		ack := "not acknowledged"
		if inc.TimeToAcknowledgeSeconds != nil {
			ack = fmt.Sprintf("acknowledged after %gs", *inc.TimeToAcknowledgeSeconds)
		}
		fmt.Fprintf(w, "  incident %s (%s): detected %s, contained after %gs, %s\n", state, inc.Cause, when(inc.Detected.At), inc.TimeToContainSeconds, ack)
	}
	if df := v.DataFlow; df != nil {
		for _, f := range df.Fields {
			if f.Treatment == admin.FieldDropped {
				continue
			}
			readers := strings.Join(f.Readers, " ")
			if readers == "" {
				readers = "no device account"
			}
			ha := "not Home Assistant"
			if f.HomeAssistant {
				ha = "Home Assistant too"
			}
			fmt.Fprintf(w, "  field %s: %s, read by %s, %s\n", f.Field, f.Treatment, readers, ha)
		}
		for _, n := range df.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

// orMissing shows an empty policy value (or one the inventory reports missing) as "(missing)".
func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return s
}
