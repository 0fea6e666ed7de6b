package verify_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

const (
	token1 = "tok-0123456789abcdef0123"
	token2 = "tok.second_9876543210~zz"
)

func TestPathTokenScheme(t *testing.T) {
	a, err := verify.CompileAuth("path-token", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a.ReadsPath() || a.SignsTimestamp() || a.SignsID() || a.SignsURL() {
		t.Fatalf("path-token traits wrong: reads path %v", a.ReadsPath())
	}
	v := mustNew(t, a, token1, token2)
	tests := []struct {
		name string
		rest string
		ok   bool
	}{
		{"first token", token1, true},
		{"second token (rotation)", token2, true},
		{"missing", "", false},
		{"other case", strings.ToUpper(token1), false},
		{"prefix", token1[:len(token1)-1], false},
		{"suffix", token1 + "0", false},
		{"trailing slash", token1 + "/", false},
		{"two segments", token1 + "/" + token2, false},
		{"encoded", strings.Replace(token1, "-", "%2D", 1), false},
		{"another vendor's", "tok-other-vendor-0123456789", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A token anywhere but the path counts for nothing.
			h := http.Header{}
			h.Set("Authorization", "Bearer "+token1)
			h.Set("X-Token", token1)
			_, err := v.Verify(&verify.Request{Method: http.MethodPost, Header: h, Body: body, Rest: tt.rest,
				Query: "token=" + token1, Now: epoch})
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(rest %q) = %v, want ok=%v", tt.rest, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, verify.ErrBadSignature) {
					t.Errorf("Verify(rest %q) = %v, want ErrBadSignature", tt.rest, err)
				}
				for _, s := range []string{token1, token2, tt.rest} {
					if s != "" && strings.Contains(err.Error(), s) {
						t.Errorf("Verify(rest %q) error %q holds a token", tt.rest, err)
					}
				}
			}
		})
	}
}

func TestPathTokenSecrets(t *testing.T) {
	a, _ := verify.CompileAuth("path-token", 0, nil)
	tests := []secretCase{
		{token1, true},
		{token2, true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"0123456789abcde", false}, // 15 characters
		{"0123456789abcdef/x", false},
		{"0123456789abcdef%2F", false},
		{"0123456789abcdef x", false},
		{"0123456789abcdef?x", false},
		{"0123456789abcdef#x", false},
		{"0123456789abcdéf", false},
		{strings.Repeat(".", 16), false},
	}
	checkSecrets(t, a, tests)
	s, err := a.NewSecret()
	if err != nil || a.CheckSecret(s) != nil || !verify.PathTokenChars(s) {
		t.Errorf("NewSecret() = %q, %v, want a token CheckSecret takes", s, err)
	}
}

func TestPathTokenSign(t *testing.T) {
	a, _ := verify.CompileAuth("path-token", 0, nil)
	tests := []struct{ url, want string }{
		{"https://hooks.example.net/hooks/withings", "https://hooks.example.net/hooks/withings/" + token1},
		{"https://hooks.example.net/hooks/withings/", "https://hooks.example.net/hooks/withings/" + token1},
		{"http://h/hooks/ecowitt?PASSKEY=x&a=b", "http://h/hooks/ecowitt/" + token1 + "?PASSKEY=x&a=b"},
	}
	for _, tt := range tests {
		m := &verify.Message{URL: tt.url, Body: body}
		if err := (verify.Signer{Auth: a, Secret: token1}).SignMessage(m); err != nil {
			t.Fatal(err)
		}
		if m.URL != tt.want || len(m.Header) != 0 {
			t.Errorf("Sign(%s) = URL %s, headers %v, want %s and no header", tt.url, m.URL, m.Header, tt.want)
		}
	}
	err := (verify.Signer{Auth: a, Secret: token1}).SignMessage(&verify.Message{Body: body})
	if !errors.Is(err, verify.ErrCannotSign) {
		t.Errorf("Sign(no URL) = %v, want ErrCannotSign", err)
	}
}

func TestReadsPath(t *testing.T) {
	for _, name := range verify.Schemes() {
		a, err := verify.CompileAuth(name, 0, nil)
		if err != nil {
			continue // needs parameters
		}
		if got, want := a.ReadsPath(), name == "path-token"; got != want {
			t.Errorf("ReadsPath(%s) = %v, want %v", name, got, want)
		}
	}
}
