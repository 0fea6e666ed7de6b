package cli_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

const (
	slackSecret  = "slack-signing-secret-0123456789"
	twilioToken  = "0123456789abcdef0123456789abcdef"
	publicURL    = "https://hooks.example.test"
	slackEventTS = 1_700_000_000
)

// verifyEnv writes an options file with the senders' secrets and returns the common flags that
// point at it and at the senders' test catalog.
func verifyEnv(t *testing.T) []string {
	t.Helper()
	o := options.Defaults()
	o.PublicURL = publicURL
	for name, secret := range map[string]string{"slack": slackSecret, "twilio": twilioToken} {
		v := options.VendorDefaults()
		v.Name, v.Secrets = name, []string{"another-secret-0123456789", secret}
		o.Vendors = append(o.Vendors, v)
	}
	path := filepath.Join(t.TempDir(), "options.json")
	if err := app.WriteOptions(path, &o); err != nil {
		t.Fatal(err)
	}
	return []string{"--options", path, "--policies", bridgetest.Path(t, "testdata", "catalog", "senders", "policies"),
		"--schemas", bridgetest.Path(t, "testdata", "catalog", "senders", "schemas")}
}

// capture writes a raw request to a file: request line, headers, an empty line, the body.
func capture(t *testing.T, target string, headers []string, body string, eol string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("POST " + target + " HTTP/1.1" + eol + "Host: 127.0.0.1:8080" + eol)
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + eol)
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + eol + eol + body)
	path := filepath.Join(t.TempDir(), "request.http")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hmacMAC is the sender's MAC of msg.
func hmacMAC(h func() hash.Hash, key, msg string) []byte {
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// TestVerifyCommand runs `hookbridge verify` on captured requests: each check is printed with
// ok or FAIL, a failure says in general terms what differed, and no output ever holds a secret or
// the MAC the request should have carried.
func TestVerifyCommand(t *testing.T) {
	flags := verifyEnv(t)
	body := `{"event_id":"Ev1","event":{"type":"reaction_added"},"type":"event_callback"}`
	ts := strconv.Itoa(slackEventTS)
	slackSig := func(b string) string {
		return "v0=" + hex.EncodeToString(hmacMAC(sha256.New, slackSecret, "v0:"+ts+":"+b))
	}
	at := time.Unix(slackEventTS, 0).UTC()
	twilioBody := `{"MessageSid":"SM1","MessageStatus":"delivered"}`
	sum := sha256.Sum256([]byte(twilioBody))
	twilioQuery := "bodySHA256=" + hex.EncodeToString(sum[:])
	twilioSig := func(base string) string {
		return base64.StdEncoding.EncodeToString(hmacMAC(sha1.New, twilioToken, base+"/hooks/twilio?"+twilioQuery))
	}

	tests := []struct {
		name     string
		vendor   string
		file     string
		at       time.Time
		code     int
		want     []string // lines the output holds
		expected []byte   // the MAC the request should have carried, which must not be printed
	}{
		{"slack verifies", "slack", capture(t, "/hooks/slack", []string{"Content-Type", "application/json",
			"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(body)}, body, "\r\n"), at.Add(3 * time.Second), 0,
			[]string{"ok    signature", "matches secrets[1]", "ok    timestamp window", "result: verifies"}, nil},
		{"LF line endings and an editor's final newline", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts,
			"X-Slack-Signature", slackSig(body)}, body, "\n") + "", at, 0, []string{"result: verifies"}, nil},
		{"too late", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(body)}, body, "\r\n"),
			at.Add(10 * time.Minute), 1, []string{"ok    signature", "FAIL  timestamp window", "timestamp 600s in the past", "result: refused"}, nil},
		{"too early", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(body)}, body, "\r\n"),
			at.Add(-412 * time.Second), 1, []string{"timestamp 412s in the future"}, nil},
		{"missing signature header", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts}, body, "\r\n"), at, 1,
			[]string{"FAIL  signature header X-Slack-Signature", "missing X-Slack-Signature header"}, nil},
		{"changed body", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(body)},
			strings.Replace(body, "Ev1", "Ev2", 1), "\r\n"), at, 1,
			[]string{"FAIL  signature", "no signature in X-Slack-Signature matches"},
			hmacMAC(sha256.New, slackSecret, "v0:"+ts+":"+strings.Replace(body, "Ev1", "Ev2", 1))},
		{"wrong prefix", "slack", capture(t, "/hooks/slack", []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v1=" + slackSig(body)[3:]}, body, "\r\n"), at, 1,
			[]string{"FAIL  signature format", `does not start with "v0="`}, nil},
		{"twilio verifies with public_url", "twilio", capture(t, "/hooks/twilio?"+twilioQuery, []string{"Content-Type", "application/json",
			"X-Twilio-Signature", twilioSig(publicURL)}, twilioBody, "\r\n"), at, 0,
			[]string{"..    public_url", publicURL, "ok    URL", "signed as " + publicURL + "/hooks/twilio?" + twilioQuery, "result: verifies"}, nil},
		{"twilio was given another URL", "twilio", capture(t, "/hooks/twilio?"+twilioQuery, []string{"Content-Type", "application/json",
			"X-Twilio-Signature", twilioSig("http://hooks.example.test")}, twilioBody, "\r\n"), at, 1,
			[]string{"FAIL  signature", "..    URL probe", "matches the URL http://hooks.example.test/hooks/twilio?" + twilioQuery},
			hmacMAC(sha1.New, twilioToken, publicURL+"/hooks/twilio?"+twilioQuery)},
		{"twilio body not matching bodySHA256", "twilio", capture(t, "/hooks/twilio?"+twilioQuery, []string{"X-Twilio-Signature", twilioSig(publicURL)},
			twilioBody+" ", "\r\n"), at, 1, []string{"FAIL  signed string", "the body does not match the bodySHA256"}, nil},
		{"another endpoint", "slack", capture(t, "/hooks/twilio", []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(body)}, body, "\r\n"), at, 1,
			[]string{"FAIL  path", "not under /hooks/slack"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"verify", tt.vendor, tt.file, "--at", tt.at.Format(time.RFC3339)}, flags...)
			code, out, errOut := bridgetest.RunCLI(t, args...)
			if code != tt.code {
				t.Fatalf("verify exit = %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("verify output lacks %q:\n%s", w, out)
				}
			}
			all := out + errOut
			for _, secret := range []string{slackSecret, twilioToken, "another-secret-0123456789"} {
				if strings.Contains(all, secret) {
					t.Errorf("verify output holds a secret:\n%s", all)
				}
			}
			if tt.expected != nil {
				for _, enc := range []string{hex.EncodeToString(tt.expected), base64.StdEncoding.EncodeToString(tt.expected), hex.EncodeToString(tt.expected)[:16]} {
					if strings.Contains(strings.ToLower(all), strings.ToLower(enc)) {
						t.Errorf("verify output holds the expected MAC %s:\n%s", enc, all)
					}
				}
			}
		})
	}
}

func TestVerifyCommandUsage(t *testing.T) {
	flags := verifyEnv(t)
	file := capture(t, "/hooks/slack", nil, "{}", "\r\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{append([]string{"verify", "slack", file, "--at", "yesterday"}, flags...), 2, "not an RFC 3339 time"},
		{append([]string{"verify", "slack"}, flags...), 2, "Usage:"},
		{append([]string{"verify", "nobody", file}, flags...), 1, `no policy for vendor "nobody"`},
		{append([]string{"verify", "slack", filepath.Join(t.TempDir(), "missing")}, flags...), 1, "no such file"},
	} {
		code, out, errOut := bridgetest.RunCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v = %d %q, want %d with %q", tc.args[:3], code, out+errOut, tc.code, tc.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "not-http")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := bridgetest.RunCLI(t, append([]string{"verify", "slack", bad}, flags...)...)
	if code != 1 || !strings.Contains(out, "FAIL  captured request") {
		t.Errorf("verify(not HTTP) = %d %q, want 1 with FAIL captured request", code, out)
	}
}
