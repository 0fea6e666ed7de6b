package verify_test

import (
	"errors"
	"go/scanner"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestNoSchemeNamedElsewhere checks that the registry is the one place that knows the schemes:
// no Go file outside bridge/verify (tests aside) holds a scheme's name as a string literal.
func TestNoSchemeNamedElsewhere(t *testing.T) {
	names := map[string]bool{}
	for _, n := range verify.Schemes() {
		names[strconv.Quote(n)] = true
	}
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root || path == filepath.Join(root, "bridge", "verify") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(path, -1, len(src)), src, nil, 0)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.STRING && names[lit] {
				t.Errorf("%s names the scheme %s: ask the registry (bridge/verify) instead", fset.Position(pos), lit)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRegisterRefusesMistakes(t *testing.T) {
	tests := []struct {
		name string
		s    verify.Scheme
	}{
		{"no name", verify.Scheme{Compile: func(any) (verify.Method, []verify.KeyProblem) { return nil, nil }}},
		{"no compiler", verify.Scheme{Name: "x-test-no-compiler"}},
		{"twice", verify.Scheme{Name: "github", Compile: func(any) (verify.Method, []verify.KeyProblem) { return nil, nil }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", tt.name)
				}
			}()
			verify.Register(tt.s)
		})
	}
}

// TestDecodeAuth checks decoding with line numbers: every problem on the line of the key at fault.
func TestDecodeAuth(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		line  int    // of the first problem; 0 = no problem
		text  string // in the first problem
		check func(t *testing.T, a verify.Auth)
	}{
		{"github", "scheme: github\n", 0, "", func(t *testing.T, a verify.Auth) {
			if a.Tolerance != 0 || a.SignsTimestamp() || a.SignsID() || a.SignsURL() {
				t.Errorf("github = %+v, want no tolerance, signs nothing but the body", a)
			}
		}},
		{"standard-webhooks default tolerance", "scheme: standard-webhooks\n", 0, "", func(t *testing.T, a verify.Auth) {
			if a.Tolerance != verify.DefaultTolerance || !a.SignsTimestamp() || !a.SignsID() {
				t.Errorf("standard-webhooks = %+v, want 5m, signs a timestamp and an id", a)
			}
		}},
		{"hmac defaults", "scheme: hmac-sha256\n", 0, "", func(t *testing.T, a verify.Auth) {
			if p, ok := a.Params.(*verify.HMACParams); !ok || *p != (verify.HMACParams{Header: "X-Signature", Encoding: "hex"}) {
				t.Errorf("hmac-sha256 params = %+v, want defaults filled", a.Params)
			}
		}},
		{"id_header kept", "scheme: bearer\nid_header: X-Id\n", 0, "", func(t *testing.T, a verify.Auth) {
			if a.IDHeader != "X-Id" {
				t.Errorf("IDHeader = %q, want X-Id", a.IDHeader)
			}
		}},
		{"empty", "", 0, "auth.scheme is required", nil},
		{"not a mapping", "[github]\n", 1, "auth must be a mapping", nil},
		{"scheme not a string", "scheme: [github]\n", 1, "auth.scheme must be a string", nil},
		{"unknown scheme", "tolerance: 5m\nscheme: md5\n", 2, `auth.scheme "md5" is not one of`, nil},
		{"unknown key", "scheme: github\n\nsecret: x\n", 3, `unknown key "secret" in auth`, nil},
		{"unknown key of a scheme with keys", "scheme: bearer\nheader: X-T\nprefix: y\n", 3, `unknown key "prefix" in auth (known: header)`, nil},
		{"wrong type", "scheme: bearer\nheader: {a: b}\n", 2, "auth.header: cannot unmarshal", nil},
		{"repeated", "scheme: github\nscheme: stripe\n", 2, "auth.scheme is given twice", nil},
		{"bad tolerance", "scheme: stripe\ntolerance: soon\n", 2, "not a duration", nil},
		{"tolerance too long", "scheme: stripe\ntolerance: 25h\n", 2, "at most 24h", nil},
		{"tolerance without timestamp", "scheme: github\ntolerance: 1m\n", 2, "signs no timestamp", nil},
		{"bad header", "scheme: hmac-sha256\n\nheader: \"a b\"\n", 3, "auth.header: must be an HTTP header name", nil},
		{"prefix with a control character", "scheme: hmac-sha256\nprefix: \"a\\nb\"\n", 2, "auth.prefix: must be printable", nil},
		{"alias", "x: &h X-T\nscheme: bearer\n", 1, `unknown key "x"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var root yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &root); err != nil {
				t.Fatal(err)
			}
			var n *yaml.Node
			if len(root.Content) > 0 {
				n = root.Content[0]
			}
			a, problems := verify.DecodeAuth(n)
			if tt.text == "" {
				if len(problems) > 0 {
					t.Fatalf("DecodeAuth(%q) = %v, want no problem", tt.yaml, problems)
				}
				tt.check(t, a)
				return
			}
			if len(problems) == 0 || problems[0].Line != tt.line || !strings.Contains(problems[0].Message, tt.text) {
				t.Fatalf("DecodeAuth(%q) = %+v, want first problem on line %d with %q", tt.yaml, problems, tt.line, tt.text)
			}
		})
	}
}

// TestEverySchemeRoundTrip checks each registered scheme with its default parameters: a fresh
// secret is in its own format, what its signer signs its verifier accepts, and a changed body
// is refused. A scheme that needs parameters (recipe) or whose secret only the sender makes
// is tested in its own file.
func TestEverySchemeRoundTrip(t *testing.T) {
	for _, name := range verify.Schemes() {
		t.Run(name, func(t *testing.T) {
			sc, ok := verify.Lookup(name)
			if !ok || sc.Summary == "" {
				t.Fatalf("Lookup(%s) = %+v, %v, want a scheme with a summary", name, sc, ok)
			}
			a, err := verify.CompileAuth(name, 0, nil)
			if err != nil {
				t.Skipf("needs parameters: %v", err)
			}
			secret, err := a.NewSecret()
			if errors.Is(err, verify.ErrCannotGenerate) {
				t.Skip("the sender makes the secret")
			}
			if err != nil {
				t.Fatalf("NewSecret = %v", err)
			}
			if err := a.CheckSecret(secret); err != nil {
				t.Fatalf("CheckSecret(NewSecret()) = %v, want nil", err)
			}
			v, err := verify.New(a, []string{secret})
			if err != nil {
				t.Fatal(err)
			}
			req := signedRequest(t, a, secret)
			if _, err := v.Verify(req); err != nil {
				t.Fatalf("Verify(signed) = %v, want nil", err)
			}
			req.Body = []byte(strings.Replace(string(body), "front", "back", 1))
			signsNothing := map[string]bool{"bearer": true, "basic": true, "path-token": true} // credentials, not signatures
			if _, err := v.Verify(req); err == nil && !signsNothing[name] {
				t.Errorf("Verify(changed body) = nil, want an error")
			}
		})
	}
}

// TestResultKey checks, for each registered scheme that makes its own secrets, that a verifier
// built with three secrets says which one verified a request: the place of the secret it was
// signed with, whichever that is.
func TestResultKey(t *testing.T) {
	for _, name := range verify.Schemes() {
		t.Run(name, func(t *testing.T) {
			a, err := verify.CompileAuth(name, 0, nil)
			if err != nil {
				t.Skipf("needs parameters: %v", err)
			}
			var secrets []string
			for range 3 {
				s, err := a.NewSecret()
				if errors.Is(err, verify.ErrCannotGenerate) {
					t.Skip("the sender makes the secret")
				}
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, s)
			}
			v, err := verify.New(a, secrets)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []int{2, 0, 1} {
				secret := secrets[want]
				res, err := v.Verify(signedRequest(t, a, secret))
				if err != nil || res.Key != want {
					t.Errorf("Verify(signed with secrets[%d]) = %+v, %v, want Key %d", want, res, err, want)
				}
			}
		})
	}
}

// signedRequest signs body with secret as the sender of a's scheme would, for the URL
// https://hooks.example.net/hooks/x, and returns the request as it arrives a second later: the
// headers the signer set, and the path after /hooks/x/ as its rest (a path token is in the URL
// the signer gives the sender).
func signedRequest(t *testing.T, a verify.Auth, secret string) *verify.Request {
	t.Helper()
	m := &verify.Message{URL: "https://hooks.example.net/hooks/x", Body: body, ID: "evt_1", Time: epoch}
	if err := (verify.Signer{Auth: a, Secret: secret}).SignMessage(m); err != nil {
		t.Fatalf("SignMessage = %v", err)
	}
	h := http.Header{}
	for k, val := range m.Header {
		h.Set(k, val)
	}
	path, _, _ := strings.Cut(m.URL, "?")
	rest := strings.TrimPrefix(strings.TrimPrefix(path, "https://hooks.example.net/hooks/x"), "/")
	return &verify.Request{Method: "POST", Header: h, Body: body, URL: m.URL, Rest: rest, Now: epoch.Add(time.Second)}
}

// secretCase is a secret and whether a scheme's CheckSecret takes it.
type secretCase struct {
	secret string
	ok     bool
}

// checkSecrets checks a's CheckSecret against each case, and that no refusal repeats the secret.
func checkSecrets(t *testing.T, a verify.Auth, cases []secretCase) {
	t.Helper()
	for _, tt := range cases {
		err := a.CheckSecret(tt.secret)
		if (err == nil) != tt.ok {
			t.Errorf("CheckSecret(%q) = %v, want ok=%v", tt.secret, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), tt.secret) {
			t.Errorf("CheckSecret(%q) error %q holds the secret", tt.secret, err)
		}
	}
}
