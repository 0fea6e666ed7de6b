package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// adminRequest sends a request with no body to the admin listener of a server running with these
// flags. An error means no server answered. wait bounds the whole exchange, headerWait (when not
// zero) the wait for the answer's headers.
func adminRequest(ctx context.Context, f *flags, method, path string, wait, headerWait time.Duration) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: dialable(f.adminAddr), Path: path}
	if p, q, ok := strings.Cut(path, "?"); ok {
		u.Path, u.RawQuery = p, q
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	return (&http.Client{Timeout: wait, Transport: &http.Transport{
		Proxy:                 nil, // the admin listener is local; never go through a proxy
		ResponseHeaderTimeout: headerWait,
	}}).Do(req)
}

// adminGet sends a GET to the admin listener of a server running with these flags. An error means
// no server answered.
func adminGet(ctx context.Context, f *flags, path string) (*http.Response, error) {
	return adminRequest(ctx, f, http.MethodGet, path, 30*time.Second, 10*time.Second)
}

// fromServer asks a running server's admin API for path and decodes its JSON answer into v. It
// reports false when the command should work offline instead: no server answered, or it answered
// with another status than 200 (a line on stderr says so). cmd names the command in that line.
func fromServer(ctx context.Context, e *env, f *flags, cmd, path string, v any) (bool, error) {
	resp, err := adminGet(ctx, f, path)
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.stderr, "hookbridge %s: admin API answered %s; reading the files instead\n", cmd, resp.Status)
		return false, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return false, fmt.Errorf("admin API: %w", err)
	}
	return true, nil
}

// apiError returns the message of an admin API answer that is an error, {"error": "..."}; empty
// when r holds none.
func apiError(r io.Reader) string {
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(r).Decode(&body)
	return body.Error
}
