package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/cli"
)

// TestDraftCommandRefusals checks the draft command's answers when there is nothing to draft:
// a name that is no vendor's, a vendor without a policy, and a data dir where nothing was
// learnt, each a clear message and exit 1. (bridge/e2e's TestOnboardLearnDraftLive drafts for
// real, running and stopped.)
func TestDraftCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	o := options.Defaults()
	opts := filepath.Join(dir, "options.json")
	if err := app.WriteOptions(opts, &o); err != nil {
		t.Fatal(err)
	}
	common := []string{"--options", opts, "--data", filepath.Join(dir, "data"), "--offline", "--out", filepath.Join(dir, "out")}
	for _, tc := range []struct {
		name, vendor, want string
	}{
		{"not a vendor name", "Acme_Locks", "is not a vendor name"},
		{"no policy", "nobody", "no policy for this vendor: nobody"},
		{"nothing learnt", "acme-locks", "nothing learnt for acme-locks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := bridgetest.RunCLI(t, append([]string{"draft", tc.vendor}, common...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("draft %s = exit %d, stdout %q, stderr %q; want exit 1 with %q", tc.vendor, code, out, errOut, tc.want)
			}
		})
	}
	if u := cli.Usage(); !strings.Contains(u, "hookbridge draft [flags] VENDOR") || !strings.Contains(u, "--out DIR") {
		t.Errorf("Usage() lacks the draft command and its --out flag:\n%s", u)
	}
}
