package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// hostileHeaderBlock joins header lines as a fuzz input: "Key: value" lines separated by "\n".
func hostileHeaderBlock(hs []bridgetest.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Key + ": " + h.Value + "\n")
	}
	return b.String()
}

// hostileErrorTexts are the error messages the partner listener may answer with. Each is fixed
// text or fixed text with a number: none can carry a value of the request.
var hostileErrorTexts = []*regexp.Regexp{
	regexp.MustCompile(`^(not found|method not allowed: use POST|shutting down; retry later|unknown vendor|vendor disabled; retry later|source address not allowed|rate limited; retry later|content encoding must be identity: send the body uncompressed|body too large|could not read body|vendor not configured; retry later|invalid signature or timestamp|no event id|broker unavailable; retry later|internal error)$`),
	regexp.MustCompile(`^unsupported content type: send (application/json|application/x-www-form-urlencoded|no body with the data in the query string)( or (application/json|application/x-www-form-urlencoded|no body with the data in the query string))*$`),
	regexp.MustCompile(`^invalid form data: [A-Za-z0-9 ';-]+ at byte \d+$`),
	regexp.MustCompile(`^(invalid JSON|JSON exceeds limits): form field "[A-Za-z0-9_.-]+": [A-Za-z0-9 ,:'\\{}\[\]-]+ at byte \d+$`),
	regexp.MustCompile(`^invalid handshake: [A-Za-z0-9 ,.~+/=-]+$`),
	regexp.MustCompile(`^(invalid JSON|JSON exceeds limits): [A-Za-z0-9 ,:'\\{}\[\]-]+ at byte \d+$`),
	regexp.MustCompile(`^invalid event id: (longer than \d+ bytes|not UTF-8|control character|not a string or number)( \(event \d+ of the batch\))?$`),
	regexp.MustCompile(`^payload does not match the schema \([A-Za-z]+\)$`),
}

var (
	hostilePathRE    = regexp.MustCompile(`^(/[a-z_]+|/\d+)*$`)
	hostileKeywordRE = regexp.MustCompile(`^[A-Za-z]+$`)
	hostileTokenRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// FuzzHandler drives the partner listener's whole handler, as App.Start wires it to the pipeline,
// the replay store and the embedded broker, with requests that Go's HTTP parser accepts. The
// inputs are the request line, a block of header lines, the body, and sign: bit 0 adds a fresh
// signature for the addressed vendor (bit 1: under another vendor's secret; bits 2-3: the
// timestamp now, 10 minutes past, 10 minutes ahead, or in the year 5138), bit 4 makes the peer
// 10.1.2.3 (inside locked-down's allowed_cidrs) instead of 203.0.113.7.
//
// After each request: the answer is one of the contract's statuses with a JSON body whose error
// text is fixed; only a 202 publishes, and only on the vendor's own well-formed topics, with
// pseudonymized fields as tokens; only a 202 adds a replay record; and neither the answer nor the
// log holds a secret, or the signature and event id the harness made.
func FuzzHandler(f *testing.F) {
	a := hostileLaunch(f, func(o *options.Options) {
		o.LogLevel = hostileLogLevel
		o.MaxBodyKB = hostileMaxBodyKB
	})
	o, logs, handler := a.Options, a.Logs, a.Handler()
	s := hostileSigner{cat: a.Catalog}

	for i, c := range hostileCases() {
		r := c.build(s, fmt.Sprintf("evt_seed_%d", i))
		if r.Method == "" {
			r.Method = http.MethodPost
		}
		if r.Target == "" {
			r.Target = "/hooks/acme-locks"
		}
		f.Add(r.Method, r.Target, hostileHeaderBlock(r.Header), r.Body, uint8(0))
		f.Add(r.Method, r.Target, hostileHeaderBlock(hostileDel(hostileDel(hostileDel(r.Header, "Webhook-Signature"), "Webhook-Id"), "Webhook-Timestamp")), r.Body, uint8(1))
	}
	f.Add("POST", "/hooks/locked-down", "Content-Type: application/json\n", hostileAcme("evt_seed_ld"), uint8(1|16))
	f.Add("POST", "/hooks/bearer-vendor", "Content-Type: application/json\n", hostileAcme("evt_seed_bv"), uint8(1))
	f.Add("POST", "/hooks/porchlight-cams", "Content-Type: application/json\n", hostilePorchlight("evtSeedPorch1"), uint8(1))
	f.Add("POST", "/hooks/porchlight-cams", "Content-Type: application/json\n", hostilePorchlight("evtSeedPorch2"), uint8(1|12))
	f.Add("POST", "/hooks/gridwise-energy", "Content-Type: application/json\n", hostileGridwise(nil), uint8(1|2))

	// Every message published on a vendor's subtree, as the broker hands it out.
	var mu sync.Mutex
	var published []packets.Packet
	for i, v := range o.Vendors {
		err := a.Broker().Server().Subscribe(bridgetest.TopicPrefix+"/"+v.Name+"/#", 9000+i, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			mu.Lock()
			published = append(published, pk)
			mu.Unlock()
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	secrets := []string{bridgetest.PseudonymKey, bridgetest.PanelPassword, bridgetest.HAPassword}
	for _, v := range bridgetest.Secrets() {
		secrets = append(secrets, v)
	}
	vendorNames := make([]string, 0, len(o.Vendors))
	for _, v := range o.Vendors {
		vendorNames = append(vendorNames, v.Name)
	}

	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte, sign uint8) {
		// The vendor the request addresses, if it is one.
		vendor := "acme-locks"
		if rest, ok := strings.CutPrefix(target, "/hooks/"); ok {
			if _, known := a.Vendor(rest); known {
				vendor = rest
			}
		}
		var signed []bridgetest.Header
		var made []string // signatures and ids the harness made: never in the log
		if sign&1 != 0 {
			secret := bridgetest.Secrets()[vendor]
			if sign&2 != 0 {
				secret = bridgetest.Secrets()[vendorNames[(hostileIndex(vendorNames, vendor)+1)%len(vendorNames)]]
			}
			sum := sha256.Sum256(append([]byte(headers+"\x00"), body...))
			id := "fz-" + hex.EncodeToString(sum[:8])
			now := time.Now()
			switch sign >> 2 & 3 {
			case 1:
				now = now.Add(-10 * time.Minute)
			case 2:
				now = now.Add(10 * time.Minute)
			case 3:
				now = time.Unix(99999999999, 0)
			}
			func() {
				defer func() {
					if recover() != nil { // a secret the scheme cannot use: send unsigned
						signed = nil
					}
				}()
				signed = s.sign(vendor, secret, id, body, now)
			}()
			made = append(made, id)
			for _, h := range signed {
				for _, k := range hostileSecretHeaders {
					if strings.EqualFold(h.Key, k) {
						made = append(made, h.Value)
					}
				}
			}
		}
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: hookbridge.test\r\n", method, target)
		framed := false
		for _, h := range signed {
			fmt.Fprintf(&raw, "%s: %s\r\n", h.Key, h.Value)
		}
		for _, line := range strings.Split(headers, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue
			}
			k, _, _ := strings.Cut(line, ":")
			if k = strings.ToLower(strings.TrimSpace(k)); k == "content-length" || k == "transfer-encoding" {
				framed = true
			}
			raw.WriteString(line + "\r\n")
		}
		if !framed {
			fmt.Fprintf(&raw, "Content-Length: %d\r\n", len(body))
		}
		raw.WriteString("\r\n")
		raw.Write(body)
		req, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			return // Go's server answers this itself; the handler never sees it
		}
		req.RemoteAddr = "203.0.113.7:40000"
		if sign&16 != 0 {
			req.RemoteAddr = "10.1.2.3:40000"
		}

		mu.Lock()
		before := len(published)
		mu.Unlock()
		seen := a.StoreStats().Seen
		logs.Take()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		status := rec.Code
		switch status {
		case 200, 202, 400, 401, 403, 404, 405, 413, 415, 422, 429, 503:
		default:
			t.Fatalf("status %d is not in the contract; body %q", status, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil && method != http.MethodHead {
			t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
		}
		switch {
		case status == 202:
			if ev, _ := answer["event"].(string); answer["status"] != "accepted" || !hostileTokenRE.MatchString(ev) {
				t.Fatalf("202 body %q", rec.Body.String())
			}
		case status == 200:
			if answer["status"] != "duplicate" || len(answer) != 1 {
				t.Fatalf("200 body %q", rec.Body.String())
			}
		case method != http.MethodHead:
			msg, _ := answer["error"].(string)
			ok := false
			for _, re := range hostileErrorTexts {
				ok = ok || re.MatchString(msg)
			}
			if !ok {
				t.Fatalf("error text %q is not one of the fixed texts", msg)
			}
			if status == 422 {
				p, _ := answer["path"].(string)
				k, _ := answer["keyword"].(string)
				if !hostilePathRE.MatchString(p) || !hostileKeywordRE.MatchString(k) {
					t.Fatalf("422 path %q keyword %q", p, k)
				}
			}
		}
		var head strings.Builder
		rec.Header().Write(&head)
		out := head.String() + rec.Body.String()
		for _, v := range secrets {
			if strings.Contains(out, v) {
				t.Fatalf("the answer holds a secret: %q", out)
			}
		}

		mu.Lock()
		msgs := append([]packets.Packet(nil), published[before:]...)
		mu.Unlock()
		grew := a.StoreStats().Seen - seen
		if status != 202 {
			if len(msgs) > 0 || grew != 0 {
				t.Fatalf("status %d, yet %d messages published and %d replay records added", status, len(msgs), grew)
			}
		} else if grew != 1 {
			t.Fatalf("202 added %d replay records, want 1", grew)
		}
		for _, m := range msgs {
			hostileCheckPublished(t, vendor, m, []string{"device", "actor", "camera", "meter"})
		}

		// The log of this request.
		log := logs.Take()
		for _, v := range append(made, secrets...) {
			if len(v) >= 6 && hostileHolds(log, v) {
				t.Fatalf("the log holds a secret, signature or event id (%s): %q", hostileClip(v), log)
			}
		}
	})
}

// hostileIndex returns the index of s in list, or 0.
func hostileIndex(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}
