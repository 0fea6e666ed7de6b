package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/hookbridge/hookbridge/bridge/loadgen/bench"
)

var benchCommand = &command{
	name:    "bench",
	summary: "measure throughput, latency, CPU and memory against a bare HTTP handler",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		s := bench.Register(fset)
		return func(ctx context.Context, args []string) error {
			if err := fset.Parse(args); err != nil {
				return errUsage
			}
			// Against a running bridge its files are the defaults; a child gets explicit ones.
			f.resolve()
			return s.Run(ctx, bench.Env{Files: f.files(e.prog), Data: f.data, HTTPAddr: f.httpAddr,
				AdminAddr: f.adminAddr, MQTTAddr: f.mqttAddr, NoSync: f.noSync, Version: e.prog.Version}, e.stdout, e.stderr)
		}
	},
}

var versionCommand = &command{
	name:    "version",
	summary: "print the version",
	setup: func(e *env, fset *flag.FlagSet, _ *flags) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			if _, err := parse(fset, args, 0); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, e.prog.Version)
			return nil
		}
	},
}
