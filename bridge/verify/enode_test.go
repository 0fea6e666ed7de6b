package verify_test

import (
	"encoding/hex"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestEnodePublishedVector runs the example of Enode's "Webhooks" page,
// https://developers.enode.com/docs/webhooks ("Verifying a payload signature"): "A delivery of
// {"payload":"example"} signed with example-secret would have an x-enode-signature of
// sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d".
func TestEnodePublishedVector(t *testing.T) {
	a := named(t, "enode")
	v := vectorVerifier(t, a, "example-secret")
	const sig = "sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d"
	expectOK(t, v, post("", `{"payload":"example"}`, epoch, "X-Enode-Signature", sig), "")
	expectRefused(t, v, post("", `{"payload":"example"} `, epoch, "X-Enode-Signature", sig), verify.ErrBadSignature, "example-secret")
	expectRefused(t, v, post("", `{"payload":"example"}`, epoch, "X-Enode-Signature", sig[5:]), verify.ErrBadSignature, "example-secret")
	expectRefused(t, v, post("", `{"payload":"example"}`, epoch, "X-Enode-Signature", "sha256="+sig[5:]), verify.ErrBadSignature, "example-secret")
	m := &verify.Message{Body: []byte(`{"payload":"example"}`), Time: epoch}
	if got := signWith(t, a, "example-secret", m).Header.Values("X-Enode-Signature"); len(got) != 1 || got[0] != sig {
		t.Errorf("Sign(Enode's example) = %q, want %q", got, sig)
	}
}

// TestEnodeFreshRequest signs an array of events (Enode's body shape) with a secret as Enode's
// page asks users to make one (crypto.randomBytes(32).toString("hex"): its text is the key).
func TestEnodeFreshRequest(t *testing.T) {
	secret := "7d2c1f0e9b8a79685746352413021f0e9d8c7b6a59483726150f1e2d3c4b5a69"
	body := `[{"event":"user:vehicle:updated","createdAt":"2020-04-07T17:04:26Z"},{"event":"system:heartbeat","createdAt":"2020-04-07T17:04:27Z"}]`
	sig := "sha1=" + hex.EncodeToString(mac(sha1New, secret, body))
	v := mustVerifier(t, named(t, "enode"), secret)
	expectOK(t, v, post("", body, epoch, "X-Enode-Signature", sig, "X-Enode-Delivery", "d1"), "")
	expectOK(t, v, post("", body, epoch, "x-enode-signature", sig, "X-Enode-Delivery", "d2"), "") // the delivery id is not signed
	expectRefused(t, v, post("", body[:len(body)-1]+",{}]", epoch, "X-Enode-Signature", sig), verify.ErrBadSignature, secret)
	if s, err := named(t, "enode").NewSecret(); err != nil || len(s) < 32 {
		t.Errorf("NewSecret(enode) = %q, %v, want a fresh secret for the user to give Enode", s, err)
	}
}
