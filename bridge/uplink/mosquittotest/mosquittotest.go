// Package mosquittotest runs a real Mosquitto broker for tests: on free loopback ports, with a
// password file, persistence, and optionally WebSocket and TLS (with client certificates)
// listeners; and a persistent paho subscriber that records every message it receives.
//
// Tests that use it need Debian's mosquitto package (apt-get install -y mosquitto
// mosquitto-clients); without it they fail and say so.
package mosquittotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// InstallHint tells how to get the broker the tests need.
const InstallHint = "these tests need a real Mosquitto broker: install it with `apt-get install -y mosquitto mosquitto-clients` (Debian/Ubuntu)"

// Options choose the broker's extra listeners.
type Options struct {
	WebSocket bool // a ws:// listener
	TLS       bool // an ssl:// listener that requires a client certificate
}

// Broker is a running (or stopped) Mosquitto.
type Broker struct {
	Dir      string // private temporary directory: config, password file, persistence, log
	Username string
	Password string
	// Addr is the plain MQTT listener, WSAddr and TLSAddr the optional ones ("127.0.0.1:port").
	Addr    string
	WSAddr  string
	TLSAddr string
	// CAFile signs the server and client certificates; CertFile and KeyFile are the client's.
	CAFile   string
	CertFile string
	KeyFile  string

	t       testing.TB
	conf    string
	confBin string
	mu      sync.Mutex // guards cmd and exited
	cmd     *exec.Cmd
	// exited is closed when the current process has exited.
	exited chan struct{}
}

// Start starts a Mosquitto for the test and stops it at the end. It fails the test, with
// InstallHint, when Mosquitto is not installed.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // Debian installs it outside a normal user's PATH
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("mosquitto not found: %s", InstallHint)
		}
	}
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd not found: %s", InstallHint)
	}
	dir, err := os.MkdirTemp("", "mosquittotest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b := &Broker{Dir: dir, Username: "hookbridge", Password: "test-password-1", t: t}
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, b.Username, b.Password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if err := os.Chmod(pwFile, 0o600); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	// Started as root, Mosquitto would switch to the mosquitto user, which cannot read this
	// private directory.
	fmt.Fprintf(&conf, "user root\nallow_anonymous false\npassword_file %s\n", pwFile)
	fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\n", dir)
	fmt.Fprintf(&conf, "max_queued_messages 0\nmax_inflight_messages 0\n")
	fmt.Fprintf(&conf, "log_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
		filepath.Join(dir, "mosquitto.log"))
	b.Addr = freeAddr(t)
	fmt.Fprintf(&conf, "listener %s 127.0.0.1\n", port(b.Addr))
	if opts.WebSocket {
		b.WSAddr = freeAddr(t)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\nprotocol websockets\n", port(b.WSAddr))
	}
	if opts.TLS {
		b.writeCerts(t)
		b.TLSAddr = freeAddr(t)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
			port(b.TLSAddr), b.CAFile, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	}
	b.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.confBin = bin
	b.StartAgain()
	t.Cleanup(b.Stop)
	return b
}

// URL returns the plain listener's URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr }

// StartAgain starts the broker process (again, after Stop) on the same ports, and waits until it
// accepts connections.
func (b *Broker) StartAgain() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatal("mosquittotest: broker already running")
	}
	cmd := exec.Command(b.confBin, "-c", b.conf)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v (%s)", err, InstallHint)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.cmd, b.exited = cmd, exited
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{b.Addr, b.WSAddr, b.TLSAddr} {
		if addr == "" {
			continue
		}
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				b.cmd = nil
				b.t.Fatalf("mosquitto exited at start: %s\n%s", stderr.String(), b.Log())
			default:
			}
			if time.Now().After(deadline) {
				b.t.Fatalf("mosquitto does not accept connections on %s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop stops the broker with SIGTERM (it saves its persistent state) and waits for it to exit.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

// Log returns the broker's log so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "mosquitto.log"))
	return string(data)
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// writeCerts creates a CA, a server certificate for 127.0.0.1 and localhost, and a client
// certificate, all signed by the CA.
func (b *Broker) writeCerts(t testing.TB) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mosquittotest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	b.CAFile = filepath.Join(b.Dir, "ca.crt")
	writePEM(t, b.CAFile, "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP, dns []string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(b.Dir, name+".crt"), "CERTIFICATE", der)
		writePEM(t, filepath.Join(b.Dir, name+".key"), "EC PRIVATE KEY", keyDER)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	leaf("client", 3, x509.ExtKeyUsageClientAuth, nil, nil)
	b.CertFile, b.KeyFile = filepath.Join(b.Dir, "client.crt"), filepath.Join(b.Dir, "client.key")
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Message is one message a Recorder received.
type Message struct {
	Topic    string
	Payload  string
	QoS      byte
	Retained bool
	Dup      bool
}

// Recorder is a subscriber that records every message before acknowledging it.
type Recorder struct {
	client mqtt.Client
	mu     sync.Mutex // guards msgs
	msgs   []Message
}

// Subscribe connects a subscriber to the broker and subscribes to filter at QoS 1. With
// persistent set, it keeps its session (clean session off, a fixed client id) across its own and
// the broker's restarts, so the broker queues messages for it while it is away; it reconnects by
// itself. It disconnects at the end of the test.
func (b *Broker) Subscribe(t testing.TB, clientID, filter string, persistent bool) *Recorder {
	t.Helper()
	r := &Recorder{}
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(clientID).
		SetUsername(b.Username).SetPassword(b.Password).
		SetCleanSession(!persistent).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetResumeSubs(true).SetOrderMatters(true)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		// paho acknowledges the message after this returns: the record is made first.
		r.mu.Lock()
		r.msgs = append(r.msgs, Message{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(),
			Retained: m.Retained(), Dup: m.Duplicate()})
		r.mu.Unlock()
	}
	o.SetDefaultPublishHandler(handler)
	// A clean session forgets its subscriptions: subscribe on every connection. A persistent one
	// keeps them: subscribing again would only make the broker send the retained messages again.
	subscribed := make(chan error, 1)
	var once atomic.Bool
	o.SetOnConnectHandler(func(c mqtt.Client) {
		if persistent && once.Swap(true) {
			return // the broker kept the subscription with the session
		}
		tok := c.Subscribe(filter, 1, handler)
		tok.Wait()
		select {
		case subscribed <- tok.Error():
		default:
		}
	})
	r.client = mqtt.NewClient(o)
	tok := r.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("subscribe %s: %v", filter, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("subscribe %s: no answer", filter)
	}
	t.Cleanup(func() { r.client.Disconnect(100) })
	return r
}

// Messages returns a copy of what was received so far.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// WaitFor polls until cond holds for the messages received, or fails the test after timeout.
func (r *Recorder) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := r.Messages()
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; received %d messages", timeout, what, len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
