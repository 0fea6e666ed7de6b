// Command hookbridge receives signed vendor webhooks, checks, minimizes and pseudonymizes them, and
// publishes them on MQTT topics that devices see only as far as their ACL permits. `hookbridge
// help` lists its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookbridge/hookbridge/bridge/cli"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := cli.Run(ctx, cli.Program{Catalog: builtinCatalog, Version: version}, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
