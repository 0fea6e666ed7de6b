package verify_test

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Slack's worked example, from "Verifying requests from Slack",
// https://docs.slack.dev/authentication/verifying-requests-from-slack (formerly
// api.slack.com/authentication/verifying-requests-from-slack): a slash command's form body.
const (
	slackSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTimestamp = "1531420618"
	slackBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSlackPublishedVector(t *testing.T) {
	a := named(t, "slack")
	v := mustVerifier(t, a, slackSecret)
	at := mustUnix(t, slackTimestamp)
	req := func(now time.Time, sig string) *verify.Request {
		return post("", slackBody, now, "X-Slack-Request-Timestamp", slackTimestamp, "X-Slack-Signature", sig)
	}
	expectOK(t, v, req(at.Add(10*time.Second), slackSignature), "") // nothing but the body identifies it
	expectOK(t, v, req(at.Add(-5*time.Minute), slackSignature), "")
	expectRefused(t, v, req(at.Add(5*time.Minute+time.Second), slackSignature), verify.ErrTimestamp, slackSecret)
	expectRefused(t, v, req(at.Add(-5*time.Minute-time.Second), slackSignature), verify.ErrTimestamp, slackSecret)
	r := req(at, slackSignature)
	r.Body[len(r.Body)-1] ^= 1
	expectRefused(t, v, r, verify.ErrBadSignature, slackSecret)
	// The signer makes the same header from the same inputs.
	m := &verify.Message{Body: []byte(slackBody), Time: at}
	if got := signWith(t, a, slackSecret, m).Header.Values("X-Slack-Signature"); len(got) != 1 || got[0] != slackSignature {
		t.Errorf("Sign(Slack's example) = %q, want %q", got, slackSignature)
	}
}

// TestSlackFreshRequest signs an Events API body the way Slack documents it, and a retry of it
// re-signed with a later timestamp: both verify, and neither yields a signed id, so the replay
// key is the body's (its event_id at event.id, else its digest) and the retry stays a duplicate.
func TestSlackFreshRequest(t *testing.T) {
	const secret = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
	body := `{"token":"z26uFbvR1xHJEdHE1OQiO6t8","team_id":"T123ABC456","event":{"type":"reaction_added"},"type":"event_callback","event_id":"Ev123ABC456","event_time":1234567890}`
	v := mustVerifier(t, named(t, "slack"), secret)
	for _, at := range []time.Time{epoch, epoch.Add(time.Minute), epoch.Add(5 * time.Minute)} {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig := "v0=" + hex.EncodeToString(mac(sha256New, secret, "v0:"+ts+":"+body))
		expectOK(t, v, post("", body, at.Add(2*time.Second), "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", sig), "")
		expectRefused(t, v, post("", body, at, "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", sig[:len(sig)-2]+"00"),
			verify.ErrBadSignature, secret)
		expectRefused(t, v, post("", body, at, "X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix()+1, 10), "X-Slack-Signature", sig),
			verify.ErrBadSignature, secret)
		expectRefused(t, v, post("", body, at, "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v1="+sig[3:]),
			verify.ErrBadSignature, secret)
		expectRefused(t, v, post("", body, at, "X-Slack-Signature", sig), verify.ErrBadSignature, secret)
	}
	if _, err := named(t, "slack").NewSecret(); err == nil {
		t.Errorf("NewSecret(slack) = nil error, want ErrCannotGenerate: Slack issues the signing secret")
	}
}
