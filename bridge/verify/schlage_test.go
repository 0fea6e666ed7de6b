package verify_test

import (
	"testing"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The vector of Allegion's example repository for Schlage Home API V2 webhooks,
// github.com/Yonomi/schlage-home-api-webhook-signature, first commit
// 8c156c5ce76b45174904826a01acf8289bfdaaae (key.txt, payload.txt, signature.txt; later commits
// replaced the signature with a placeholder and the key with the production key below).
const (
	schlageKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAn5XrRZHdn1ljIzkO2woP
88UaCeDZCakQlUrX5XmC9+TV8aVcWOe/du0YyAUVz3+1zYFjXdVBU3I4kNxl74ty
wjm7TWhFyLE3uooMsvASGHLCNogRIYCruJ7JeDa2T4jMJ031DwJkqLhCHta6WWr+
ifGSBgY0s2l3x9+es4Cn+hA9FFb0HybyxOt0L7CBB9S1Ro8hx42BOlOGNtgRdKtk
3eBDSwsje9jqGGrmfKeOUNNfokYG6JU4l+MawMyXrKyIbrqtTSYxxhEI8UPWP8/H
lAYbh/nWlR63P6KNIJnmqaP545Xava0KK6g1VCPbeRIV0NxNBDhNLKD5J3MzDkSI
fQIDAQAB
-----END PUBLIC KEY-----`
	schlagePayload   = `{"eventId":"c0ffb609f373bc533f3a32657c93ec1a","deviceId":"baa9e53e-bf1d-57a5-bbf1-5cf501ec504f","time":"2024-04-29T19:17:18.000Z","eventType":"CommandUpdate","trigger":"CommandSucceeded","data":{"commandId":"7b316fb8-2ddb-4714-95a0-37a39a1a5a28","commandType":"AddAccessCode","clientId":"401gh34b3tm6kqat21841i4ug0"}}`
	schlageSignature = `K0NQ4FUxhU6BOcd/f4rxTKBDUq/FK8FS6KAKgV26FQy6WzbtGGFGmkduFb9sGatNKFJydpXcjolt9LHIfSdfJHbUfKQCNIAmWqTjI6ZUOl8ClSYpXvy/jL+NjwLFNxhk6sjWY1cbvIOkig1tT6JTTqG4WH6MkXjOuWckWJBs7vp6OAj4blmOuI5BOrnG9QjtmkfdzCQ2MAFt4GPKKIAo0G1Y0Nxe6PeV8QHkdkgcqAnAGB23dSeTN4PmhwgHfzaKfhQgEcnG0quFO+mP7QS0MGd7nvX88aVwplONUqlhhGP9wJ4Ky8D+no4oaULTzjfo10JE3+ZPlQUu/HNDhedgbQ==`
	// schlageProductionKey is the "Schlage Home API V2 Webhook Public Key" of the same repository's
	// README (HEAD 03a41680), the key a user gives Hookbridge.
	schlageProductionKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqJNrOq6SzG46f5injzHc
yK0sHYLsXjD7YeIGDIDtqnwvgkYFOCRRDdPenb2fOb9rUJKcVczRXMy7o2PFPNGD
QEDMFRe62ahGVnV7i4x5gOn9lFhX5YPJGVAhoUmQmqYalVJoJht7fe1PxhnwOg+T
BU/kg//6X9vKokjokgInSEhoV2VRZ6s9Qs3Lfa3vs7Bqobb1oK60Kml5mMi+EzEL
tbXxyMtgjqaaHvd1xKlA7X8gI6DQtZ5ON7VXp/0/CA8MzNaBoCfDF1ksIfmCBETD
QGbCWAdjRXYlk06qtT4bVjO7ubcDQzSBl49s7TF1vwTXeoXTqpeC6DfLLMW0SuCc
mQIDAQAB
-----END PUBLIC KEY-----`
)

func TestSchlagePublishedVector(t *testing.T) {
	a := named(t, "schlage")
	v := mustVerifier(t, a, schlageKey)
	expectOK(t, v, post("", schlagePayload, epoch, "WebHook-Signature", schlageSignature), "") // eventId is in the body
	expectRefused(t, v, post("", schlagePayload+"\n", epoch, "WebHook-Signature", schlageSignature), verify.ErrBadSignature)
	expectRefused(t, mustVerifier(t, a, schlageProductionKey), post("", schlagePayload, epoch, "WebHook-Signature", schlageSignature), verify.ErrBadSignature)
	// The same signature read as PKCS#1 v1.5 does not verify: PSS it is.
	v15 := mustAuth(t, "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: rsa-pkcs1v15-sha256\n  signature: {header: WebHook-Signature, encoding: base64}\n")
	expectRefused(t, mustVerifier(t, v15, schlageKey), post("", schlagePayload, epoch, "WebHook-Signature", schlageSignature), verify.ErrBadSignature)
	if _, err := a.NewSecret(); err == nil {
		t.Errorf("NewSecret(schlage) = nil error, want ErrCannotGenerate: the secret is Allegion's public key")
	}
}

// TestSchlageFreshRequest signs with a fresh RSA-2048 key as Allegion's README describes it
// (RSASSA_PSS_SHA_256 over the raw payload, base64 in WebHook-Signature).
func TestSchlageFreshRequest(t *testing.T) {
	kp := keyPairs(t)["rsa"]
	a := named(t, "schlage")
	m := &verify.Message{Body: []byte(schlagePayload), Time: epoch}
	r := signWith(t, a, kp.Private, m)
	v := mustVerifier(t, a, kp.Public, schlageProductionKey)
	expectOK(t, v, r, "")
	r.Body = append(r.Body, ' ')
	expectRefused(t, v, r, verify.ErrBadSignature)
}
