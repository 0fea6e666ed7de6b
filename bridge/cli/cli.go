// Package cli is Hookbridge's command line: its subcommands, their flags, and a usage text
// generated from the same flag sets, so it cannot drift from what the commands accept.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/loadgen/bench"
)

// Program is what the binary gives the command line.
type Program struct {
	// Catalog holds the built-in policies/*.yaml and schemas/.
	Catalog fs.FS
	// Version is the build's version.
	Version string
}

// errUsage reports a command line that could not be understood; the message was already printed.
var errUsage = errors.New("usage")

// env is one invocation: the program, its output, and the flag set being built.
type env struct {
	prog   Program
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. Its flags are registered by setup on a fresh flag set, which is
// also where the usage text comes from.
type command struct {
	name    string
	args    string // the positional arguments, for the usage text
	summary string
	// common reports whether the command takes the common flags (--options, --data, ...).
	common bool
	// setup registers the command's own flags and returns the function that runs it with the
	// positional arguments.
	setup func(e *env, fs *flag.FlagSet, f *flags) func(ctx context.Context, args []string) error
}

// commands are the subcommands, in the order the usage lists them.
func commands() []*command {
	return []*command{serveCommand, checkCommand, sendCommand, verifyCommand, draftCommand, inventoryCommand, auditCommand, offboardCommand, benchCommand, versionCommand}
}

// Run executes one command line and returns the process exit code.
func Run(ctx context.Context, p Program, args []string, stdout, stderr io.Writer) int {
	e := &env{prog: p, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Fprint(stdout, Usage())
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "hookbridge: unknown command %q\n\n%s", name, Usage())
		return 2
	}
	fset, f := cmd.flagSet(e)
	run := cmd.setup(e, fset, f)
	err := run(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, bench.ErrUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "hookbridge %s: %v\n", name, err)
		return 1
	}
}

// flagSet returns a new flag set for the command, with the common flags when it takes them and
// its usage text.
func (c *command) flagSet(e *env) (*flag.FlagSet, *flags) {
	fset := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var f *flags
	if c.common {
		f = commonFlags(fset)
	}
	out := io.Discard
	if e != nil {
		out = e.stderr
	}
	fset.SetOutput(out)
	fset.Usage = func() { fmt.Fprint(out, c.usage(fset)) }
	return fset, f
}

// parse parses the command's flags, which may come before, between or after its positional
// arguments, and returns the positional ones. want is how many there must be (-1: any).
func parse(fset *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fset.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if want >= 0 && len(pos) != want {
		fset.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// usage is the command's own usage text: its synopsis, summary and flags.
func (c *command) usage(fset *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s\n      %s\n", c.synopsis(), c.summary)
	if about, ok := abouts[c.name]; ok {
		fmt.Fprintf(&b, "\n%s", about)
	}
	writeFlags(&b, fset, nil)
	return b.String()
}

func (c *command) synopsis() string {
	s := "hookbridge " + c.name + " [flags]"
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// abouts are longer descriptions, shown with a command's own usage.
var abouts = map[string]string{"bench": bench.About}

// Usage is the whole usage text: every command with its own flags, then the common flags once.
func Usage() string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	var takeCommon []string
	var common *flag.FlagSet
	for _, c := range commands() {
		fset, f := c.flagSet(nil)
		c.setup(&env{stdout: io.Discard, stderr: io.Discard}, fset, f)
		fmt.Fprintf(&b, "  %s\n      %s\n", c.synopsis(), c.summary)
		if c.common {
			takeCommon = append(takeCommon, c.name)
			common = flag.NewFlagSet("", flag.ContinueOnError)
			commonFlags(common)
		}
		if c.name != "bench" { // bench has many; `hookbridge bench -h` lists them
			writeFlags(&b, fset, common)
		} else {
			b.WriteString("      (hookbridge bench -h lists its flags)\n")
		}
	}
	if common != nil {
		fmt.Fprintf(&b, "\nFlags of %s:\n", strings.Join(takeCommon, ", "))
		writeFlags(&b, common, nil)
	}
	return b.String()
}

// writeFlags lists fset's documented flags that skip does not have, one per line. A flag with an
// empty usage is not for users and is not listed.
func writeFlags(b *strings.Builder, fset *flag.FlagSet, skip *flag.FlagSet) {
	var lines []string
	fset.VisitAll(func(fl *flag.Flag) {
		if fl.Usage == "" || (skip != nil && skip.Lookup(fl.Name) != nil) {
			return
		}
		name, usage := flag.UnquoteUsage(fl)
		left := "--" + fl.Name
		if name != "" {
			left += " " + name
		}
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			usage += " (default " + fl.DefValue + ")"
		}
		lines = append(lines, fmt.Sprintf("      %-22s %s\n", left, usage))
	})
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l)
	}
}
