package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/draft"
)

var draftCommand = &command{
	name:    "draft",
	args:    "VENDOR",
	summary: "write a JSON Schema and a policy for VENDOR from what learn mode recorded (asks the running bridge, else reads the stored state)",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		out := fset.String("out", ".", "write policies/VENDOR.yaml and schemas/VENDOR/v1.json under `DIR`")
		force := fset.Bool("force", false, "replace files that exist")
		offline := fset.Bool("offline", false, "do not ask a running server; read the stored state (the bridge must be stopped)")
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, 1)
			if err != nil {
				return err
			}
			f.resolve()
			return runDraft(ctx, e, f, pos[0], *out, *force, *offline)
		}
	},
}

var vendorNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// runDraft drafts a vendor's schema and policy and writes them under out. A running bridge is
// asked through its admin API (it holds the state file's lock and what it learnt since the last
// save); without one the stored state is read.
func runDraft(ctx context.Context, e *env, f *flags, name, out string, force, offline bool) error {
	if !vendorNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a vendor name (lowercase letters, digits and dashes)", name)
	}
	start := time.Now()
	var d *draft.Draft
	var warnings []string
	source := ""
	if !offline {
		sd, err := draftFromServer(ctx, f, name)
		switch {
		case err != nil:
			return err
		case sd != nil:
			d, warnings, source = sd.d, sd.warnings, "the running bridge at "+dialable(f.adminAddr)
		}
	}
	if d == nil {
		cat, _, err := f.files(e.prog).Catalog()
		if err != nil {
			return err
		}
		d, err = app.OfflineDraft(cat, f.data, name)
		switch {
		case errors.Is(err, draft.ErrNothingLearnt):
			return fmt.Errorf("nothing learnt for %s in %s yet: set its mode to learn and let it send events", name, f.data)
		case err != nil:
			return fmt.Errorf("%w (is the bridge running? then give the --admin-addr it listens on)", err)
		}
		source = "the stored state in " + f.data
		for _, p := range d.Warnings {
			warnings = append(warnings, p.String())
		}
	}
	took := time.Since(start)
	if err := d.Write(out, force); err != nil {
		if errors.Is(err, draft.ErrExists) {
			return fmt.Errorf("%w: use --force to replace it, or another --out", err)
		}
		return err
	}
	policyPath := filepath.Join(out, filepath.FromSlash(d.PolicyPath))
	schemaPath := filepath.Join(out, filepath.FromSlash(d.SchemaPath))
	w := e.stdout
	fmt.Fprintf(w, "drafted %s from %s in %s:\n  %s\n  %s\n", name, source, took.Round(time.Microsecond), policyPath, schemaPath)
	fmt.Fprintln(w, "The policy publishes nothing yet. Before going live:")
	fmt.Fprintln(w, "  1. fill in what the draft could not know (the TODO values) and list the fields each route publishes;")
	fmt.Fprintf(w, "  2. hookbridge check --policies %s --schemas %s\n", filepath.Join(out, "policies"), filepath.Join(out, "schemas"))
	fmt.Fprintln(w, "  3. run the vendor in mode shadow with these files, then in mode live.")
	if len(warnings) > 0 {
		fmt.Fprintln(w, "check will warn:")
		for _, p := range warnings {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return nil
}

// draftFromServer asks a running bridge's admin API for the draft. It returns nil, nil when no
// server answered, so the caller reads the stored state.
func draftFromServer(ctx context.Context, f *flags, name string) (*serverDraft, error) {
	resp, err := adminGet(ctx, f, "/api/vendors/"+name+"/draft")
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 16<<20)
	if resp.StatusCode != http.StatusOK {
		msg := apiError(body)
		if msg == "" {
			msg = resp.Status
		}
		return nil, fmt.Errorf("the running bridge at %s answered: %s", dialable(f.adminAddr), msg)
	}
	var a admin.DraftAnswer
	if err := json.NewDecoder(body).Decode(&a); err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if a.Vendor != name || !localPath(a.PolicyPath) || !localPath(a.SchemaPath) {
		return nil, fmt.Errorf("admin API: a draft for %q with paths %q and %q, want %s's", a.Vendor, a.PolicyPath, a.SchemaPath, name)
	}
	return &serverDraft{d: a.Draft(), warnings: a.Warnings}, nil
}

// serverDraft is a draft with what check will warn of, as text.
type serverDraft struct {
	d        *draft.Draft
	warnings []string
}

// localPath reports whether a draft's path stays under the output directory.
func localPath(p string) bool { return p != "" && filepath.IsLocal(filepath.FromSlash(p)) }
