package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// clientRefs stand in for client ids in logs. Devices choose their client ids, and one can be
// personal (a phone's name, its owner's): the broker logs the account and a keyed digest of the
// session id instead, which tells the lines of one session apart from another's and ties them
// together within one run, and which no one can turn back into the id or test a guess against
// without the key. The key is random, made when the broker is, and never leaves the process: a
// session's ref changes with each run. The admin API lists a session's ref with its client id
// (SessionInfo.LogRef), so an operator can find the session a log line is about.
type clientRefs struct {
	key [32]byte
}

func newClientRefs() *clientRefs {
	r := &clientRefs{}
	rand.Read(r.key[:]) // never fails: it crashes the program instead
	return r
}

// of returns the ref of a session id (or of a client's raw id, before the broker renamed it): 12
// hex digits of HMAC-SHA256 under the run's key.
func (r *clientRefs) of(id string) string {
	m := hmac.New(sha256.New, r.key[:])
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:6])
}
