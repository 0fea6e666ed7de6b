package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

var checkCommand = &command{
	name:    "check",
	summary: "validate options, policies and schemas; print every problem; exit non-zero on any",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			if _, err := parse(fset, args, 0); err != nil {
				return err
			}
			f.resolve()
			return check(e, f)
		}
	},
}

// check validates options, policies and schemas, printing every problem; like `nginx -t`.
func check(e *env, f *flags) error {
	stdout := e.stdout
	failed := false
	cat, problems, err := f.files(e.prog).Catalog()
	for _, p := range problems {
		fmt.Fprintln(stdout, p.String())
	}
	var ce *catalog.Error
	if err != nil {
		failed = true
		if !errors.As(err, &ce) {
			fmt.Fprintln(stdout, err)
			return errors.New("check failed")
		}
	}
	for _, name := range cat.Names() {
		v, _ := cat.Vendor(name)
		if _, err := anomaly.Compile(v.Policy.Anomaly); err != nil {
			fmt.Fprintf(stdout, "%s: anomaly: %v\n", v.Policy.File, err)
			failed = true
		}
	}
	data, err := os.ReadFile(f.options)
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", f.options, err)
		return errors.New("check failed")
	}
	o, err := options.Parse(data)
	if err != nil {
		printOptionProblems(stdout, f.options, err)
		return errors.New("check failed")
	}
	if cfgs, err := o.VendorConfigs(); err != nil {
		printOptionProblems(stdout, f.options, err)
		failed = true
	} else if err := vendor.Check(cfgs, cat); err != nil {
		printOptionProblems(stdout, f.options, o.VendorError(err))
		failed = true
	}
	if o.Broker != options.BrokerEmbedded {
		fmt.Fprintf(stdout, "%s: note: broker is %s: device ACLs are that broker's job; Hookbridge enforces them only on its embedded broker (the Mosquitto app does not enforce per-user ACLs)\n", f.options, o.Broker)
	}
	if failed {
		return errors.New("check failed")
	}
	fmt.Fprintf(stdout, "ok: %d policies, options %s\n", len(cat.Names()), f.options)
	return nil
}

func printOptionProblems(w io.Writer, file string, err error) {
	var oe *options.Error
	if errors.As(err, &oe) {
		for _, p := range oe.Problems {
			fmt.Fprintf(w, "%s: %s\n", file, p.String())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", file, err)
}
