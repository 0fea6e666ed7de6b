package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/app"
)

var offboardCommand = &command{
	name:    "offboard",
	args:    "VENDOR",
	summary: "disengage from VENDOR: refuse its webhooks and delete its messages, entities, replay records and learnt structure (asks the running bridge, else works on the stopped bridge's state)",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		asJSON := fset.Bool("json", false, "print the report as JSON")
		offline := fset.Bool("offline", false, "do not ask a running server; work on the state file (the bridge must be stopped)")
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, 1)
			if err != nil {
				return err
			}
			f.resolve()
			return runOffboard(ctx, e, f, pos[0], *asJSON, *offline)
		}
	},
}

// errUnknownVendor reports a vendor the options (or the running bridge) do not configure.
var errUnknownVendor = errors.New("unknown vendor: the options configure none of that name")

// runOffboard offboards a vendor through the running bridge's admin API, or, without one, in the
// state file of a stopped bridge.
func runOffboard(ctx context.Context, e *env, f *flags, name string, asJSON, offline bool) error {
	if !vendorNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a vendor name (lowercase letters, digits and dashes)", name)
	}
	var rep *admin.Offboarding
	where := ""
	if !offline {
		r, err := offboardOnServer(ctx, f, name)
		if err != nil {
			return err
		}
		rep, where = r, "the running bridge at "+dialable(f.adminAddr)
	}
	if rep == nil {
		o, err := app.ReadOptions(f.options)
		if err != nil {
			return err
		}
		rep, err = app.OfflineOffboard(o, f.data, name)
		switch {
		case errors.Is(err, app.ErrNotConfigured):
			return errUnknownVendor
		case err != nil && rep == nil:
			return fmt.Errorf("%w (is the bridge running? then give the --admin-addr it listens on)", err)
		case err != nil:
			return fmt.Errorf("offboarding did not finish, run it again: %w", err)
		}
		where = "the state in " + f.data
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(e.stdout, "offboarded %s (through %s):\n", name, where)
	for _, k := range []string{"retained_messages", "queued_messages", "relay_messages", "route_devices", "hookbridge_entities",
		"replay_records", "secret_records", "activity_records", "learnt_structures"} {
		if n, ok := rep.Removed[k]; ok {
			fmt.Fprintf(e.stdout, "  %-20s %d removed\n", k, n)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(e.stdout, "  note: %s\n", n)
	}
	fmt.Fprintf(e.stdout, "Its webhooks are refused (503). Remove %s from the options; enabling it again takes it on anew.\n", name)
	return nil
}

// offboardOnServer asks a running bridge to offboard; nil, nil when none answers.
func offboardOnServer(ctx context.Context, f *flags, name string) (*admin.Offboarding, error) {
	// Offboarding deletes as it goes: the answer may take longer than a GET's.
	resp, err := adminRequest(ctx, f, http.MethodPost, "/api/vendors/"+name+"/offboard", 60*time.Second, 0)
	if err != nil {
		return nil, nil // no server: work on the files
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		var rep admin.Offboarding
		if err := json.Unmarshal(body, &rep); err != nil {
			return nil, fmt.Errorf("admin API: %w", err)
		}
		return &rep, nil
	case http.StatusNotFound:
		return nil, errUnknownVendor
	}
	return nil, fmt.Errorf("admin API answered %s: %s", resp.Status, apiError(bytes.NewReader(body)))
}
