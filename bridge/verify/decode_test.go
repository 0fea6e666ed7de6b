package verify

import (
	"errors"
	"testing"
)

// TestSecretFrom: auth.secret_from: sender keeps first-run options from making up a secret the
// sender issues itself, whatever the scheme's format allows; other values are refused.
func TestSecretFrom(t *testing.T) {
	for _, tt := range []struct {
		text   string
		issued bool
		bad    bool
	}{
		{"{scheme: stripe}", false, false},
		{"{scheme: stripe, secret_from: sender}", true, false},
		{"{scheme: stripe, secret_from: hookbridge}", false, false},
		{"{scheme: stripe, secret_from: me}", false, true},
	} {
		a, err := ParseAuth(tt.text)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseAuth(%s) = nil error, want one", tt.text)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseAuth(%s) = %v", tt.text, err)
		}
		_, genErr := a.NewSecret()
		if a.SenderIssued != tt.issued || errors.Is(genErr, ErrCannotGenerate) != tt.issued {
			t.Errorf("ParseAuth(%s): SenderIssued %v, NewSecret error %v; want issued %v", tt.text, a.SenderIssued, genErr, tt.issued)
		}
	}
}
