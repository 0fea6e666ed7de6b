package verify_test

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestEliqFreshRequests signs requests the way Eliq's webhook page is transcribed by a third party,
// API Evangelist (api-evangelist/eliq asyncapi/eliq-webhooks.yml at commit
// 73397af26ea5166e5b4c133ae36cc8ce138d89a7, "transcribed from" https://developer.eliq.com/doc/webhooks,
// which could not be read): X-Eliq-Signature: t=<unix>,sha256=<hex HMAC-SHA256 of "t.body">. No
// vector is published. "A new timestamp and signature are generated for every retry": a retry
// verifies too, and no signed id comes back, so the body's id (/id) keys both as one event.
func TestEliqFreshRequests(t *testing.T) {
	const secret = "eliq-shared-secret-0123456789"
	body := `{"id":"0b6f6a4e-3e43-4f0c-9d1c-2b8d36c9c0a1","created_date":"2020-06-02T09:53:10Z","type":"notification_created","object":{"location_id":1234,"type":"budget_weekly","object":{}}}`
	v := mustVerifier(t, named(t, "eliq"), secret)
	sign := func(at time.Time) string {
		ts := strconv.FormatInt(at.Unix(), 10)
		return "t=" + ts + ",sha256=" + hex.EncodeToString(mac(sha256New, secret, ts+"."+body))
	}
	first, retry := epoch, epoch.Add(90*time.Second)
	expectOK(t, v, post("", body, first.Add(time.Second), "X-Eliq-Signature", sign(first)), "")
	expectOK(t, v, post("", body, retry.Add(time.Second), "X-Eliq-Signature", sign(retry)), "")
	expectRefused(t, v, post("", body, first.Add(6*time.Minute), "X-Eliq-Signature", sign(first)), verify.ErrTimestamp, secret)
	expectRefused(t, v, post("", body, first.Add(-6*time.Minute), "X-Eliq-Signature", sign(first)), verify.ErrTimestamp, secret)
	h := sign(first)
	expectRefused(t, v, post("", body, first, "X-Eliq-Signature", "t=1591091591"+h[12:]), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, first, "X-Eliq-Signature", h[13:]), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, first, "X-Eliq-Signature", h+",t=1"), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body+" ", first, "X-Eliq-Signature", h), verify.ErrBadSignature, secret)
	m := &verify.Message{Body: []byte(body), Time: first}
	if got := signWith(t, named(t, "eliq"), secret, m).Header.Values("X-Eliq-Signature"); len(got) != 1 || got[0] != h {
		t.Errorf("Sign = %q, want %q", got, h)
	}
}
