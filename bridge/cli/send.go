package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

var sendCommand = &command{
	name:    "send",
	args:    "VENDOR FILE",
	summary: "sign FILE with VENDOR's secret and scheme, and POST it (like `stripe trigger`)",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		url := fset.String("url", "", "base `URL` of the partner listener (default from --http-addr)")
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, 2)
			if err != nil {
				return err
			}
			f.resolve()
			return send(ctx, e, f, *url, pos[0], pos[1])
		}
	},
}

// send signs a file with a vendor's configured secret and scheme and POSTs it.
func send(ctx context.Context, e *env, f *flags, url, vendor, file string) error {
	cat, o, _, err := f.files(e.prog).Load()
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
	id := app.EventID(cv.Policy, body)
	hdr, err := verify.Signer{Auth: cv.Policy.Auth, Secret: secret}.Sign(body, id, time.Now())
	if err != nil {
		return err
	}
	target := url
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
	fmt.Fprintf(e.stdout, "%s %s", resp.Status, out)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("vendor endpoint answered %s", resp.Status)
	}
	return nil
}
