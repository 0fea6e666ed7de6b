package bridgetest

import (
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Sender plays a vendor's sender: it signs requests as that sender does, under the vendor's
// policy auth, for an instance whose public_url is PublicURL.
type Sender struct {
	Vendor string
	Auth   verify.Auth
	// Secret is what the sender signs with: the vendor's secret, or, for a scheme that verifies
	// with the sender's public key, its private key (PEM, or whsk_ for Ed25519).
	Secret string
	// PublicURL is the instance's public_url ("" when not set); the URL a URL-signing sender signs
	// is PublicURL + "/hooks/" + Vendor.
	PublicURL string
	// ContentType is the body's media type; "" means application/json.
	ContentType string
	// Header holds headers the sender sets before it signs: those a recipe's {header:Name} signs.
	Header map[string]string
}

// Signed is a signed request: the path (and query) to post it to, its headers and body.
type Signed struct {
	Path   string
	Header map[string]string
	Body   []byte
}

// Sign signs body as the sender's event id at now; query ("" for none) is the query string of
// the URL the sender was given. The path is the one the sender posts to: /hooks/{vendor}, with
// the token after it for a path-token vendor. It fails the test when the scheme cannot sign.
func (s Sender) Sign(tb testing.TB, id string, body []byte, now time.Time, query string) Signed {
	tb.Helper()
	u := vendor.VendorURL(s.PublicURL, s.Vendor)
	if u == "" {
		u = "http://hookbridge.invalid/hooks/" + s.Vendor
	}
	base := u
	if query != "" {
		u += "?" + query
	}
	ct := s.ContentType
	if ct == "" {
		ct = "application/json"
	}
	m := &verify.Message{URL: u, ContentType: ct, Body: body, ID: id, Time: now, Header: map[string]string{}}
	for k, v := range s.Header {
		m.Header[k] = v
	}
	if err := (verify.Signer{Auth: s.Auth, Secret: s.Secret}).SignMessage(m); err != nil {
		tb.Fatalf("sign as %s: %v", s.Vendor, err)
	}
	m.Header["Content-Type"] = ct
	// A path-token scheme puts its token after the vendor's URL: the path goes as signed.
	signedPath, q, hasQuery := strings.Cut(m.URL, "?")
	path := "/hooks/" + s.Vendor + strings.TrimPrefix(signedPath, base)
	if hasQuery {
		path += "?" + q
	}
	return Signed{Path: path, Header: m.Header, Body: body}
}

// Clone returns a copy of the request that can be changed without changing s.
func (s Signed) Clone() Signed {
	c := Signed{Path: s.Path, Header: map[string]string{}, Body: append([]byte(nil), s.Body...)}
	for k, v := range s.Header {
		c.Header[k] = v
	}
	return c
}
