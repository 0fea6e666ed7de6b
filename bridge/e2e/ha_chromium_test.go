package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// A headless Chromium driven with chromedp: load a page, read the DOM, click with the mouse as a
// person would, take a screenshot, and keep what the browser logged.

// chromiumFlags are the flags every run uses: headless, no sandbox (tests run as root in
// containers), nothing fetched from the network on the browser's own account (the closed network
// refuses those connections). chromedp adds a fresh --user-data-dir, removed afterwards, and talks
// to the browser over a pipe.
var chromiumFlags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync",
}

// chromiumTimeout bounds each browser action.
const chromiumTimeout = 30 * time.Second

// browser is one Chromium process with one page, and the log entries and uncaught exceptions of
// that page.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex // guards logs
	logs []chromedp.ConsoleMessage
}

// startChromium starts Debian's chromium and opens a page of 1280x900. A missing chromium fails
// the test: scripts/test installs it.
func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run scripts/test, which installs it (Debian package chromium), instead of go test alone")
	}
	output := &bridgetest.LogBuffer{Max: 64 << 10}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.WindowSize(1280, 900), chromedp.CombinedOutput(output)}
	for _, f := range chromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()      // closes the page and the browser
		cancelAlloc() // and waits until the process and its helpers are gone
	})
	b := &browser{t: t, ctx: ctx}
	// The first action starts the browser; its context is the browser's life, so it has no
	// timeout of its own (a timeout would close the browser when it ends).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v\noutput:\n%s", err, output)
	}
	logs := chromedp.Console(ctx)
	go func() {
		for m, err := range logs {
			if err != nil {
				return
			}
			// The browser's log (console errors, CSP violations, failed loads) and uncaught
			// exceptions; the page's own console calls are not kept.
			if m.Source != "" || m.IsException() {
				b.mu.Lock()
				b.logs = append(b.logs, m)
				b.mu.Unlock()
			}
		}
	}()
	b.do(chromedp.EmulateViewport(1280, 900))
	return b
}

// do runs actions within chromiumTimeout, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, chromiumTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("chromium: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, chromiumTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("eval %s: decode %s: %v", expr, raw, err)
		}
	}
}

// navigate loads url and waits for it to load.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
}

// click presses and releases the left mouse button over the center of the element selector
// names (scrolled into view), and waits for the page it leads to to load.
func (b *browser) click(selector string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, chromiumTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("click %s: %v", selector, err)
	}
}

// screenshot saves the whole page as a PNG.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, chromiumTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// logEntries returns the text of the browser's log entries and uncaught exceptions so far.
func (b *browser) logEntries() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.logs {
		out = append(out, fmt.Sprintf("%s %s: %s %s", m.Source, m.Type, m.Text, m.URL))
	}
	return out
}
