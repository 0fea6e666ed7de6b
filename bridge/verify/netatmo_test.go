package verify_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestNetatmoFreshRequests checks Netatmo's signature as its own PHP SDK checks it
// (Netatmo/Netatmo-API-PHP, Examples/Webhook_Server_Example.php:
// hash_hmac("sha256", $jsonData, $client_secret) against the X-Netatmo-secret header). Netatmo
// publishes no vector; the body below is Home Assistant's test capture of a webhook_activation
// push (home-assistant/core tests/components/netatmo/test_webhook.py, commit 106a259b), and its
// signature under the key "example-client-secret" was computed with that algorithm.
func TestNetatmoFreshRequests(t *testing.T) {
	const key = "example-client-secret"
	body := `{"user_id": "123", "user": {"id": "123", "email": "foo@bar.com"},"push_type": "webhook_activation"}`
	const sig = "b14451c8e903945acc05298dd0bdff427e11718cde42d166a45e11158a5fb373"
	if got := hex.EncodeToString(mac(sha256New, key, body)); got != sig {
		t.Fatalf("the SDK's algorithm gives %s, want the recorded %s", got, sig)
	}
	v := mustVerifier(t, named(t, "netatmo"), key)
	expectOK(t, v, post("", body, epoch, "X-Netatmo-secret", sig), "")
	expectOK(t, v, post("", body, epoch, "X-Netatmo-secret", strings.ToUpper(sig)), "")
	expectRefused(t, v, post("", strings.Replace(body, "123", "124", 1), epoch, "X-Netatmo-secret", sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post("", body, epoch, "X-Netatmo-secret", "sha256="+sig), verify.ErrBadSignature, key)
	expectRefused(t, v, post("", body, epoch), verify.ErrBadSignature, key)
}
