package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

var verifyCommand = &command{
	name:    "verify",
	args:    "VENDOR FILE",
	summary: "check a captured request (raw HTTP) against VENDOR's policy and secrets, offline, and print each check",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		at := fset.String("at", "", "judge the request as of `TIME` (RFC 3339, e.g. 2026-05-01T12:00:00Z; default now)")
		return func(_ context.Context, args []string) error {
			pos, err := parse(fset, args, 2)
			if err != nil {
				return err
			}
			f.resolve()
			now := time.Now()
			if *at != "" {
				if now, err = time.Parse(time.RFC3339Nano, *at); err != nil {
					fmt.Fprintf(e.stderr, "hookbridge verify: --at %q is not an RFC 3339 time like 2026-05-01T12:00:00Z\n", *at)
					return errUsage
				}
			}
			return verifyCapture(e, f, pos[0], pos[1], now)
		}
	},
}

// errRefused reports a captured request that does not verify; the checks were printed.
var errRefused = errors.New("the request does not verify")

// verifyCapture checks a captured request against a vendor's policy and secrets as of now, and
// prints each check. It prints what was found in general terms: never a secret, a key or an
// expected MAC.
func verifyCapture(e *env, f *flags, name, file string, now time.Time) error {
	files := f.files(e.prog)
	cat, _, err := files.Catalog()
	if err != nil {
		return err
	}
	cv, ok := cat.Vendor(name)
	if !ok {
		return fmt.Errorf("no policy for vendor %q (known: %s)", name, strings.Join(cat.Names(), ", "))
	}
	o, err := app.ReadOptions(f.options)
	if err != nil {
		return err
	}
	var secrets []string
	for _, v := range o.Vendors {
		if v.Name == name {
			secrets = v.Secrets
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	w := e.stdout
	failed := false
	show := func(ok bool, what, detail string) {
		mark := "ok  "
		if !ok {
			mark, failed = "FAIL", true
		}
		fmt.Fprintf(w, "  %s  %-36s %s\n", mark, what, detail)
	}
	note := func(what, detail string) { fmt.Fprintf(w, "  ..    %-36s %s\n", what, detail) }

	fmt.Fprintf(w, "hookbridge verify %s %s, as of %s\n", name, file, now.UTC().Format(time.RFC3339))
	a := cv.Policy.Auth
	note("policy", fmt.Sprintf("%s, scheme %s", cv.Policy.File, a.Scheme))
	if a.SignsTimestamp() {
		note("timestamp window", "±"+a.Tolerance.String())
	}

	capture, perr := parseCapture(raw)
	if perr != nil {
		show(false, "captured request", perr.Error())
		return errRefused
	}
	show(capture.req.Method == http.MethodPost, "method", capture.req.Method)
	path, query, _ := strings.Cut(capture.req.RequestURI, "?")
	rest, onPath := strings.CutPrefix(path, "/hooks/"+name)
	rest = strings.TrimPrefix(rest, "/")
	switch {
	case !onPath:
		show(false, "path", fmt.Sprintf("not under /hooks/%s: the request was for another endpoint", name))
	case rest != "" && !strings.HasPrefix(path, "/hooks/"+name+"/"):
		show(false, "path", fmt.Sprintf("not /hooks/%s", name))
	default:
		show(true, "path", "/hooks/"+name+restNote(rest))
	}
	show(true, "body", fmt.Sprintf("%d bytes%s", len(capture.body), capture.bodyNote))

	if len(secrets) == 0 {
		show(false, "secrets", fmt.Sprintf("vendor %s has no secret in %s", name, f.options))
		return errRefused
	}
	v, err := verify.New(a, secrets)
	if err != nil {
		show(false, "secrets", err.Error())
		return errRefused
	}
	show(true, "secrets", fmt.Sprintf("%d loaded", len(secrets)))
	url := vendor.RequestURL(vendor.VendorURL(o.PublicURL, name), rest, query)
	if a.SignsURL() {
		if url == "" {
			show(false, "public_url", "not set: the sender signs the URL it was given")
		} else {
			note("public_url", o.PublicURL)
		}
	}
	r := &verify.Request{Method: capture.req.Method, Header: capture.req.Header, Body: capture.body,
		URL: url, Query: query, Rest: rest, Now: now}
	for _, c := range verify.Explain(v, r) {
		if c.Name == "URL probe" || (c.Name == "URL" && c.OK && !strings.HasPrefix(c.Detail, "signed as")) {
			note(c.Name, c.Detail)
			continue
		}
		show(c.OK, c.Name, c.Detail)
	}
	if _, err := v.Verify(r); err != nil {
		failed = true
	}
	if failed {
		fmt.Fprintln(w, "result: refused; a sender's webhook like this one gets 401")
		return errRefused
	}
	fmt.Fprintln(w, "result: verifies")
	return nil
}

func restNote(rest string) string {
	if rest == "" {
		return ""
	}
	return "/… (the rest of the path is not shown: it may be a token)"
}

// capture is a request read from a file.
type capture struct {
	req      *http.Request
	body     []byte
	bodyNote string
}

// parseCapture reads a raw HTTP/1.x request: the request line, the headers, an empty line and
// the body, as tools like `nc -l` or a proxy's dump write it. Lines may end in CRLF or LF. The
// body is the rest of the file, cut to Content-Length when the file holds more (an editor's final
// newline), decoded when it is chunked.
func parseCapture(raw []byte) (*capture, error) {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok || bytes.Contains(head, []byte("\n\n")) {
		head, body, ok = bytes.Cut(raw, []byte("\n\n"))
	}
	if !ok {
		return nil, errors.New("no empty line after the headers: not a raw HTTP request")
	}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n\r\n"))))
	if err != nil {
		return nil, fmt.Errorf("not a raw HTTP request (request line, headers, empty line, body): %v", err)
	}
	c := &capture{req: req, body: body}
	switch {
	case len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked":
		b, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("the chunked body does not decode: %v", err)
		}
		c.body, c.bodyNote = b, " (chunked, decoded)"
	case req.Header.Get("Content-Length") != "":
		n, err := strconv.Atoi(req.Header.Get("Content-Length"))
		if err != nil || n < 0 {
			return nil, errors.New("Content-Length is not a number")
		}
		switch {
		case n < len(body):
			c.body, c.bodyNote = body[:n], fmt.Sprintf(" (Content-Length; the file has %d more after it, left out)", len(body)-n)
		case n > len(body):
			return nil, fmt.Errorf("the body is %d bytes, shorter than its Content-Length %d: the capture is cut", len(body), n)
		}
	default:
		c.bodyNote = " (no Content-Length: the rest of the file, a final newline included)"
	}
	return c, nil
}
