package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// A headless Chromium driven over the Chrome DevTools protocol: enough of it to load a page, read
// the DOM, click with the mouse as a person would, and take a screenshot.

// chromiumArgs are the flags every run uses: headless, no sandbox (tests run as root in
// containers), nothing fetched from the network on the browser's own account.
var chromiumArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,900",
}

// browser is one Chromium process and a DevTools session with its page.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	ws   *websocket.Conn
	wmu  sync.Mutex // serializes writes to ws
	mu   sync.Mutex // guards the fields below
	next int
	wait map[int]chan cdpMessage
	evts []cdpMessage
	err  error // why the read loop stopped
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium starts Debian's chromium and attaches to its first page. A missing chromium fails
// the test: scripts/test installs it.
func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run scripts/test, which installs it (Debian package chromium), instead of go test alone")
	}
	dir := t.TempDir()
	stderr := &bridgetest.LogBuffer{}
	cmd := exec.Command(bin, append(append([]string{}, chromiumArgs...), "--user-data-dir="+dir, "about:blank")...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers are stopped with it
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{t: t, cmd: cmd, wait: map[int]chan cdpMessage{}}
	t.Cleanup(b.close)

	// Chromium writes the port it picked to DevToolsActivePort in its profile.
	var port int
	bridgetest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		raw, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort"))
		if err == nil {
			port, err = strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
		}
		if err != nil {
			return fmt.Errorf("chromium did not open its DevTools port: %v\nstderr:\n%s", err, stderr)
		}
		return nil
	})
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"webSocketDebuggerUrl"`
	}
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", port))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
			return err
		}
		for _, tg := range targets {
			if tg.Type == "page" {
				return nil
			}
		}
		return fmt.Errorf("no page target yet: %v", targets)
	})
	for _, tg := range targets {
		if tg.Type == "page" {
			b.ws, _, err = websocket.DefaultDialer.Dial(tg.URL, nil)
			if err != nil {
				t.Fatalf("dial DevTools: %v", err)
			}
			break
		}
	}
	go b.read()
	for _, domain := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		b.call(domain, nil)
	}
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	return b
}

func (b *browser) close() {
	if b.ws != nil {
		b.ws.Close()
	}
	if b.cmd.Process != nil {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) // the process group this test started
		b.cmd.Wait()
	}
}

func (b *browser) read() {
	for {
		_, raw, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.err = err
			for id, ch := range b.wait {
				close(ch)
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.wait[m.ID]; ok {
				ch <- m
				delete(b.wait, m.ID)
			}
		} else {
			b.evts = append(b.evts, m)
		}
		b.mu.Unlock()
	}
}

// call sends a DevTools command and returns its result, failing the test on an error.
func (b *browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		b.t.Fatalf("%s: DevTools connection closed: %v", method, b.err)
	}
	b.next++
	id := b.next
	b.wait[id] = ch
	b.mu.Unlock()
	b.wmu.Lock()
	err := b.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	b.wmu.Unlock()
	if err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			b.t.Fatalf("%s: DevTools connection closed", method)
		}
		if m.Error != nil {
			b.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		return m.Result
	case <-time.After(30 * time.Second):
		b.t.Fatalf("%s: no answer", method)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page and decodes its value into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	raw := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Exception != nil {
		b.t.Fatalf("eval %s: %v %+v", expr, err, r.Exception)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			b.t.Fatalf("eval %s: decode %s: %v", expr, r.Result.Value, err)
		}
	}
}

// mark returns how many events arrived so far, to wait for one after that point.
func (b *browser) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.evts)
}

// waitEvent waits for an event of method that arrived after mark.
func (b *browser) waitEvent(method string, mark int) {
	b.t.Helper()
	bridgetest.CheckFor(b.t, 30*time.Second, 10*time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.evts[mark:] {
			if e.Method == method {
				return nil
			}
		}
		return fmt.Errorf("no %s event", method)
	})
}

// navigate loads url and waits for its load event.
func (b *browser) navigate(url string) {
	b.t.Helper()
	m := b.mark()
	b.call("Page.navigate", map[string]any{"url": url})
	b.waitEvent("Page.loadEventFired", m)
}

// click presses and releases the left mouse button over the element selector names, and waits
// for the page it leads to to load.
func (b *browser) click(selector string) {
	b.t.Helper()
	var box struct{ X, Y float64 }
	sel, _ := json.Marshal(selector)
	b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, sel), &box)
	m := b.mark()
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		b.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1})
	}
	b.waitEvent("Page.loadEventFired", m)
}

// screenshot saves the page as a PNG.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var r struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	if err := json.Unmarshal(b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}), &r); err != nil {
		b.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, r.Data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// logs returns the text of the browser's log entries (console errors, CSP violations, failed
// loads) so far.
func (b *browser) logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.evts {
		if e.Method != "Log.entryAdded" && e.Method != "Runtime.exceptionThrown" {
			continue
		}
		var p struct {
			Entry struct {
				Level, Text, URL string
			} `json:"entry"`
		}
		json.Unmarshal(e.Params, &p)
		out = append(out, fmt.Sprintf("%s %s: %s %s", e.Method, p.Entry.Level, p.Entry.Text, p.Entry.URL))
	}
	return out
}
