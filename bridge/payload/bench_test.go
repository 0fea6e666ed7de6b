package payload_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
)

// benchPayloads returns the sample payloads by name (file name without .json).
func benchPayloads(b *testing.B) map[string][]byte {
	b.Helper()
	files, err := filepath.Glob("../../testdata/payloads/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("sample payloads: %v (%d files)", err, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = data
	}
	return out
}

// BenchmarkParse measures parsing each sample payload with the pipeline's limits.
func BenchmarkParse(b *testing.B) {
	for name, body := range benchPayloads(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := payload.Parse(body, payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCanonicalNumber measures the canonical form of typical literals: already canonical (the
// common case, no allocation) and not.
func BenchmarkCanonicalNumber(b *testing.B) {
	for _, in := range []string{"87", "0.231", "1764058443", "1e2", "1.50", "-1.5e-7"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				payload.CanonicalNumber(in)
			}
		})
	}
}

// BenchmarkParseForm measures the senders' documented form bodies (testdata/senders).
func BenchmarkParseForm(b *testing.B) {
	for _, name := range []string{"ecowitt-wh2650", "withings-appli1", "particle-default", "slack-slash-command"} {
		body := readSender(b, name+".form")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := payload.ParseForm(body, payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A form bomb is refused after one scan of the body.
	bomb := []byte(strings.Repeat("a=1&", 10000))
	b.Run("bomb-10000-fields", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(bomb)))
		for b.Loop() {
			if _, err := payload.ParseForm(bomb, payload.DefaultLimits); err == nil {
				b.Fatal("no error")
			}
		}
	})
}

// BenchmarkParseQuery measures query strings: Ambient Weather's FAQ example (without its stray
// space) and a Twilio-style query with encoded pluses.
func BenchmarkParseQuery(b *testing.B) {
	ambient := strings.Replace(string(readSender(b, "ambient-faq-1857.query")), "& humidityin", "&humidityin", 1)
	for name, q := range map[string]string{
		"ambient": ambient,
		"twilio":  "CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				if _, err := payload.ParseQuery(q, payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFormJSON measures a GitHub form delivery (payload=<JSON>) of each sample payload.
func BenchmarkFormJSON(b *testing.B) {
	for name, body := range benchPayloads(b) {
		form := []byte("payload=" + url.QueryEscape(string(body)))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(form)))
			for b.Loop() {
				if _, err := payload.FormJSON(form, "payload", payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseBatch measures arrays of the sample payloads (1, 10 and 100 elements, 100 being
// Enode's largest delivery), and a huge array refused at MaxBatch.
func BenchmarkParseBatch(b *testing.B) {
	sample := benchPayloads(b)["gridwise-energy"]
	for _, n := range []int{1, 10, 100} {
		body := []byte("[" + strings.TrimSuffix(strings.Repeat(string(sample)+",", n), ",") + "]")
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := payload.ParseBatch(body, payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	huge := []byte("[" + strings.Repeat(`{"event":"system:heartbeat"},`, 100000) + "{}]")
	b.Run("huge-refused", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(huge)))
		for b.Loop() {
			if _, err := payload.ParseBatch(huge, payload.DefaultLimits); err == nil {
				b.Fatal("no error")
			}
		}
	})
}
