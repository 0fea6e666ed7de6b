package verify_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// basicAuth is an Authorization value for user and password.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestBasicScheme(t *testing.T) {
	a, err := verify.CompileAuth("basic", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.SignsTimestamp() || a.SignsID() || a.SignsURL() || a.ReadsPath() {
		t.Fatalf("basic signs or reads something: %+v", a)
	}
	v := mustNew(t, a, plain1, plain2)
	// OwnTracks puts the user's name in the user name: a canary that must appear in no error.
	const person = "Jane Q. Canary-Doe"
	huge := strings.Repeat("u", 30<<10)
	tests := []struct {
		name   string
		values []string // Authorization headers; none = missing
		ok     bool
	}{
		{"person's name", []string{basicAuth(person, plain1)}, true},
		{"second secret (rotation)", []string{basicAuth(person, plain2)}, true},
		{"empty user name", []string{basicAuth("", plain1)}, true},
		{"unicode user name", []string{basicAuth("Zoë Ünïcödé", plain1)}, true},
		{"huge user name", []string{basicAuth(huge, plain1)}, true},
		{"lower-case scheme", []string{"basic " + base64.StdEncoding.EncodeToString([]byte(person+":"+plain1))}, true},
		{"unpadded", []string{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("ab:"+plain1))}, true},
		{"wrong password", []string{basicAuth(person, plainOth)}, false},
		{"password with a colon", []string{basicAuth(person+":x", plain1)}, false},
		{"user name as password", []string{basicAuth(plain1, person)}, false},
		{"password prefix", []string{basicAuth(person, plain1[:len(plain1)-1])}, false},
		{"password suffix", []string{basicAuth(person, plain1+"x")}, false},
		{"upper-cased password", []string{basicAuth(person, strings.ToUpper(plain1))}, false},
		{"no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(plain1))}, false},
		{"not base64", []string{"Basic " + person + ":" + plain1}, false},
		{"url-safe base64", []string{"Basic " + base64.URLEncoding.EncodeToString([]byte("\xfb\xff:"+plain1))}, false},
		{"bearer instead", []string{"Bearer " + plain1}, false},
		{"no credentials", []string{"Basic"}, false},
		{"empty", []string{""}, false},
		{"missing", nil, false},
		{"repeated", []string{basicAuth(person, plain1), basicAuth(person, plain1)}, false},
		{"huge user name, wrong password", []string{basicAuth(huge, plainOth)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, val := range tt.values {
				h.Add("Authorization", val)
			}
			_, err := verifyAt(v, h, nil, epoch)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%s) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, verify.ErrBadSignature) {
				t.Errorf("Verify(%s) = %v, want ErrBadSignature", tt.name, err)
			}
			for _, secret := range []string{person, plain1, plain2, plainOth, "Zoë", "uuuuuuuu"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Verify(%s) error %q holds %q", tt.name, err, secret)
				}
			}
		})
	}
}

// TestBasicChallenge checks that a basic verifier says what a 401 must carry, so that a sender
// that waits for a challenge (Twilio) sends its credentials.
func TestBasicChallenge(t *testing.T) {
	a, _ := verify.CompileAuth("basic", 0, nil)
	v := mustNew(t, a, plain1)
	c, ok := v.(interface{ Challenge() string })
	if !ok {
		t.Fatalf("basic verifier %T has no Challenge", v)
	}
	if got, want := c.Challenge(), `Basic realm="hookbridge", charset="UTF-8"`; got != want {
		t.Errorf("Challenge() = %q, want %q", got, want)
	}
	b, _ := verify.CompileAuth("bearer", 0, nil)
	if _, ok := mustNew(t, b, plain1).(interface{ Challenge() string }); ok {
		t.Errorf("bearer verifier has a Challenge; only basic asks for credentials")
	}
}

func TestBasicSecrets(t *testing.T) {
	a, _ := verify.CompileAuth("basic", 0, nil)
	tests := []secretCase{
		{plain1, true},
		{"with:colon-and spaces-0123", true},
		{"0123456789abcde", false}, // 15 characters
		{"0123456789abcdef\x00", false},
		{"0123456789abcdef\n", false},
	}
	checkSecrets(t, a, tests)
	s, err := a.NewSecret()
	if err != nil || a.CheckSecret(s) != nil {
		t.Errorf("NewSecret() = %q, %v, want a secret CheckSecret takes", s, err)
	}
}

func TestBasicSign(t *testing.T) {
	a, _ := verify.CompileAuth("basic", 0, nil)
	m := &verify.Message{Body: body}
	if err := (verify.Signer{Auth: a, Secret: plain1}).SignMessage(m); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Header["Authorization"], basicAuth("hookbridge", plain1); got != want {
		t.Errorf("Sign = Authorization %q, want %q", got, want)
	}
}
