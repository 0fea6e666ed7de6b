package verify_test

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestStripeFreshRequests signs Stripe-Signature headers as Stripe's docs describe them
// (https://docs.stripe.com/webhooks, "Verify events are sent from Stripe"; stripe-go
// webhook/client.go ComputeSignature at commit 0d4b3764). Stripe publishes no vector with its
// secret and body (TestVectorsStripe runs the repository's computed one). During a secret roll
// Stripe sends one v1 per active secret; test mode adds a v0, which is ignored. Retries get a new
// t and signature, and nothing but the body's id identifies the event.
func TestStripeFreshRequests(t *testing.T) {
	const secret, old = "whsec_test_0123456789abcdefghij", "whsec_old_0123456789abcdefghijk"
	body := `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"setup_intent.created"}`
	v := mustVerifier(t, named(t, "stripe"), secret)
	sig := func(key string, at time.Time) string {
		ts := strconv.FormatInt(at.Unix(), 10)
		return hex.EncodeToString(mac(sha256New, key, ts+"."+body))
	}
	ts := strconv.FormatInt(epoch.Unix(), 10)
	good := "t=" + ts + ",v1=" + sig(secret, epoch)
	expectOK(t, v, post("", body, epoch, "Stripe-Signature", good), "")
	expectOK(t, v, post("", body, epoch, "Stripe-Signature", "t="+ts+",v1="+sig(old, epoch)+",v1="+sig(secret, epoch)+",v0="+sig("x", epoch)), "")
	retry := epoch.Add(3 * time.Minute)
	expectOK(t, v, post("", body, retry, "Stripe-Signature", "t="+strconv.FormatInt(retry.Unix(), 10)+",v1="+sig(secret, retry)), "")
	expectRefused(t, v, post("", body, epoch.Add(6*time.Minute), "Stripe-Signature", good), verify.ErrTimestamp, secret)
	expectRefused(t, v, post("", body, epoch, "Stripe-Signature", "t="+ts+",v0="+sig(secret, epoch)), verify.ErrBadSignature, secret)
	expectRefused(t, v, post("", body, epoch, "Stripe-Signature", strings.Replace(good, "t="+ts, "t="+strconv.FormatInt(epoch.Unix()+1, 10), 1)), verify.ErrBadSignature, secret)
	// Stripe's key is the whole whsec_ text: the Standard Webhooks reading (base64 after whsec_)
	// must not verify.
	swKey, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	const swSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	m := macKey(sha256New, swKey, ts+"."+body)
	expectRefused(t, mustVerifier(t, named(t, "stripe"), swSecret), post("", body, epoch, "Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(m)), verify.ErrBadSignature, swSecret)
}
