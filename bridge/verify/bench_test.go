package verify_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// BenchmarkVerify measures authenticating one sample webhook under each scheme, with one secret
// and, for the HMAC schemes, with two (a rotation: every key is tried).
func BenchmarkVerify(b *testing.B) {
	body, err := os.ReadFile("../../testdata/payloads/acme-locks.json")
	if err != nil {
		b.Fatal(err)
	}
	const (
		whsec  = "whsec_YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY="
		whsec2 = "whsec_b2xkLWJlbmNoLXNlY3JldC0wMTIzNDU2Nzg5YWI="
		plain  = "bench-secret-0123456789abcdef"
		plain2 = "old-bench-secret-0123456789ab"
	)
	tol := 5 * time.Minute
	cases := []struct {
		name    string
		auth    verify.Auth
		secrets []string
	}{
		{"standard-webhooks", verify.Auth{Scheme: "standard-webhooks", Tolerance: tol}, []string{whsec}},
		{"standard-webhooks/2-secrets", verify.Auth{Scheme: "standard-webhooks", Tolerance: tol}, []string{whsec2, whsec}},
		{"github", verify.Auth{Scheme: "github"}, []string{plain}},
		{"stripe", verify.Auth{Scheme: "stripe", Tolerance: tol}, []string{whsec}},
		{"stripe/2-secrets", verify.Auth{Scheme: "stripe", Tolerance: tol}, []string{whsec2, whsec}},
		{"hmac-sha256/hex", verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Signature"}}, []string{plain}},
		{"hmac-sha256/base64", verify.Auth{Scheme: "hmac-sha256", Params: &verify.HMACParams{Header: "X-Test-Signature", Encoding: "base64",
			Prefix: "sha256="}, IDHeader: "X-Test-Event"}, []string{plain}},
		{"bearer", verify.Auth{Scheme: "bearer"}, []string{plain}},
		{"github/2-secrets", verify.Auth{Scheme: "github"}, []string{plain2, plain}},
	}
	now := time.Now()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			v, err := verify.New(tc.auth, tc.secrets)
			if err != nil {
				b.Fatal(err)
			}
			signed, err := verify.Signer{Auth: tc.auth, Secret: tc.secrets[len(tc.secrets)-1]}.Sign(body, "evt_2b7Qx9LkT4", now)
			if err != nil {
				b.Fatal(err)
			}
			h := http.Header{}
			for k, val := range signed {
				h.Set(k, val)
			}
			req := &verify.Request{Method: "POST", Header: h, Body: body, Now: now}
			if _, err := v.Verify(req); err != nil {
				b.Fatalf("Verify = %v, want nil", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := v.Verify(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
