package verify_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
)

// pair is a sender's key pair in the forms a vendor's secret (Public) and a signer (Private)
// take.
type pair struct {
	Public, Private string
}

var (
	pairsOnce sync.Once
	pairs     map[string]pair
	pairsErr  error
)

// keyPairs returns one fresh key pair per kind: ed25519, rsa (2048), rsa1024 (too short),
// p256, p384 (the wrong curve). RSA key generation is slow, so they are made once.
func keyPairs(t testing.TB) map[string]pair {
	t.Helper()
	pairsOnce.Do(func() {
		pairs = map[string]pair{}
		gen := map[string]func() (any, error){
			"ed25519": func() (any, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
			"rsa":     func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) },
			"rsa1024": func() (any, error) { return rsa.GenerateKey(rand.Reader, 1024) },
			"p256":    func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
			"p384":    func() (any, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		}
		for name, g := range gen {
			k, err := g()
			if err != nil {
				pairsErr = err
				return
			}
			priv, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				pairsErr = err
				return
			}
			var pub any
			switch k := k.(type) {
			case ed25519.PrivateKey:
				pub = k.Public()
			case *rsa.PrivateKey:
				pub = k.Public()
			case *ecdsa.PrivateKey:
				pub = k.Public()
			}
			spki, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				pairsErr = err
				return
			}
			pairs[name] = pair{
				Public:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
				Private: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
			}
		}
	})
	if pairsErr != nil {
		t.Fatal(pairsErr)
	}
	return pairs
}
