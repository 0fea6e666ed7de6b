// Command hookbridge receives signed vendor webhooks, checks, minimizes and pseudonymizes them, and
// publishes them on MQTT topics that devices see only as far as their ACL permits.
//
//	hookbridge [serve] [flags]     run
//	hookbridge check [flags]       validate options, policies and schemas
//	hookbridge send VENDOR FILE    sign FILE with the vendor's secret and POST it
//	hookbridge inventory           list the vendor connections and their data flows
//	hookbridge audit export        print the audit trail as JSON lines
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
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

// errUsage reports a command line that could not be understood; the message was already printed.
var errUsage = errors.New("usage")

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args, stdout, stderr)
	case "check":
		err = checkCmd(args, stdout, stderr)
	case "send":
		err = sendCmd(ctx, args, stdout, stderr)
	case "inventory":
		err = inventoryCmd(ctx, args, stdout, stderr)
	case "audit":
		err = auditCmd(ctx, args, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hookbridge: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "hookbridge %s: %v\n", cmd, err)
		return 1
	}
}

const usage = `Usage:
  hookbridge [serve] [flags]        run the bridge
  hookbridge check [flags]          validate options, policies and schemas; exit non-zero on any problem
  hookbridge send [flags] VENDOR FILE
                                    sign FILE with VENDOR's secret and scheme, and POST it
  hookbridge inventory [--json] [--offline] [flags]
                                    list every vendor connection: owner, risk, auth, state, data flows
  hookbridge audit export [--since 24h|7d|RFC3339] [--vendor NAME] [--offline] [flags]
                                    print the audit trail as JSON lines (pseudonymized, no bodies)
  hookbridge bench [flags]          measure throughput, latency, CPU and memory (hookbridge bench -h)
  hookbridge version                print the version

Flags (serve, check, send, inventory, audit):
  --options FILE     options file (default /data/options.json if it exists, else ./data/options.json)
  --data DIR         data directory (default /data if it exists, else ./data)
  --policies DIR     extra vendor policies, over the built-in ones
  --schemas DIR      extra vendor schemas, over the built-in ones
  --http-addr ADDR   partner listener (default :8080)
  --admin-addr ADDR  admin, ingress and metrics listener (default 127.0.0.1:8099; :8099 under the Supervisor)
  --mqtt-addr ADDR   embedded MQTT broker (default :1883)
`
