package bridgetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/cli"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// BinaryEnv names an environment variable that, when set, is the path of a prebuilt binary for
// Binary to return instead of building one: `HOOKBRIDGE_BINARY=/tmp/hookbridge-0.1.0 go test
// ./bridge/e2e/` runs the tests that use the real binary against another version.
const BinaryEnv = "HOOKBRIDGE_BINARY"

// Binary returns the path of the real binary: the one BinaryEnv names, else one built (`go build`
// of Module) once per test process.
func Binary(tb testing.TB) string {
	tb.Helper()
	dir := Root(tb)
	binaryOnce.Do(func() {
		if path := os.Getenv(BinaryEnv); path != "" {
			if binaryPath, binaryErr = filepath.Abs(path); binaryErr == nil {
				_, binaryErr = os.Stat(binaryPath)
			}
			if binaryErr != nil {
				binaryErr = fmt.Errorf("%s: %w", BinaryEnv, binaryErr)
			}
			return
		}
		tmp, err := os.MkdirTemp("", "hookbridge-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(tmp, "hookbridge")
		cmd := exec.Command("go", "build", "-o", binaryPath, Module)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		tb.Fatal(binaryErr)
	}
	return binaryPath
}

// RunBinary runs the real binary with args in the repository's root, as relative paths in tests
// expect, and returns its exit code.
func RunBinary(tb testing.TB, args []string, stdout, stderr io.Writer) int {
	tb.Helper()
	cmd := exec.Command(Binary(tb), args...)
	cmd.Dir = Root(tb)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		tb.Fatalf("run %v: %v", args, err)
	}
	return 0
}

// RunCLI runs a command line in the test process, through cli.Run with the built-in catalog read
// from the repository, and returns the exit code and what it wrote. Relative paths are relative to
// the test's working directory.
func RunCLI(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), cli.Program{Catalog: os.DirFS(Root(tb)), Version: "test"}, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Process is the real binary running `serve` in a child process, with its options file and data
// dir in Dir and the test catalog's policies (or others, see NewProcessPolicies and
// NewProcessCatalog). The first Start listens on loopback ports picked by the system and reads
// them from the "hookbridge started" log line; a restart takes the same ports again, so clients
// reconnect where they were.
type Process struct {
	TB      testing.TB
	Dir     string           // data dir, holding options.json and a log file per run
	Options *options.Options // as written to the options file
	Catalog *catalog.Catalog // as the binary reads it
	// Policies and Schemas are the directories of extra policies and schemas passed as
	// --policies and --schemas; "" for none.
	Policies, Schemas string
	// HTTPAddr, AdminAddr and MQTTAddr are the listen addresses, set by the first Start.
	HTTPAddr, AdminAddr, MQTTAddr string

	cmd      *exec.Cmd
	exited   chan error // receives the exit of the current run
	running  bool
	logPaths []string
}

// NewProcess writes o as the options file of a fresh data dir. The process must log at level info
// or below (Start reads its addresses from the log). It is killed, if it still runs, when the test
// ends.
func NewProcess(tb testing.TB, o *options.Options) *Process {
	tb.Helper()
	return NewProcessPolicies(tb, o, TestPolicies(tb))
}

// NewProcessPolicies is NewProcess with the extra policies in policies ("" for the built-in catalog
// only) instead of the test catalog's: a binary of another version (BinaryEnv) may not accept
// the test catalog of this one.
func NewProcessPolicies(tb testing.TB, o *options.Options, policies string) *Process {
	tb.Helper()
	return NewProcessCatalog(tb, o, policies, "")
}

// NewProcessCatalog is NewProcess with another extra catalog: the policies in policies and the
// schemas in schemas ("" for none) over the built-in ones.
func NewProcessCatalog(tb testing.TB, o *options.Options, policies, schemas string) *Process {
	tb.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: os.DirFS(Root(tb)), PolicyDir: policies, SchemaDir: schemas})
	if err != nil {
		tb.Fatal(err)
	}
	p := &Process{TB: tb, Dir: tb.TempDir(), Options: o, Catalog: cat, Policies: policies, Schemas: schemas}
	if err := app.WriteOptions(filepath.Join(p.Dir, "options.json"), o); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if p.running {
			p.Kill()
		}
	})
	return p
}

// Start runs the binary and waits until it logged that it started, and answers /healthz. It fails
// the test if the process exits first or takes more than 20 s.
func (p *Process) Start() {
	p.TB.Helper()
	logPath := filepath.Join(p.Dir, fmt.Sprintf("run-%d.log", len(p.logPaths)))
	logf, err := os.Create(logPath)
	if err != nil {
		p.TB.Fatal(err)
	}
	p.logPaths = append(p.logPaths, logPath)
	first := p.HTTPAddr == ""
	addr := func(a string) string {
		if first {
			return "127.0.0.1:0"
		}
		return a
	}
	args := []string{"serve", "--data", p.Dir, "--options", filepath.Join(p.Dir, "options.json"),
		"--http-addr", addr(p.HTTPAddr), "--admin-addr", addr(p.AdminAddr), "--mqtt-addr", addr(p.MQTTAddr)}
	if p.Policies != "" {
		args = append(args, "--policies", p.Policies)
	}
	if p.Schemas != "" {
		args = append(args, "--schemas", p.Schemas)
	}
	p.cmd = exec.Command(Binary(p.TB), args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		p.TB.Fatal(err)
	}
	exited := make(chan error, 1)
	p.exited, p.running = exited, true
	go func(cmd *exec.Cmd) { exited <- cmd.Wait(); logf.Close() }(p.cmd)

	type started struct {
		Message string `json:"message"`
		HTTP    string `json:"http"`
		Admin   string `json:"admin"`
		MQTT    string `json:"mqtt"`
	}
	deadline := time.Now().Add(20 * time.Second)
	healthy := false
	for !healthy {
		data, _ := os.ReadFile(logPath)
		for _, s := range LogEntries[started](string(data)) {
			if s.Message != "hookbridge started" {
				continue
			}
			if first {
				p.HTTPAddr, p.AdminAddr, p.MQTTAddr = s.HTTP, s.Admin, s.MQTT
			}
			if resp, err := http.Get("http://" + p.AdminAddr + "/healthz"); err == nil {
				resp.Body.Close()
				healthy = resp.StatusCode == http.StatusOK
			}
		}
		if healthy {
			break
		}
		select {
		case err := <-exited:
			p.running = false
			p.TB.Fatalf("hookbridge exited at start: %v\n%s", err, p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			p.TB.Fatalf("hookbridge not started and healthy after 20s\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID returns the process id of the current run, 0 when it is not running.
func (p *Process) PID() int {
	if !p.running {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process was started and has not been stopped by Kill or Terminate.
func (p *Process) Running() bool { return p.running }

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() {
	if !p.running {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.running = false
}

// Terminate sends SIGTERM and returns how long the exit took and its error (nil for status 0). A
// process still running 30 s later is killed.
func (p *Process) Terminate() (time.Duration, error) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.running = false
		return time.Since(start), err
	case <-time.After(30 * time.Second):
		p.Kill()
		return time.Since(start), errors.New("did not exit within 30s of SIGTERM")
	}
}

// Post sends a POST with the headers and body to path on the partner listener.
func (p *Process) Post(path string, header map[string]string, body []byte) Response {
	p.TB.Helper()
	return Do(p.TB, http.MethodPost, "http://"+p.HTTPAddr+path, header, body)
}

// Logs returns what every run so far wrote, in order.
func (p *Process) Logs() string {
	var b strings.Builder
	for _, path := range p.logPaths {
		data, _ := os.ReadFile(path)
		b.Write(data)
	}
	return b.String()
}
