// Package bench is `hookbridge bench`: it measures the bridge against a bare net/http handler on
// the same machine, side by side in one run, with the load generator of bridge/loadgen.
package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/loadgen"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// About says what the bench does, for its usage text.
const About = `Sends signed sample webhooks to a bridge and to a bare net/http handler that only answers 202 (the
most HTTP ingress can do on this machine), alternating the two, and reports requests per second,
end-to-end latency (request sent to message received by an MQTT subscriber), CPU time per event and
peak RSS of the bridge process. Without --rate: saturation runs, then a run paced at half the
bridge's saturation rate.

By default the bridge and the bare handler each run in a child process (this binary again), so CPU
and memory are theirs alone; --in-process runs everything in one process (numbers then include the
load generator). Against a running bridge: --target, --mqtt, --mqtt-user, --options, --data, --pid.
`

// benchConfig holds the bench command's settings.
type benchConfig struct {
	target, mqtt       string
	mqttUser, mqttPass string
	pid                int
	inProcess          bool
	concurrency        int
	duration, warmup   time.Duration
	rounds             int
	subscribers        int
	clean              bool
	vendors            []string
	rate               float64
	paced              bool
	fsync              string
	idleClients        int
	subsPerClient      int
	settle             time.Duration
	logLevel           string
	profile            string
	dir                string
	json               bool
}

// benchDrain bounds how long a run waits, after its last answer, for subscribers to receive the
// messages of every accepted event.
const benchDrain = 15 * time.Second

// benchDevice prefixes the device accounts of the bench's subscribers and idle clients, one each.
const benchDevice = "bench-device"

// ErrUsage reports settings that cannot work; the message was already printed.
var ErrUsage = errors.New("usage")

// Env is what the bench needs from the command that runs it.
type Env struct {
	// Files is where the catalog and, against a running bridge (--target), its options are read.
	Files app.Files
	// Data is the running bridge's data directory, for its pseudonym key (--target).
	Data string
	// HTTPAddr, AdminAddr and MQTTAddr are a child server's listen addresses.
	HTTPAddr, AdminAddr, MQTTAddr string
	// NoSync runs a child bridge without fsync.
	NoSync bool
	// Version is the binary's version, for the child bridge.
	Version string
}

// Settings are the bench's command-line settings.
type Settings struct {
	c        benchConfig
	vendors  string
	child    string
	noFsync  bool
	flagsSet *flag.FlagSet
}

// Register binds the bench's settings to flags.
func Register(fset *flag.FlagSet) *Settings {
	s := &Settings{flagsSet: fset}
	c := &s.c
	fset.IntVar(&c.concurrency, "concurrency", 32, "connections, one request in flight each")
	fset.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured run")
	fset.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before the first run on each server")
	fset.IntVar(&c.rounds, "rounds", 2, "saturation runs per server, alternated bare, bridge, bare, bridge")
	fset.IntVar(&c.subscribers, "subscribers", 1, "MQTT subscribers (paho, QoS 1) on every vendor's topics")
	fset.BoolVar(&c.clean, "clean-sessions", false, "subscribers and idle clients use clean sessions (default persistent, except with --target)")
	fset.StringVar(&s.vendors, "vendors", strings.Join(loadgen.SampleVendors, ","), "comma-separated sample vendors, sent round-robin")
	fset.Float64Var(&c.rate, "rate", 0, "send N requests per second in every run, instead of saturation + half")
	fset.BoolVar(&c.paced, "paced", true, "run at half the saturation rate after the saturation runs")
	fset.StringVar(&c.fsync, "fsync", "on", "the bridge's store with fsync, without, or both side by side: on|off|both")
	fset.BoolVar(&s.noFsync, "no-fsync", false, "same as --fsync off")
	fset.IntVar(&c.idleClients, "idle-clients", 0, "connect N more device clients that only wait, and report the bridge's memory before and after")
	fset.IntVar(&c.subsPerClient, "subs-per-client", 5, "subscriptions of each idle client")
	fset.DurationVar(&c.settle, "settle", 2*time.Second, "pause before each memory reading around the idle clients")
	fset.StringVar(&c.logLevel, "log-level", "info", "the bridge's log level")
	fset.StringVar(&c.profile, "profile", "", "after the runs, profile the first bridge (CPU, allocations, block, mutex) into `DIR`")
	fset.StringVar(&c.dir, "dir", "", "where the bridges' data directories go (default a new temporary `DIR`)")
	fset.BoolVar(&c.json, "json", false, "print the report as JSON")
	fset.BoolVar(&c.inProcess, "in-process", false, "run the bridge and the bare handler in this process")
	fset.StringVar(&c.target, "target", "", "a running bridge's partner listener, e.g. http://127.0.0.1:8080")
	fset.StringVar(&c.mqtt, "mqtt", "", "the running bridge's embedded broker, e.g. 127.0.0.1:1883")
	fset.StringVar(&c.mqttUser, "mqtt-user", "", "the device login of the subscribers and idle clients against a running bridge (all within that account's session bounds)")
	fset.StringVar(&c.mqttPass, "mqtt-password", "", "its password (default from the options file)")
	fset.IntVar(&c.pid, "pid", 0, "the running bridge's process id, to read its CPU time and memory")
	// --child runs the bridge or the bare handler for a parent bench process (not for users).
	fset.StringVar(&s.child, "child", "", "")
	return s
}

// Run runs the bench with the parsed settings and prints its report to stdout.
func (s *Settings) Run(ctx context.Context, env Env, stdout, stderr io.Writer) error {
	c := &s.c
	if s.flagsSet.NArg() > 0 {
		fmt.Fprintf(stderr, "bench takes no arguments\n")
		return ErrUsage
	}
	if s.child != "" {
		return benchChild(ctx, s.child, env, os.Stdin, stdout, stderr)
	}
	if s.noFsync {
		c.fsync = "off"
	}
	for _, v := range strings.Split(s.vendors, ",") {
		if v = strings.TrimSpace(v); v != "" {
			c.vendors = append(c.vendors, v)
		}
	}
	if problem := c.check(); problem != "" {
		fmt.Fprintf(stderr, "bench: %s\n", problem)
		return ErrUsage
	}
	rep, err := benchRunAll(ctx, c, env, stderr)
	if rep != nil {
		if c.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			rep.print(stdout)
		}
	}
	return err
}

// check returns what is wrong with the settings, or "".
func (c *benchConfig) check() string {
	switch {
	case c.concurrency < 1:
		return "--concurrency must be at least 1"
	case c.duration <= 0:
		return "--duration must be positive"
	case c.rounds < 1:
		return "--rounds must be at least 1"
	case c.subscribers < 0:
		return "--subscribers must not be negative"
	case c.rate < 0:
		return "--rate must not be negative"
	case c.idleClients < 0 || c.subsPerClient < 1:
		return "--idle-clients must not be negative and --subs-per-client must be at least 1"
	case c.fsync != "on" && c.fsync != "off" && c.fsync != "both":
		return "--fsync must be on, off or both"
	case c.target != "" && c.mqtt == "" && (c.subscribers > 0 || c.idleClients > 0):
		return "--target needs --mqtt for subscribers and idle clients (or --subscribers 0)"
	case c.target != "" && c.mqttUser == "" && (c.subscribers > 0 || c.idleClients > 0):
		return "--target needs --mqtt-user, a device allowed to read the vendors' topics"
	case c.target != "" && !strings.HasPrefix(c.target, "http://"):
		return "--target must be an http:// URL (the bench speaks plain HTTP/1.1)"
	case c.target != "" && c.profile != "":
		return "--profile works only on a bridge the bench starts"
	case len(c.vendors) == 0:
		return "--vendors is empty"
	}
	return ""
}

// benchServer is a server under test: the bridge or the bare handler.
type benchServer struct {
	name     string
	bare     bool
	httpAddr string
	mqttAddr string
	// proc reads the server's CPU time and memory; nil when unknown (--target without --pid).
	proc *loadgen.Proc
	// shared reports that proc is the bench's own process (--in-process): its numbers include the
	// load generator.
	shared bool
	// ctl runs a control command (profiles, memory statistics); nil when the server has none.
	ctl  func(cmd string) (string, error)
	stop func() error

	subs []*loadgen.Subscriber
	idle *loadgen.Idle
}

// benchRunAll sets everything up, runs every phase and returns the report.
func benchRunAll(ctx context.Context, c *benchConfig, env Env, stderr io.Writer) (*benchReport, error) {
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	cat, _, err := env.Files.Catalog()
	if err != nil {
		return nil, err
	}
	runID, err := app.RandomHex(4)
	if err != nil {
		return nil, err
	}
	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "hookbridge-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}

	// The options: generated for a bridge the bench starts, read for a running one.
	var o *options.Options
	login := loadgen.Login{Clean: c.clean}
	// account names the account of subscriber or idle client i: each device its own, as in a home
	// (one account's sessions are bounded), except against a running bridge, where all log in as
	// --mqtt-user and so stay within that account's bounds.
	account := func(kind string, i int) string { return fmt.Sprintf("%s-%s-%d", benchDevice, kind, i) }
	if c.target == "" {
		if o, err = benchOptions(cat, c.vendors, c.logLevel, c.subscribers, c.idleClients, account); err != nil {
			return nil, err
		}
		login.Password = o.Devices[0].Password
	} else {
		account = func(string, int) string { return c.mqttUser }
		if o, err = app.ReadOptions(env.Files.Options); err != nil {
			return nil, fmt.Errorf("the running bridge's options (--options): %w", err)
		}
		login.Username, login.Password, login.Clean = c.mqttUser, c.mqttPass, true
		for _, d := range o.Devices {
			if d.Username == c.mqttUser && login.Password == "" {
				login.Password = d.Password
			}
		}
	}
	ps, err := benchPseudonymizer(o, env.Data)
	if err != nil {
		return nil, err
	}
	samples, err := loadgen.NewSamples(c.vendors, ps)
	if err != nil {
		return nil, err
	}
	var lgVendors []loadgen.Vendor
	for _, s := range samples {
		cv, ok := cat.Vendor(s.Vendor)
		if !ok {
			return nil, fmt.Errorf("vendor %s: no policy in the catalog", s.Vendor)
		}
		secret := ""
		for _, ov := range o.Vendors {
			if ov.Name == s.Vendor && len(ov.Secrets) > 0 {
				secret = ov.Secrets[0]
			}
		}
		if secret == "" {
			return nil, fmt.Errorf("vendor %s has no secret in the options", s.Vendor)
		}
		lgVendors = append(lgVendors, loadgen.Vendor{Sample: s, Signer: verify.Signer{Auth: cv.Policy.Auth, Secret: secret}, PublicURL: o.PublicURL})
	}

	// The servers: the bare handler, then the bridges (or the running one).
	var servers []*benchServer
	defer func() {
		for _, s := range servers {
			for _, sub := range s.subs {
				sub.Close()
			}
			if s.idle != nil {
				s.idle.Close()
			}
			if s.stop != nil {
				if err := s.stop(); err != nil {
					progress("stop %s: %v", s.name, err)
				}
			}
		}
	}()
	prof := &benchProfiler{}
	bare, err := benchStartBare(ctx, c, dir, prof)
	if err != nil {
		return nil, err
	}
	servers = append(servers, bare)
	var bridges []*benchServer
	if c.target != "" {
		t := &benchServer{name: "target", httpAddr: strings.TrimPrefix(strings.TrimRight(c.target, "/"), "http://"), mqttAddr: c.mqtt}
		if c.pid > 0 {
			t.proc = &loadgen.Proc{Pid: c.pid}
		}
		servers = append(servers, t)
		bridges = append(bridges, t)
	} else {
		modes := map[string][]bool{"on": {false}, "off": {true}, "both": {false, true}}[c.fsync]
		for _, noSync := range modes {
			s, err := benchStartBridge(ctx, c, env, cat, o, dir, noSync, prof)
			if err != nil {
				return nil, err
			}
			servers = append(servers, s)
			bridges = append(bridges, s)
		}
	}

	rep := &benchReport{Config: c.report(samples, login), Machine: benchMachine()}
	// Whatever ends the runs, the report summarizes those that finished.
	defer rep.summarize(c)
	if c.target == "" && !c.inProcess {
		rep.Config.Placement = "the bridge and the bare handler each in a child process; CPU and RSS are theirs alone"
	}
	if fs := benchFilesystem(dir); fs != "" {
		rep.Config.DataFilesystem = fs
	}

	events := loadgen.NewEvents(c.subscribers)
	// Markers are recorded only where subscribers read them: without subscribers nothing would
	// look them up or Forget them, and the table would grow for the whole bench.
	gen := func(s *benchServer) *loadgen.Generator {
		return &loadgen.Generator{Addr: s.httpAddr, Vendors: lgVendors, RunID: runID, Events: events,
			Follow: !s.bare && len(s.subs) > 0}
	}
	for _, b := range bridges {
		for i := 0; i < c.subscribers; i++ {
			sub, err := loadgen.Subscribe(loadgen.Login{Addr: b.mqttAddr, Username: account("sub", i), Password: login.Password, Clean: login.Clean},
				fmt.Sprintf("bench-%s-sub-%d", runID, i), i, o.TopicPrefix, samples, events)
			if err != nil {
				return nil, err
			}
			b.subs = append(b.subs, sub)
		}
	}

	// Idle clients, before any load, so the memory they add is not mixed with the load's.
	if c.idleClients > 0 {
		for _, b := range bridges {
			progress("%s: connecting %d idle clients with %d subscriptions each", b.name, c.idleClients, c.subsPerClient)
			idle, err := benchIdle(ctx, c, b, login, func(i int) string { return account("idle", i) }, o.TopicPrefix, runID)
			if err != nil {
				return nil, err
			}
			rep.Idle = append(rep.Idle, *idle)
		}
	}

	for _, s := range servers {
		if c.warmup > 0 {
			progress("%s: warming up for %s", s.name, c.warmup)
			res := gen(s).Run(ctx, loadgen.Load{Concurrency: c.concurrency, Duration: c.warmup, Rate: c.rate})
			if !s.bare && len(s.subs) > 0 {
				benchWaitDelivered(events, res.From, res.To)
				events.Forget()
			}
		}
	}

	// run measures one run; profile is "", "cpu" (CPU and allocation profiles) or "contention"
	// (block and mutex profiles).
	run := func(s *benchServer, round int, mode string, rate float64, profile string) (*benchRun, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress("%s: %s run %d (%s, %d connections)", s.name, mode, round, benchRateText(rate), c.concurrency)
		r, err := benchPhase(ctx, c, s, gen(s), events, loadgen.Load{Concurrency: c.concurrency, Duration: c.duration, Rate: rate}, profile)
		if err != nil {
			return nil, err
		}
		r.Round, r.Mode = round, mode
		rep.Runs = append(rep.Runs, *r)
		return r, nil
	}
	for round := 1; round <= c.rounds; round++ {
		mode := "saturation"
		if c.rate > 0 {
			mode = "paced"
		}
		for _, s := range servers {
			if _, err := run(s, round, mode, c.rate, ""); err != nil {
				return rep, err
			}
		}
	}
	if c.rate == 0 && c.paced {
		for round := 1; round <= c.rounds; round++ {
			for _, b := range bridges {
				sat := rep.meanRate(b.name, "saturation")
				if sat <= 0 {
					continue
				}
				if _, err := run(b, round, "paced", sat/2, ""); err != nil {
					return rep, err
				}
			}
		}
	}
	if c.profile != "" && len(bridges) > 0 {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			return rep, err
		}
		// Runs of their own, so that the profilers' overhead touches none of the measured runs:
		// one with the CPU and allocation profiles, one with the contention profiles, which cost
		// CPU time that would blur the CPU profile.
		for round, kind := range []string{"cpu", "contention"} {
			if _, err := run(bridges[0], round+1, "profiled", c.rate, kind); err != nil {
				return rep, err
			}
		}
		rep.Profiles = benchProfileHelp(c.profile)
	}
	return rep, nil
}

// benchOptions returns options for a bridge the bench starts: the first-run options (every
// built-in vendor with a fresh secret, the shipped defaults otherwise) with rate limits out of the
// way (the maximum the options allow), a pseudonym key, and as the only device accounts one per
// subscriber and idle client (named by account), each allowed to read the bench's vendors' topics.
func benchOptions(cat *catalog.Catalog, vendors []string, logLevel string, subscribers, idle int, account func(kind string, i int) string) (*options.Options, error) {
	o, err := app.FreshOptions(cat)
	if err != nil {
		return nil, err
	}
	o.LogLevel = logLevel
	key, err := app.RandomHex(pseudo.KeyLen)
	if err != nil {
		return nil, err
	}
	o.PseudonymKey = key
	o.SourceRatePerMinute = 1_000_000
	for i := range o.Vendors {
		o.Vendors[i].RatePerMinute = 1_000_000
	}
	pw, err := app.RandomHex(16)
	if err != nil {
		return nil, err
	}
	var allow []string
	for _, v := range vendors {
		allow = append(allow, v+"/#")
	}
	o.Devices = nil // not freshOptions' demo and homeassistant accounts
	for kind, n := range map[string]int{"sub": max(subscribers, 1), "idle": idle} {
		for i := 0; i < n; i++ {
			o.Devices = append(o.Devices, options.Device{Username: account(kind, i), Password: pw, Allow: allow})
		}
	}
	return o, nil
}

// benchPseudonymizer returns the bridge's pseudonymizer: from the options' key, else (a running
// bridge: the bench always sets a key for its own) from its data directory; nil when neither is
// known.
func benchPseudonymizer(o *options.Options, dataDir string) (*pseudo.Pseudonymizer, error) {
	if o.PseudonymKey == "" {
		if dataDir == "" {
			return nil, nil
		}
		if _, err := os.Stat(filepath.Join(dataDir, "pseudonym.key")); err != nil {
			return nil, nil
		}
	}
	key, err := pseudo.LoadOrCreateKey(o.PseudonymKey, dataDir)
	if err != nil {
		return nil, err
	}
	return pseudo.New(key)
}

// benchAddrs is what a child server reports on its first line of output.
type benchAddrs struct {
	HTTP string `json:"http"`
	MQTT string `json:"mqtt,omitempty"`
}

// benchStartBare starts the bare handler: a child process, or a server in this one.
func benchStartBare(ctx context.Context, c *benchConfig, dir string, prof *benchProfiler) (*benchServer, error) {
	if c.inProcess {
		ln, srv, err := benchServeBare("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &benchServer{name: "bare", bare: true, httpAddr: ln.Addr().String(), proc: &loadgen.Proc{}, shared: true,
			ctl: (&benchController{prof: prof}).do, stop: func() error { return srv.Close() }}, nil
	}
	return benchSpawn(ctx, "bare", "bare", []string{"--http-addr", "127.0.0.1:0"}, filepath.Join(dir, "bare.log"))
}

// benchStartBridge starts a bridge with the options in its own data directory.
func benchStartBridge(ctx context.Context, c *benchConfig, env Env, cat *catalog.Catalog, o *options.Options, dir string, noSync bool, prof *benchProfiler) (*benchServer, error) {
	name, sub := "bridge", "bridge-fsync"
	if noSync {
		name, sub = "bridge no-fsync", "bridge-nofsync"
	}
	data := filepath.Join(dir, sub)
	optPath := filepath.Join(data, "options.json")
	if err := app.WriteOptions(optPath, o); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, sub+".log")
	if c.inProcess {
		logFile, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		a, err := startApp(ctx, app.Config{Options: o, Catalog: cat, DataDir: data, HTTPAddr: "127.0.0.1:0",
			AdminAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", NoSync: noSync, Log: app.NewLogger(logFile, o.LogLevel), Version: env.Version})
		if err != nil {
			logFile.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return &benchServer{name: name, httpAddr: a.Addrs().HTTP, mqttAddr: a.Addrs().MQTT, proc: &loadgen.Proc{},
			shared: true, ctl: (&benchController{prof: prof, app: a}).do, stop: func() error {
				defer logFile.Close()
				return benchStopApp(a)
			}}, nil
	}
	args := []string{"--options", optPath, "--data", data, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0"}
	if noSync {
		args = append(args, "--unsafe-no-fsync")
	}
	return benchSpawn(ctx, name, "bridge", args, logPath)
}

// startApp builds and starts a bridge in this process.
func startApp(ctx context.Context, cfg app.Config) (*app.App, error) {
	a, err := app.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// benchStopApp stops a bridge started in this process, giving it 10s.
func benchStopApp(a *app.App) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Stop(ctx)
}

// benchSpawn starts this binary as `bench --child kind args...`, its log in logPath, and waits for
// its addresses.
func benchSpawn(ctx context.Context, name, kind string, args []string, logPath string) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(exe, append([]string{"bench", "--child", kind}, args...)...)
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	r := bufio.NewReader(stdout)
	first := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		first <- line
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(30 * time.Second):
		kill()
		return nil, fmt.Errorf("%s did not start in 30s; its log:\n%s", name, benchTail(logPath))
	case <-ctx.Done():
		kill()
		return nil, ctx.Err()
	}
	var addrs benchAddrs
	if err := json.Unmarshal([]byte(line), &addrs); err != nil || addrs.HTTP == "" {
		kill()
		return nil, fmt.Errorf("%s did not start; its log:\n%s", name, benchTail(logPath))
	}
	var mu sync.Mutex // guards the control exchange
	ctl := func(command string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintln(stdin, command); err != nil {
			return "", err
		}
		reply, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("%s: no answer to %q: %w", name, command, err)
		}
		reply = strings.TrimSpace(reply)
		if msg, isErr := strings.CutPrefix(reply, "error "); isErr {
			return "", fmt.Errorf("%s: %s", name, msg)
		}
		return reply, nil
	}
	stop := func() error {
		stdin.Close() // the child stops when its input ends
		select {
		case <-exited:
			return nil
		case <-time.After(15 * time.Second):
			kill()
			return fmt.Errorf("did not stop in 15s; killed")
		}
	}
	return &benchServer{name: name, bare: kind == "bare", httpAddr: addrs.HTTP, mqttAddr: addrs.MQTT,
		proc: &loadgen.Proc{Pid: cmd.Process.Pid}, ctl: ctl, stop: stop}, nil
}

// benchTail returns the end of a log file.
func benchTail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// benchChild runs the bridge or the bare handler for a parent bench: it prints the addresses as
// one JSON line, then answers control commands, one per input line, until its input ends.
func benchChild(ctx context.Context, kind string, env Env, stdin io.Reader, stdout, stderr io.Writer) error {
	var addrs benchAddrs
	var stop func() error
	var a *app.App
	switch kind {
	case "bridge":
		cat, o, _, err := env.Files.Load()
		if err != nil {
			return err
		}
		if a, err = startApp(ctx, app.Config{Options: o, Catalog: cat, DataDir: env.Data, HTTPAddr: env.HTTPAddr,
			AdminAddr: env.AdminAddr, MQTTAddr: env.MQTTAddr, NoSync: env.NoSync, Log: app.NewLogger(stderr, o.LogLevel),
			Version: env.Version}); err != nil {
			return err
		}
		addrs = benchAddrs{HTTP: a.Addrs().HTTP, MQTT: a.Addrs().MQTT}
		stop = func() error { return benchStopApp(a) }
	case "bare":
		ln, srv, err := benchServeBare(env.HTTPAddr)
		if err != nil {
			return err
		}
		addrs = benchAddrs{HTTP: ln.Addr().String()}
		stop = srv.Close
	default:
		return fmt.Errorf("unknown child %q", kind)
	}
	if err := json.NewEncoder(stdout).Encode(addrs); err != nil {
		stop()
		return err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	ctl := &benchController{prof: &benchProfiler{}, app: a}
	for {
		select {
		case <-ctx.Done():
			return stop()
		case line, ok := <-lines:
			if !ok {
				return stop()
			}
			reply, err := ctl.do(line)
			if err != nil {
				reply = "error " + err.Error()
			}
			fmt.Fprintln(stdout, reply)
		}
	}
}

// benchServeBare serves the bare handler: read the body, answer 202 with a small JSON body, with
// the same server settings as the partner listener. It is the physical limit of HTTP ingress.
func benchServeBare(addr string) (net.Listener, *http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := receiver.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"accepted","event":"00000000000000000000000000000000"}`+"\n")
	}))
	go func() { _ = srv.Serve(ln) }()
	return ln, srv, nil
}

// benchProfiler holds the CPU profile being written; there is one per process.
type benchProfiler struct {
	mu  sync.Mutex // guards cpu
	cpu *os.File
}

// benchController runs control commands on a server: profiles and memory statistics of the
// process it runs in, and the bridge's store and broker counters.
type benchController struct {
	prof *benchProfiler
	app  *app.App // nil for the bare handler
}

// benchCounters are a bridge's counters that explain its throughput.
type benchCounters struct {
	Commits int64 `json:"commits"` // store transactions
	Ops     int64 `json:"ops"`     // writes in them
	Dropped int64 `json:"dropped"` // messages the broker dropped for a full client queue
}

func (b *benchController) do(line string) (string, error) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	b.prof.mu.Lock()
	defer b.prof.mu.Unlock()
	switch cmd {
	case "counters":
		if b.app == nil {
			return "", errors.New("no counters: not a bridge")
		}
		st, bs := b.app.StoreStats(), b.app.Broker().Stats()
		out, err := json.Marshal(benchCounters{Commits: st.Commits, Ops: st.Ops, Dropped: bs.Dropped})
		return string(out), err
	case "cpu-start":
		if b.prof.cpu != nil {
			return "", errors.New("a CPU profile is already running")
		}
		fh, err := os.Create(arg)
		if err != nil {
			return "", err
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			fh.Close()
			return "", err
		}
		b.prof.cpu = fh
		return "ok", nil
	case "cpu-stop":
		if b.prof.cpu == nil {
			return "", errors.New("no CPU profile is running")
		}
		pprof.StopCPUProfile()
		err := b.prof.cpu.Close()
		b.prof.cpu = nil
		return "ok", err
	case "allocs":
		fh, err := os.Create(arg)
		if err != nil {
			return "", err
		}
		defer fh.Close()
		return "ok", pprof.Lookup("allocs").WriteTo(fh, 0)
	case "contention-start":
		// Record where goroutines wait: on channels and selects (block profile, one sample per
		// 10µs waited) and on contended mutexes (mutex profile, one event in 5).
		runtime.SetBlockProfileRate(10_000)
		runtime.SetMutexProfileFraction(5)
		return "ok", nil
	case "contention-stop":
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
		for _, name := range []string{"block", "mutex"} {
			fh, err := os.Create(filepath.Join(arg, name+".pprof"))
			if err != nil {
				return "", err
			}
			err = pprof.Lookup(name).WriteTo(fh, 0)
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", err
			}
		}
		return "ok", nil
	case "memstats":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		out, err := json.Marshal(benchMemStats{HeapInuse: int64(ms.HeapInuse), StackInuse: int64(ms.StackInuse),
			Sys: int64(ms.Sys), Goroutines: runtime.NumGoroutine()})
		return string(out), err
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// benchMemStats is a Go runtime's view of its memory.
type benchMemStats struct {
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
	Sys        int64 `json:"sys"`
	Goroutines int   `json:"goroutines"`
}

// memStats returns the server's Go memory statistics, or nil.
func (s *benchServer) memStats() *benchMemStats { return benchQuery[benchMemStats](s, "memstats") }

// counters returns a bridge's counters, or nil.
func (s *benchServer) counters() *benchCounters {
	if s.bare {
		return nil
	}
	return benchQuery[benchCounters](s, "counters")
}

// benchQuery runs a control command whose answer is JSON and decodes it; nil when the server has
// no control channel or the command fails.
func benchQuery[T any](s *benchServer, cmd string) *T {
	if s.ctl == nil {
		return nil
	}
	out, err := s.ctl(cmd)
	if err != nil {
		return nil
	}
	var v T
	if json.Unmarshal([]byte(out), &v) != nil {
		return nil
	}
	return &v
}

// benchIdle connects the idle clients to a bridge and measures the memory they add. Client i
// subscribes to subs-per-client topics of its own, spread over the vendors, that no event
// matches: a device waiting for its own lock, camera or meter.
func benchIdle(ctx context.Context, c *benchConfig, b *benchServer, login loadgen.Login, account func(i int) string, prefix, runID string) (*benchIdleResult, error) {
	res := &benchIdleResult{Server: b.name, Clients: c.idleClients, SubsPerClient: c.subsPerClient, Clean: login.Clean}
	settle := func() { time.Sleep(c.settle) }
	settle()
	if b.proc != nil {
		m, err := b.proc.Memory()
		if err != nil {
			return nil, err
		}
		res.RSSBefore = m.RSS
	}
	res.GoBefore = b.memStats()
	logins := func(i int) loadgen.Login {
		l := login
		l.Addr, l.Username = b.mqttAddr, account(i)
		return l
	}
	start := time.Now()
	idle, err := loadgen.ConnectIdle(ctx, logins, "bench-"+runID+"-idle", c.idleClients, func(i int) []string {
		var fs []string
		for j := 0; j < c.subsPerClient; j++ {
			v := c.vendors[(i+j)%len(c.vendors)]
			fs = append(fs, fmt.Sprintf("%s/%s/idle-%d/%d", prefix, v, i, j))
		}
		return fs
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	b.idle = idle
	res.ConnectTime = time.Since(start)
	settle()
	if b.proc != nil {
		m, err := b.proc.Memory()
		if err != nil {
			return nil, err
		}
		res.RSSAfter = m.RSS
	}
	res.GoAfter = b.memStats()
	return res, nil
}

// benchWaitDelivered waits until subscribers received every accepted event in [from, to), or the
// drain time passes. Call it once the events' answers are in: each check resumes at the first
// event still pending, instead of rescanning the range.
func benchWaitDelivered(events *loadgen.Events, from, to uint64) {
	deadline := time.Now().Add(benchDrain)
	for {
		if from = events.FirstPending(from, to); from >= to || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchPhase runs one measured phase against a server.
func benchPhase(ctx context.Context, c *benchConfig, s *benchServer, g *loadgen.Generator, events *loadgen.Events, l loadgen.Load, profile string) (*benchRun, error) {
	r := &benchRun{Server: s.name, TargetRate: l.Rate, Concurrency: l.Concurrency, Shared: s.shared}
	self := loadgen.Proc{}
	peakScope := "run"
	var cpu0 time.Duration
	if s.proc != nil {
		if err := s.proc.ResetPeak(); err != nil {
			peakScope = "process lifetime"
		}
		var err error
		if cpu0, err = s.proc.CPU(); err != nil {
			return nil, err
		}
	}
	gen0, _ := self.CPU()
	mach0, wall0 := loadgen.ReadMachine(), time.Now()
	count0 := s.counters()
	var profStart, profStop []string
	switch {
	case profile == "contention":
		profStart, profStop = []string{"contention-start"}, []string{"contention-stop " + c.profile}
	case profile == "cpu":
		profStart = []string{"allocs " + filepath.Join(c.profile, "allocs-before.pprof"), "cpu-start " + filepath.Join(c.profile, "cpu.pprof")}
		profStop = []string{"cpu-stop", "allocs " + filepath.Join(c.profile, "allocs-after.pprof")}
	}
	for _, cmd := range profStart {
		if _, err := s.ctl(cmd); err != nil {
			return nil, err
		}
	}
	res := g.Run(ctx, l)
	if !s.bare && len(s.subs) > 0 {
		benchWaitDelivered(events, res.From, res.To)
	}
	for _, cmd := range profStop {
		if _, err := s.ctl(cmd); err != nil {
			return nil, err
		}
	}
	gen1, _ := self.CPU()
	mach1, wall := loadgen.ReadMachine(), time.Since(wall0)
	r.CPUStall = float64(mach1.CPUStall-mach0.CPUStall) / float64(wall)
	r.IOStall = float64(mach1.IOStall-mach0.IOStall) / float64(wall)
	if total := mach1.Total - mach0.Total; total > 0 {
		r.Steal = float64(mach1.Steal-mach0.Steal) / float64(total)
	}
	r.fill(res)
	if !s.bare && len(s.subs) > 0 {
		d := events.Deliveries(res.From, res.To)
		r.Delivery = &d
		for _, sub := range s.subs {
			r.Duplicates += sub.Duplicates()
			r.Unknown += sub.Unknown()
		}
		events.Forget()
	}
	if s.proc != nil {
		cpu1, err := s.proc.CPU()
		if err != nil {
			return nil, err
		}
		m, err := s.proc.Memory()
		if err != nil {
			return nil, err
		}
		if res.Accepted > 0 {
			r.CPUPerEvent = (cpu1 - cpu0) / time.Duration(res.Accepted)
			r.CPUCores = (cpu1 - cpu0).Seconds() / res.Elapsed.Seconds()
		}
		r.PeakRSS, r.PeakScope, r.RSSAnon, r.RSSFile = m.Peak, peakScope, m.Anon, m.File
	}
	if ms := s.memStats(); ms != nil {
		r.GoHeap = ms.HeapInuse
	}
	if count1 := s.counters(); count0 != nil && count1 != nil {
		r.Commits, r.Dropped = count1.Commits-count0.Commits, count1.Dropped-count0.Dropped
		r.CommitsPerSecond = float64(r.Commits) / wall.Seconds()
	}
	if !s.shared && res.Accepted > 0 {
		r.GenCPUPerEvent = (gen1 - gen0) / time.Duration(res.Accepted)
	}
	return r, nil
}

// benchRateText describes a run's pacing.
func benchRateText(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("%.0f/s", rate)
	}
	return "as fast as possible"
}

// benchFilesystem returns a warning when dir is on a filesystem where fsync costs nothing.
func benchFilesystem(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return ""
	}
	const tmpfsMagic = 0x01021994
	if st.Type == tmpfsMagic {
		return "tmpfs: fsync costs nothing here; use --dir on the disk /data lives on"
	}
	return ""
}

func benchMachine() benchMachineInfo {
	m := benchMachineInfo{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func benchProfileHelp(dir string) []string {
	return []string{
		"go tool pprof -top " + filepath.Join(dir, "cpu.pprof"),
		"go tool pprof -top " + filepath.Join(dir, "block.pprof") + "   (where goroutines wait)",
		"go tool pprof -top " + filepath.Join(dir, "mutex.pprof"),
		"go tool pprof -top -sample_index=alloc_space -base " + filepath.Join(dir, "allocs-before.pprof") + " " + filepath.Join(dir, "allocs-after.pprof"),
		"go tool pprof -top -sample_index=alloc_objects -base " + filepath.Join(dir, "allocs-before.pprof") + " " + filepath.Join(dir, "allocs-after.pprof"),
	}
}

// benchReport is the bench's result; --json prints it as is.
type benchReport struct {
	Config   benchConfigReport `json:"config"`
	Machine  benchMachineInfo  `json:"machine"`
	Idle     []benchIdleResult `json:"idle_clients,omitempty"`
	Runs     []benchRun        `json:"runs"`
	Summary  []benchVerdict    `json:"summary"`
	Profiles []string          `json:"profiles,omitempty"`
}

type benchConfigReport struct {
	Target         string   `json:"target,omitempty"`
	Placement      string   `json:"placement"`
	Concurrency    int      `json:"concurrency"`
	Duration       string   `json:"duration"`
	Rounds         int      `json:"rounds"`
	Rate           float64  `json:"rate,omitempty"`
	Vendors        []string `json:"vendors"`
	Subscribers    int      `json:"subscribers"`
	Subscription   string   `json:"subscription"`
	Fsync          string   `json:"fsync"`
	LogLevel       string   `json:"log_level"`
	DataFilesystem string   `json:"data_filesystem,omitempty"`
}

type benchMachineInfo struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// benchIdleResult is the memory idle device clients add to a bridge.
type benchIdleResult struct {
	Server        string         `json:"server"`
	Clients       int            `json:"clients"`
	SubsPerClient int            `json:"subs_per_client"`
	Clean         bool           `json:"clean_sessions"`
	ConnectTime   time.Duration  `json:"connect_ns"`
	RSSBefore     int64          `json:"rss_before"`
	RSSAfter      int64          `json:"rss_after"`
	GoBefore      *benchMemStats `json:"go_before,omitempty"`
	GoAfter       *benchMemStats `json:"go_after,omitempty"`
}

// benchRun is one measured run against one server.
type benchRun struct {
	Server      string  `json:"server"`
	Round       int     `json:"round"`
	Mode        string  `json:"mode"` // saturation or paced
	TargetRate  float64 `json:"target_rate,omitempty"`
	Concurrency int     `json:"concurrency"`

	Elapsed    time.Duration  `json:"elapsed_ns"`
	Sent       int            `json:"sent"`
	Accepted   int            `json:"accepted"`
	Statuses   map[string]int `json:"statuses"`
	Errors     int            `json:"errors"`
	FirstError string         `json:"first_error,omitempty"`
	RPS        float64        `json:"rps"`
	// HTTP is from sending the request to reading the answer.
	HTTP loadgen.Latency `json:"http"`
	// Lag is how late the generator sent paced requests after they were due.
	Lag *loadgen.Latency `json:"send_lag,omitempty"`
	// Delivery is what the subscribers received; nil for the bare handler.
	Delivery   *loadgen.Delivery `json:"delivery,omitempty"`
	Duplicates int64             `json:"duplicates"`
	Unknown    int64             `json:"unknown_messages"`

	// CPUPerEvent is the server's CPU time (user + system, all threads) over the run and its
	// drain, per accepted event; CPUCores is that CPU time over the run's length.
	CPUPerEvent time.Duration `json:"cpu_per_event_ns,omitempty"`
	CPUCores    float64       `json:"cpu_cores,omitempty"`
	// GenCPUPerEvent is the bench process's own CPU time (generator and subscribers) per event,
	// when the server runs in another process.
	GenCPUPerEvent time.Duration `json:"generator_cpu_per_event_ns,omitempty"`
	// PeakRSS is the server process's peak resident memory during the run (PeakScope "run"), or
	// over its life when the kernel cannot reset the peak.
	PeakRSS   int64  `json:"peak_rss,omitempty"`
	PeakScope string `json:"peak_scope,omitempty"`
	// RSSAnon and RSSFile split the resident memory at the end of the run: anonymous (Go heap,
	// stacks) and mapped files (the binary, the bbolt state file). GoHeap is the Go heap in use
	// then.
	RSSAnon int64 `json:"rss_anon_end,omitempty"`
	RSSFile int64 `json:"rss_file_end,omitempty"`
	GoHeap  int64 `json:"go_heap_inuse_end,omitempty"`
	// Shared reports that CPU and memory are the bench's own process, generator included.
	Shared bool `json:"shared_process,omitempty"`
	// Commits counts the store's transactions during the run (and its drain); Dropped the messages
	// the broker dropped because a client's queue was full.
	Commits          int64   `json:"commits,omitempty"`
	CommitsPerSecond float64 `json:"commits_per_second,omitempty"`
	Dropped          int64   `json:"dropped,omitempty"`
	// CPUStall and IOStall are the shares of the run in which some task on the machine waited for a
	// CPU or for I/O, and Steal the share of the machine's CPU time its hypervisor gave to others:
	// high values mark a run that other work disturbed. (The bench itself brings CPU stall too, when
	// the generator and the server want more than the machine's CPUs.)
	CPUStall float64 `json:"cpu_stall"`
	IOStall  float64 `json:"io_stall"`
	Steal    float64 `json:"steal"`
}

// benchVerdict is one line of the summary: a measured value against its target.
type benchVerdict struct {
	What   string `json:"what"`
	Value  string `json:"value"`
	Target string `json:"target,omitempty"`
	// Met is nil when there is no target to meet.
	Met *bool `json:"met,omitempty"`
}

func (c *benchConfig) report(samples []*loadgen.Sample, login loadgen.Login) benchConfigReport {
	r := benchConfigReport{Target: c.target, Concurrency: c.concurrency, Duration: c.duration.String(), Rounds: c.rounds,
		Rate: c.rate, Subscribers: c.subscribers, Fsync: c.fsync, LogLevel: c.logLevel,
		Placement: "the bridge, the bare handler and the load generator in one process; CPU and RSS include the generator"}
	for _, s := range samples {
		r.Vendors = append(r.Vendors, s.Vendor)
	}
	session := "persistent session"
	if login.Clean {
		session = "clean session"
	}
	r.Subscription = "paho (MQTT 3.1.1), QoS 1, " + session + ", one subscription to {prefix}/{vendor}/# per vendor"
	if c.target != "" {
		r.Placement = "a running bridge at " + c.target + "; the bare handler in a child process"
		r.Fsync = "as the running bridge is configured"
		r.LogLevel = "as the running bridge is configured"
	}
	return r
}

func (r *benchRun) fill(res *loadgen.Result) {
	r.Elapsed, r.Sent, r.Accepted, r.Errors, r.FirstError = res.Elapsed, res.Sent, res.Accepted, res.Errors, res.FirstError
	r.RPS = res.Rate()
	r.HTTP = res.HTTP
	if res.Lag.N > 0 {
		lag := res.Lag
		r.Lag = &lag
	}
	r.Statuses = map[string]int{}
	for s, n := range res.Statuses {
		r.Statuses[fmt.Sprint(s)] = n
	}
}

// meanRate returns the mean requests per second of a server's runs in a mode.
func (rep *benchReport) meanRate(server, mode string) float64 {
	sum, n := 0.0, 0
	for _, r := range rep.Runs {
		if r.Server == server && r.Mode == mode {
			sum += r.RPS
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func benchMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func benchMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func benchUS(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func (rep *benchReport) verdict(what, value, target string, met *bool) {
	rep.Summary = append(rep.Summary, benchVerdict{What: what, Value: value, Target: target, Met: met})
}

func benchMet(ok bool) *bool { return &ok }

// summarize compares the runs with the targets of issue 7.
func (rep *benchReport) summarize(c *benchConfig) {
	bareName := "bare"
	var bridges []string
	seen := map[string]bool{}
	for _, r := range rep.Runs {
		if r.Server != bareName && !seen[r.Server] {
			seen[r.Server] = true
			bridges = append(bridges, r.Server)
		}
	}
	mode := "saturation"
	if c.rate > 0 {
		mode = "paced"
	}
	bare := rep.meanRate(bareName, mode)
	for _, b := range bridges {
		rate := rep.meanRate(b, mode)
		if bare > 0 && c.rate == 0 {
			var rounds []string
			for round := 1; round <= c.rounds; round++ {
				var br, bb float64
				for _, r := range rep.Runs {
					if r.Round == round && r.Mode == mode && r.Server == b {
						br = r.RPS
					}
					if r.Round == round && r.Mode == mode && r.Server == bareName {
						bb = r.RPS
					}
				}
				if bb > 0 {
					rounds = append(rounds, fmt.Sprintf("%.2f", br/bb))
				}
			}
			ratio := rate / bare
			rep.verdict(fmt.Sprintf("%s / bare handler, requests per second", b),
				fmt.Sprintf("%.2f (%.0f / %.0f; by round %s)", ratio, rate, bare, strings.Join(rounds, ", ")), ">= 0.60", benchMet(ratio >= 0.6))
		}
		var paced []benchRun
		for _, r := range rep.Runs {
			if r.Server == b && r.Mode == "paced" && r.Delivery != nil && r.Delivery.Latency.N > 0 {
				paced = append(paced, r)
			}
		}
		if len(paced) > 0 {
			// The verdict takes the median run (the upper one of two): on a shared machine one
			// run can catch another tenant's burst.
			slices.SortFunc(paced, func(x, y benchRun) int { return cmp.Compare(x.Delivery.Latency.P99, y.Delivery.Latency.P99) })
			med := paced[len(paced)/2]
			var each []string
			for _, r := range paced {
				each = append(each, benchMS(r.Delivery.Latency.P99))
			}
			l := med.Delivery.Latency
			what := fmt.Sprintf("%s p99 end-to-end at %.0f/s", b, med.TargetRate)
			target := ""
			var met *bool
			if c.rate == 0 {
				what += " (half of saturation)"
				target, met = "<= 5 ms", benchMet(l.P99 <= 5*time.Millisecond)
			}
			value := fmt.Sprintf("%s (p50 %s, max %s; from the actual send p99 %s)", benchMS(l.P99), benchMS(l.P50), benchMS(l.Max),
				benchMS(med.Delivery.FromSend.P99))
			if len(paced) > 1 {
				value += fmt.Sprintf("; median of runs with p99 %s", strings.Join(each, ", "))
			}
			rep.verdict(what, value, target, met)
		}
		var peak int64
		scope, shared := "", false
		for _, r := range rep.Runs {
			if r.Server == b && r.Mode != "profiled" && r.PeakRSS > peak {
				peak, scope, shared = r.PeakRSS, r.PeakScope, r.Shared
			}
		}
		if peak > 0 {
			what := fmt.Sprintf("%s peak RSS under load", b)
			if shared {
				what += " (whole bench process)"
			}
			if scope != "run" {
				what += " (" + scope + ")"
			}
			rep.verdict(what, benchMB(peak), "<= 60 MB", benchMet(peak <= 60<<20))
		}
	}
	if len(bridges) == 2 && c.rate == 0 {
		on, off := rep.meanRate(bridges[0], mode), rep.meanRate(bridges[1], mode)
		if off > 0 {
			cost := 1 - on/off
			rep.verdict("durability cost: throughput lost to fsync", fmt.Sprintf("%.1f%% (%.0f/s with fsync, %.0f/s without)", 100*cost, on, off),
				"< 33%", benchMet(cost < 1.0/3))
		}
	}
	for _, idle := range rep.Idle {
		if idle.RSSAfter == 0 {
			continue
		}
		added := idle.RSSAfter - idle.RSSBefore
		what := fmt.Sprintf("%s RSS added by %d idle clients x %d subscriptions", idle.Server, idle.Clients, idle.SubsPerClient)
		value := fmt.Sprintf("%s (%s -> %s)", benchMB(added), benchMB(idle.RSSBefore), benchMB(idle.RSSAfter))
		if idle.GoBefore != nil && idle.GoAfter != nil {
			value += fmt.Sprintf("; Go heap in use +%s, stacks +%s, goroutines +%d",
				benchMB(idle.GoAfter.HeapInuse-idle.GoBefore.HeapInuse), benchMB(idle.GoAfter.StackInuse-idle.GoBefore.StackInuse),
				idle.GoAfter.Goroutines-idle.GoBefore.Goroutines)
		}
		target, met := "", (*bool)(nil)
		if idle.Clients == 1000 && idle.SubsPerClient == 5 {
			target, met = "<= 40 MB", benchMet(added <= 40<<20)
		}
		rep.verdict(what, value, target, met)
	}
	missing, accepted, refused := 0, 0, 0
	for _, r := range rep.Runs {
		accepted += r.Accepted
		refused += r.Sent - r.Accepted
		if r.Delivery != nil {
			missing += r.Delivery.Missing
		}
	}
	rep.verdict("accepted events not received by a subscriber (all runs)", fmt.Sprint(missing), "0", benchMet(missing == 0))
	rep.verdict("requests not answered 202 (all runs)", fmt.Sprintf("%d of %d", refused, accepted+refused), "0", benchMet(refused == 0))
}

// print writes the report as text tables.
func (rep *benchReport) print(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "hookbridge bench: %d connections, %s runs", c.Concurrency, c.Duration)
	if c.Rate > 0 {
		fmt.Fprintf(w, " at %.0f requests/s", c.Rate)
	}
	fmt.Fprintf(w, ", vendors %s\n", strings.Join(c.Vendors, ","))
	fmt.Fprintf(w, "  subscribers: %d, %s\n", c.Subscribers, c.Subscription)
	fmt.Fprintf(w, "  bridge: fsync %s, log level %s; %s\n", c.Fsync, c.LogLevel, c.Placement)
	m := rep.Machine
	fmt.Fprintf(w, "  machine: %d CPUs (GOMAXPROCS %d) %s, %s %s\n", m.CPUs, m.GOMAXPROCS, m.CPU, m.Go, m.OS)
	if c.DataFilesystem != "" {
		fmt.Fprintf(w, "  WARNING: data directory on %s\n", c.DataFilesystem)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tround\tmode\treq/s\taccepted\tnot 202\thttp p50\thttp p99\te2e p50\te2e p99\te2e max\tmissing\tCPU/event\tcores\tgen CPU/event\tpeak RSS\tanon/file/heap at end\tevents/commit\tcpu stall\tio stall\tsteal\t")
	dash := "-"
	for _, r := range rep.Runs {
		mode := r.Mode
		if r.TargetRate > 0 {
			mode = fmt.Sprintf("%.0f/s", r.TargetRate)
		}
		e50, e99, emax, missing := dash, dash, dash, dash
		if r.Delivery != nil {
			l := r.Delivery.Latency
			e50, e99, emax, missing = benchMS(l.P50), benchMS(l.P99), benchMS(l.Max), fmt.Sprint(r.Delivery.Missing)
		}
		cpu, cores, gen, peak := dash, dash, dash, dash
		if r.CPUPerEvent > 0 {
			cpu, cores = benchUS(r.CPUPerEvent), fmt.Sprintf("%.2f", r.CPUCores)
		}
		if r.GenCPUPerEvent > 0 {
			gen = benchUS(r.GenCPUPerEvent)
		}
		split, perCommit := dash, dash
		if r.Commits > 0 {
			perCommit = fmt.Sprintf("%.1f", float64(r.Accepted)/float64(r.Commits))
		}
		if r.PeakRSS > 0 {
			peak = benchMB(r.PeakRSS)
			split = fmt.Sprintf("%.0f/%.0f/%.0f MB", float64(r.RSSAnon)/(1<<20), float64(r.RSSFile)/(1<<20), float64(r.GoHeap)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%.0f%%\t\n", r.Server, r.Round, mode, r.RPS, r.Accepted,
			r.Sent-r.Accepted, benchMS(r.HTTP.P50), benchMS(r.HTTP.P99), e50, e99, emax, missing, cpu, cores, gen, peak, split, perCommit, 100*r.CPUStall, 100*r.IOStall, 100*r.Steal)
	}
	tw.Flush()
	for _, r := range rep.Runs {
		if r.Lag != nil {
			fmt.Fprintf(w, "  %s round %d at %.0f/s: requests went out late by p50 %s, p99 %s, max %s (counted in the latencies above)",
				r.Server, r.Round, r.TargetRate, benchMS(r.Lag.P50), benchMS(r.Lag.P99), benchMS(r.Lag.Max))
			if r.Delivery != nil {
				fmt.Fprintf(w, "; end-to-end from the actual send: p50 %s, p99 %s", benchMS(r.Delivery.FromSend.P50), benchMS(r.Delivery.FromSend.P99))
			}
			fmt.Fprintln(w)
		}
	}
	for _, r := range rep.Runs {
		if r.Sent != r.Accepted || r.Duplicates > 0 || r.Dropped > 0 {
			fmt.Fprintf(w, "  %s round %d %s: statuses %v, connection errors %d %s, duplicate deliveries %d, broker drops %d\n",
				r.Server, r.Round, r.Mode, r.Statuses, r.Errors, r.FirstError, r.Duplicates, r.Dropped)
		}
	}
	fmt.Fprintln(w)
	for _, idle := range rep.Idle {
		session := "persistent"
		if idle.Clean {
			session = "clean"
		}
		fmt.Fprintf(w, "idle clients on %s: %d clients (%s sessions, keep-alive 0) x %d subscriptions connected in %s\n",
			idle.Server, idle.Clients, session, idle.SubsPerClient, idle.ConnectTime.Round(time.Millisecond))
	}
	fmt.Fprintln(w, "summary:")
	for _, v := range rep.Summary {
		mark := ""
		switch {
		case v.Met == nil:
		case *v.Met:
			mark = "  [met: " + v.Target + "]"
		default:
			mark = "  [MISSED: " + v.Target + "]"
		}
		fmt.Fprintf(w, "  %s: %s%s\n", v.What, v.Value, mark)
	}
	if len(rep.Profiles) > 0 {
		fmt.Fprintln(w, "profiles of the bridge during the profiled runs (not in the summary):")
		for _, p := range rep.Profiles {
			fmt.Fprintln(w, "  "+p)
		}
	}
}
