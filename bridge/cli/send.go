package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

var sendCommand = &command{
	name:    "send",
	args:    "VENDOR FILE",
	summary: "sign FILE as VENDOR's sender would, with its secret and scheme, and POST it (like `stripe trigger`): JSON, a form, a batch, with a path token or Basic credentials as the vendor's scheme says",
	common:  true,
	setup: func(e *env, fset *flag.FlagSet, f *flags) func(context.Context, []string) error {
		o := sendOptions{}
		fset.StringVar(&o.url, "url", "", "base `URL` of the partner listener (default from --http-addr)")
		fset.StringVar(&o.contentType, "content-type", "application/json", "the body's media `TYPE` (application/x-www-form-urlencoded for a form)")
		fset.StringVar(&o.query, "query", "", "a `QUERY` string the sender's URL carries (signed with it by senders that sign the URL; the data of a sender that posts no body)")
		fset.StringVar(&o.path, "path", "", "a `SEGMENT` the sender appends to the URL, /hooks/VENDOR/SEGMENT (The Things Stack's message type)")
		fset.StringVar(&o.keyFile, "key", "", "the sender's private key `FILE` (PEM, or whsk_ for Ed25519), for schemes that verify with its public key")
		fset.Func("header", "a `NAME: VALUE` header the sender sets before signing (for a recipe's {header:NAME}); may be repeated", func(s string) error {
			k, v, ok := strings.Cut(s, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return errors.New(`want "Name: value"`)
			}
			o.headers = append(o.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			return nil
		})
		return func(ctx context.Context, args []string) error {
			pos, err := parse(fset, args, 2)
			if err != nil {
				return err
			}
			f.resolve()
			return send(ctx, e, f, o, pos[0], pos[1])
		}
	},
}

// sendOptions are send's own flags.
type sendOptions struct {
	url, contentType, query, keyFile, path string
	headers                                [][2]string
}

// send signs a file as a vendor's sender would and POSTs it. A scheme that signs the URL signs
// the one the sender was given (public_url + /hooks/VENDOR [+ /SEGMENT] + the query); the request
// goes to the partner listener with the same path and query, and with the path token a
// path-token vendor's sender has in its URL. A Basic vendor's sender sends the secret as its
// password. The body is sent as it is: a JSON object, an array of events, a form. An empty FILE
// (/dev/null) with --query plays a sender that posts its data in the query string.
func send(ctx context.Context, e *env, f *flags, so sendOptions, name, file string) error {
	cat, o, _, err := f.files(e.prog).Load()
	if err != nil {
		return err
	}
	cv, ok := cat.Vendor(name)
	if !ok {
		return fmt.Errorf("no policy for vendor %q (known: %s)", name, strings.Join(cat.Names(), ", "))
	}
	var secret string
	for _, v := range o.Vendors {
		if v.Name == name && len(v.Secrets) > 0 {
			secret = v.Secrets[0]
		}
	}
	if so.keyFile != "" {
		key, err := os.ReadFile(so.keyFile)
		if err != nil {
			return err
		}
		secret = strings.TrimSpace(string(key))
	}
	if secret == "" {
		return fmt.Errorf("vendor %q has no secret in %s", name, f.options)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	a := cv.Policy.Auth
	signedURL := vendor.VendorURL(o.PublicURL, name)
	if a.SignsURL() && signedURL == "" {
		return fmt.Errorf("vendor %q signs the URL it posts to: set public_url in %s", name, f.options)
	}
	if signedURL == "" {
		signedURL = "http://hookbridge.invalid/hooks/" + name // signed by no scheme, only a carrier of the path and query
	}
	if so.path != "" {
		if !verify.PathTokenChars(so.path) || strings.Trim(so.path, ".") == "" {
			return fmt.Errorf("--path %q: one path segment of letters, digits, '-', '.', '_' and '~'", so.path)
		}
		signedURL += "/" + so.path
	}
	base := signedURL
	if so.query != "" {
		signedURL += "?" + strings.TrimPrefix(so.query, "?")
	}
	m := &verify.Message{URL: signedURL, ContentType: so.contentType, Body: body, ID: app.EventID(cv.Policy, body), Time: time.Now(),
		Header: map[string]string{}}
	for _, h := range so.headers {
		m.Header[h[0]] = h[1]
	}
	if err := (verify.Signer{Auth: a, Secret: secret}).SignMessage(m); err != nil {
		if errors.Is(err, verify.ErrCannotSign) {
			return fmt.Errorf("vendor %q verifies with its sender's public key: give the sender's private key with --key FILE (%w)", name, err)
		}
		return err
	}
	target := so.url
	if target == "" {
		target = "http://" + dialable(f.httpAddr)
	}
	// The signer may have put a path token after the vendor's URL: the path goes as signed.
	signedPath, q, hasQuery := strings.Cut(m.URL, "?")
	dest := strings.TrimRight(target, "/") + "/hooks/" + name + strings.TrimPrefix(signedPath, base)
	if hasQuery {
		dest += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request for vendor %q: %w", name, err)
	}
	if len(body) > 0 || so.query == "" {
		req.Header.Set("Content-Type", so.contentType)
	}
	for k, v := range m.Header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		// Go's error names the URL, which may hold a path token: say where without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s/hooks/%s: %w", strings.TrimRight(target, "/"), name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(e.stdout, "%s %s", resp.Status, out)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("vendor endpoint answered %s", resp.Status)
	}
	return nil
}
