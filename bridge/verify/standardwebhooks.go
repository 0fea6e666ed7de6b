package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com/): "v1,<base64 HMAC-SHA256>" of
// "webhook-id.webhook-timestamp.body" in a space-separated webhook-signature list; the key is the
// base64 after whsec_; the signed webhook-id keys replays.
func init() {
	Register(Scheme{
		Name:    "standard-webhooks",
		Summary: "Standard Webhooks v1: HMAC-SHA256 of id.timestamp.body, whsec_ secret",
		Compile: fixedMethod(standardWebhooksMethod{traits: traits{timestamp: true, id: true}}),
	})
}

type standardWebhooksMethod struct{ traits }

func (standardWebhooksMethod) Key(secret string) (Key, error) { return whsecSecret.Parse(secret) }
func (standardWebhooksMethod) NewSecret() (string, error)     { return whsecSecret.generate() }

func (standardWebhooksMethod) Verifier(keys []Key, tol time.Duration) Verifier {
	return &standardWebhooks{macs: newMACs(keys), tolerance: tol}
}

func (standardWebhooksMethod) Sign(secret string, m *Message) error {
	k, err := whsecSecret.Parse(secret)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	m.Header["Webhook-Id"] = m.ID
	m.Header["Webhook-Timestamp"] = ts
	m.Header["Webhook-Signature"] = "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(k.MAC, []byte(m.ID+"."+ts+"."), m.Body))
	return nil
}

// standardWebhooks verifies Standard Webhooks v1 signatures.
type standardWebhooks struct {
	macs      macs
	tolerance time.Duration
}

func (v *standardWebhooks) Verify(r *Request) (Result, error) {
	id, err := single(r.Header, "Webhook-Id")
	if err != nil {
		return Result{}, err
	}
	tsText, err := single(r.Header, "Webhook-Timestamp")
	if err != nil {
		return Result{}, err
	}
	sigText, err := single(r.Header, "Webhook-Signature")
	if err != nil {
		return Result{}, err
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return Result{}, fmt.Errorf("%w: webhook-timestamp is not a Unix time", ErrBadSignature)
	}
	sigs := ParseStandardSignatures(sigText)
	if len(sigs) == 0 {
		return Result{}, fmt.Errorf("%w: no v1 signature", ErrBadSignature)
	}
	if !v.macs.match(sigs, []byte(id), []byte{'.'}, []byte(tsText), []byte{'.'}, r.Body) {
		return Result{}, fmt.Errorf("%w: no v1 signature matches", ErrBadSignature)
	}
	if err := checkTime(time.Unix(ts, 0), r.Now, v.tolerance); err != nil {
		return Result{}, err
	}
	// The signed string is "id.timestamp.body": the id is covered, so it may key replays.
	return Result{ID: id}, nil
}

// maxSignatures bounds how many candidate signatures one header may offer.
const maxSignatures = 8

// ParseStandardSignatures returns the decoded v1 signatures of a webhook-signature header: a
// space-separated list of "version,base64". Other versions and malformed entries are skipped.
func ParseStandardSignatures(header string) [][]byte {
	var out [][]byte
	for _, part := range strings.Fields(header) {
		ver, sig, ok := strings.Cut(part, ",")
		if !ok || ver != "v1" || len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		out = append(out, b)
		if len(out) == maxSignatures {
			break
		}
	}
	return out
}
