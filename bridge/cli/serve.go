package cli

import (
	"context"
	"flag"
	"os"
	"runtime/debug"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
)

var serveCommand = &command{
	name:    "serve",
	summary: "run the bridge (the default command)",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if _, err := parse(fset, args, 0); err != nil {
				return err
			}
			f.resolve()
			return serve(ctx, e, f)
		}
	},
}

func serve(ctx context.Context, e *env, f *flags) error {
	tuneGC()
	cat, o, created, err := f.files(e.prog).Load()
	if err != nil {
		return err
	}
	log := app.NewLogger(e.stderr, o.LogLevel)
	if created {
		log.Info().Str("options", f.options).
			Msg("first run: wrote an options file with fresh random vendor secrets and device passwords; read them there")
	}
	cfg := f.appConfig(e.prog)
	cfg.Options, cfg.Catalog, cfg.Log = o, cat, log
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info().Msg("stopping: finishing requests in flight")
	stopCtx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return a.Stop(stopCtx)
}

// tuneGC sets a soft memory limit, unless GOMEMLIMIT says otherwise: the collector then runs
// early should the heap ever approach what a small board can spare. The limit sits above the
// 40-50 MB of heap that a thousand connected devices hold (mochi reserves each connection's
// queue up front), where a lower limit made the collector run without pause. GOGC stays at Go's
// default: collecting only after threefold growth (GOGC=200) once saved CPU, but after the
// store and parser work it bought no throughput (13,537 vs 14,097 webhooks/s at 100, side by
// side) and cost 10-18 MB of peak RSS.
func tuneGC() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
}
