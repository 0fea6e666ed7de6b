package verify_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/policy"
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
	tol := policy.Duration(5 * time.Minute)
	cases := []struct {
		name    string
		auth    policy.Auth
		secrets []string
	}{
		{"standard-webhooks", policy.Auth{Scheme: policy.SchemeStandardWebhooks, Tolerance: tol}, []string{whsec}},
		{"standard-webhooks/2-secrets", policy.Auth{Scheme: policy.SchemeStandardWebhooks, Tolerance: tol}, []string{whsec2, whsec}},
		{"github", policy.Auth{Scheme: policy.SchemeGitHub}, []string{plain}},
		{"stripe", policy.Auth{Scheme: policy.SchemeStripe, Tolerance: tol}, []string{whsec}},
		{"stripe/2-secrets", policy.Auth{Scheme: policy.SchemeStripe, Tolerance: tol}, []string{whsec2, whsec}},
		{"hmac-sha256/hex", policy.Auth{Scheme: policy.SchemeHMACSHA256, Header: "X-Signature"}, []string{plain}},
		{"hmac-sha256/base64", policy.Auth{Scheme: policy.SchemeHMACSHA256, Header: "X-Test-Signature", Encoding: "base64",
			Prefix: "sha256=", IDHeader: "X-Test-Event"}, []string{plain}},
		{"bearer", policy.Auth{Scheme: policy.SchemeBearer, Header: "Authorization"}, []string{plain}},
		{"github/2-secrets", policy.Auth{Scheme: policy.SchemeGitHub}, []string{plain2, plain}},
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
			if _, err := v.Verify(h, body, now); err != nil {
				b.Fatalf("Verify = %v, want nil", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := v.Verify(h, body, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
