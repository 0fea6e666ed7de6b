package verify_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The message of the Standard Webhooks library vectors (libraries/go/webhook_test.go in
// standard-webhooks/standard-webhooks), which the v1a pull requests reuse.
const (
	swMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swMsgTS   = "1614265330"
	swMsgBody = `{"test": 2432232314}`
)

// TestStandardWebhooksV1a runs the only published v1a (Ed25519) vectors, from pull requests not
// yet merged into standard-webhooks/standard-webhooks (the spec, spec/standard-webhooks.md at
// b2fa7b87, defines v1a, whsk_ and whpk_ but prints no vector with its key):
//   - PR #253 (Go, libraries/go/webhook_asymmetric_test.go, commit f50a00ae): whsk_ seed
//     "TESTSIGNINGKEYDONOTUSETHISFORANY";
//   - PR #308 (JavaScript tests, commit 659f6742): a seed of 32 bytes of 0x01.
//
// The whpk_ keys are those seeds' public keys (derived here). Ed25519 is deterministic, so the
// signer must reproduce each signature byte for byte.
func TestStandardWebhooksV1a(t *testing.T) {
	seed253, _ := base64.StdEncoding.DecodeString("VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=")
	seed308 := make([]byte, 32)
	for i := range seed308 {
		seed308[i] = 1
	}
	tests := []struct {
		name string
		seed []byte
		whpk string
		sig  string
	}{
		{"PR 253", seed253, "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=",
			"v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="},
		{"PR 308", seed308, "whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=",
			"v1a,Ykcu7AtGZGmZxFEH1Gaa2Nd7feY/CTuruoL4fqgnKwfbHU4DhemoVHZdvGfIvKvn4BIgwktLGGPGIr/i9nK7AA=="},
	}
	a := named(t, "standard-webhooks")
	at := mustUnix(t, swMsgTS)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := ed25519.NewKeyFromSeed(tt.seed).Public().(ed25519.PublicKey)
			if got := "whpk_" + base64.StdEncoding.EncodeToString(pub); got != tt.whpk {
				t.Fatalf("public key of the seed = %s, want %s", got, tt.whpk)
			}
			v := mustVerifier(t, a, tt.whpk)
			req := func(sig string, now time.Time) *verify.Request {
				return post("", swMsgBody, now, "Webhook-Id", swMsgID, "Webhook-Timestamp", swMsgTS, "Webhook-Signature", sig)
			}
			expectOK(t, v, req(tt.sig, at), swMsgID) // the signed webhook-id keys replays
			expectOK(t, v, req("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "+tt.sig, at), swMsgID)
			expectRefused(t, v, req(tt.sig, at.Add(6*time.Minute)), verify.ErrTimestamp)
			expectRefused(t, v, req("v1"+tt.sig[3:], at), verify.ErrBadSignature)
			bad := post("", swMsgBody+" ", at, "Webhook-Id", swMsgID, "Webhook-Timestamp", swMsgTS, "Webhook-Signature", tt.sig)
			expectRefused(t, v, bad, verify.ErrBadSignature)
			other := post("", swMsgBody, at, "Webhook-Id", "msg_other", "Webhook-Timestamp", swMsgTS, "Webhook-Signature", tt.sig)
			expectRefused(t, v, other, verify.ErrBadSignature)
			// The signer, given the sender's whsk_ seed, makes the same signature.
			m := &verify.Message{Body: []byte(swMsgBody), ID: swMsgID, Time: at}
			whsk := "whsk_" + base64.StdEncoding.EncodeToString(tt.seed)
			if got := signWith(t, a, whsk, m).Header.Values("Webhook-Signature"); len(got) != 1 || got[0] != tt.sig {
				t.Errorf("Sign(whsk_ seed) = %q, want %q", got, tt.sig)
			}
			// The 64-byte form (seed and public key), as PR 308 encodes whsk_, signs the same.
			long := "whsk_" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(tt.seed))
			if got := signWith(t, a, long, m).Header.Values("Webhook-Signature"); len(got) != 1 || got[0] != tt.sig {
				t.Errorf("Sign(64-byte whsk_) = %q, want %q", got, tt.sig)
			}
		})
	}
}

// TestStandardWebhooksKinds checks that a v1 item is checked only against whsec_ secrets and a
// v1a item only against whpk_ keys, whatever the vendor holds, and that both kinds may be held at
// once (a sender moving from v1 to v1a).
func TestStandardWebhooksKinds(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const v1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	const whpk = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
	const v1a = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
	a := named(t, "standard-webhooks")
	at := mustUnix(t, swMsgTS)
	req := func(sig string) *verify.Request {
		return post("", swMsgBody, at, "Webhook-Id", swMsgID, "Webhook-Timestamp", swMsgTS, "Webhook-Signature", sig)
	}
	both := mustVerifier(t, a, whsec, whpk)
	expectOK(t, both, req(v1), swMsgID)
	expectOK(t, both, req(v1a), swMsgID)
	// Explain names the secret that matched by its place in the vendor's list.
	for sig, want := range map[string]string{v1: "matches secrets[0]", v1a: "matches secrets[1]"} {
		found := false
		for _, c := range verify.Explain(both, req(sig)) {
			found = found || (c.Name == "signature" && c.OK && c.Detail == want)
		}
		if !found {
			t.Errorf("Explain(%.3s) = %+v, want a signature check that %s", sig, verify.Explain(both, req(sig)), want)
		}
	}
	expectRefused(t, mustVerifier(t, a, whsec), req(v1a), verify.ErrBadSignature, whsec)
	expectRefused(t, mustVerifier(t, a, whpk), req(v1), verify.ErrBadSignature)
	// A v1a item whose value is the v1 MAC, or the other way round, is not a signature.
	expectRefused(t, both, req("v1a,"+v1[3:]), verify.ErrBadSignature, whsec)
	expectRefused(t, both, req("v1,"+v1a[4:]), verify.ErrBadSignature, whsec)
	for _, bad := range []string{"whpk_", "whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)), "whpk_!!!"} {
		if _, err := verify.New(a, []string{whsec, bad}); err == nil {
			t.Errorf("New(%q) = nil error, want the key refused", bad)
		}
	}
	if _, err := (verify.Signer{Auth: a, Secret: whpk}).Sign([]byte(swMsgBody), swMsgID, at); err == nil {
		t.Errorf("Sign(with the public key) = nil error, want one: only the sender can sign v1a")
	}
}

// TestEd25519RFC8032 runs RFC 8032 section 7.1 TEST 1 (the empty message) and TEST 2 through the
// recipe engine's ed25519 with whpk_ keys: the v1a check is plain Ed25519.
func TestEd25519RFC8032(t *testing.T) {
	tests := []struct {
		name, pub, msg, sig string
	}{
		{"TEST 1", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
		{"TEST 2", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	}
	a := mustAuth(t, "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: ed25519\n  key: whpk\n  signature: {header: X-Ed25519, encoding: hex}\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, _ := hex.DecodeString(tt.pub)
			msg, _ := hex.DecodeString(tt.msg)
			v := mustVerifier(t, a, "whpk_"+base64.StdEncoding.EncodeToString(pub))
			expectOK(t, v, post("", string(msg), epoch, "X-Ed25519", tt.sig), "")
			flipped := []byte(tt.sig)
			flipped[0] ^= 1
			expectRefused(t, v, post("", string(msg), epoch, "X-Ed25519", string(flipped)), verify.ErrBadSignature)
			expectRefused(t, v, post("", string(msg)+"x", epoch, "X-Ed25519", tt.sig), verify.ErrBadSignature)
		})
	}
}
