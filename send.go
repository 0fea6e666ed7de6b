package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// sendCmd signs a file with a vendor's configured secret and scheme and POSTs it, for trying
// things out (like `stripe trigger`).
func sendCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset, f := newFlagSet("send", stderr)
	url := fset.String("url", "", "base URL of the partner listener (default from --http-addr)")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return errUsage
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "usage: hookbridge send [flags] VENDOR FILE\n")
		return errUsage
	}
	f.resolve()
	vendor, file := pos[0], pos[1]
	cat, o, _, err := loadConfig(f)
	if err != nil {
		return err
	}
	cv, ok := cat.Vendor(vendor)
	if !ok {
		return fmt.Errorf("no policy for vendor %q (known: %s)", vendor, strings.Join(cat.Names(), ", "))
	}
	var secret string
	for _, v := range o.Vendors {
		if v.Name == vendor && len(v.Secrets) > 0 {
			secret = v.Secrets[0]
		}
	}
	if secret == "" {
		return fmt.Errorf("vendor %q has no secret in %s", vendor, f.options)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	id := eventID(cv.Policy, body)
	hdr, err := verify.Signer{Auth: cv.Policy.Auth, Secret: secret}.Sign(body, id, time.Now())
	if err != nil {
		return err
	}
	target := *url
	if target == "" {
		target = "http://" + dialable(f.httpAddr)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(target, "/")+"/hooks/"+vendor, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "%s %s", resp.Status, out)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("vendor endpoint answered %s", resp.Status)
	}
	return nil
}

// eventID returns the id the scheme's header should carry: the payload's own id when the policy
// points at one, else a fresh random one.
func eventID(p *policy.Policy, body []byte) string {
	if doc, err := payload.Parse(body, payload.DefaultLimits); err == nil && p.Event.ID != "" {
		if v, ok := payload.Resolve(doc, policy.SplitPointer(p.Event.ID)); ok {
			if s, ok := payload.Scalar(v); ok {
				return s
			}
		}
	}
	id, _ := randomHex(12)
	return "msg_" + id
}

// dialable turns a listen address like ":8080" into one to connect to.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
