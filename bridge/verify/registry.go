package verify

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Scheme is a signature scheme as it registers itself, from an init function in its own file.
type Scheme struct {
	// Name is what a policy's auth.scheme says, e.g. "slack".
	Name string
	// Summary says in a few words what the scheme checks, for `check` and the docs.
	Summary string
	// Params, when set, returns a pointer to a new zero value of the scheme's parameters: a struct
	// whose fields carry yaml tags. DecodeAuth fills it, strictly, from the keys under auth:
	// besides scheme, tolerance and id_header. Nil: the scheme takes no keys.
	Params func() any
	// Compile checks the decoded parameters (nil when Params is nil), fills their defaults and
	// returns the method they describe, or the problems found, each naming its key under auth:.
	Compile func(params any) (Method, []KeyProblem)
}

// KeyProblem is what is wrong with one of a scheme's keys. Key is its path under auth:, dotted
// ("recipe.signature.encoding"); "" for the section as a whole.
type KeyProblem struct {
	Key     string
	Message string
}

// Method is a scheme with its parameters settled: everything loading, verifying and signing need.
type Method interface {
	// SignsTimestamp reports whether the method signs a timestamp; then auth.tolerance applies,
	// 5m by default.
	SignsTimestamp() bool
	// SignsID reports whether the method signs an event id, which then keys replays.
	SignsID() bool
	// SignsURL reports whether the method signs the URL the sender was given, which needs
	// public_url.
	SignsURL() bool
	// Key parses and validates one vendor secret into key material.
	Key(secret string) (Key, error)
	// NewSecret returns a fresh random secret for first-run options, or ErrCannotGenerate.
	NewSecret() (string, error)
	// Verifier builds the verifier for a vendor's keys (at least one).
	Verifier(keys []Key, tolerance time.Duration) Verifier
	// Sign fills m.Header as the sender would, with the sender's secret.
	Sign(secret string, m *Message) error
}

var (
	registryMu sync.RWMutex // guards registry
	registry   = map[string]*Scheme{}
)

// Register adds a scheme. It panics on a scheme without a name or a compiler, and on a name
// registered twice: both are programming errors found at start.
func Register(s Scheme) {
	if s.Name == "" || s.Compile == nil {
		panic("verify: Register needs a Name and a Compile")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("verify: scheme " + s.Name + " registered twice")
	}
	registry[s.Name] = &s
}

// Lookup returns the scheme registered under name.
func Lookup(name string) (*Scheme, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// Schemes returns the registered schemes' names, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultTolerance is the timestamp window of a scheme that signs a timestamp, when the policy
// names none.
const DefaultTolerance = 5 * time.Minute

// MaxTolerance is the widest timestamp window a policy may set.
const MaxTolerance = 24 * time.Hour

// Auth is a policy's auth section, decoded and compiled: a scheme, its parameters and the
// timestamp window. Build one with DecodeAuth (from YAML, with line numbers), ParseAuth (from
// YAML text) or CompileAuth (in code).
type Auth struct {
	Scheme string
	// Tolerance is the timestamp window, in both directions; zero for a scheme that signs no
	// timestamp.
	Tolerance time.Duration
	// IDHeader names a header in which the vendor sends an event id (a 0.1 key). No scheme signs
	// such a header, so it never keys replays (a captured request resent with a new one would look
	// new); Signer sets it, and the policy warns.
	IDHeader string
	// SenderIssued reports that the sender issues the secret (auth.secret_from: sender): the user
	// pastes it, and Hookbridge cannot make one up for first-run options even where the scheme's
	// format would allow it (Stripe issues its whsec_ secrets; a sample vendor signing the same way
	// may take a generated one).
	SenderIssued bool
	// Params are the scheme's decoded parameters (a pointer to its Params struct), nil for a
	// scheme without keys.
	Params any

	method Method
}

// CompileAuth builds an Auth in code: a scheme's parameters (nil for its defaults) and a
// tolerance (zero for the default of a scheme that signs a timestamp).
func CompileAuth(scheme string, tolerance time.Duration, params any) (Auth, error) {
	sc, ok := Lookup(scheme)
	if !ok {
		return Auth{}, fmt.Errorf("unknown auth scheme %q", scheme)
	}
	if params == nil && sc.Params != nil {
		params = sc.Params()
	}
	m, problems := sc.Compile(params)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = keyMessage(p)
		}
		return Auth{}, fmt.Errorf("auth: %s", strings.Join(msgs, "; "))
	}
	a := Auth{Scheme: scheme, Tolerance: tolerance, Params: params, method: m}
	if err := a.settleTolerance(); err != nil {
		return Auth{}, err
	}
	return a, nil
}

// settleTolerance fills the default window of a scheme that signs a timestamp, and refuses one
// for a scheme that does not.
func (a *Auth) settleTolerance() error {
	switch {
	case a.Tolerance < 0 || a.Tolerance > MaxTolerance:
		return fmt.Errorf("auth.tolerance must be at most %s", "24h")
	case a.method.SignsTimestamp() && a.Tolerance == 0:
		a.Tolerance = DefaultTolerance
	case !a.method.SignsTimestamp() && a.Tolerance != 0:
		return fmt.Errorf("auth.tolerance: scheme %s signs no timestamp", a.Scheme)
	}
	return nil
}

func keyMessage(p KeyProblem) string {
	if p.Key == "" {
		return "auth: " + p.Message
	}
	return "auth." + p.Key + ": " + p.Message
}

// compiled returns the Auth's method. An Auth written as a literal (Scheme and Params set by
// hand, as tests do) is compiled on the spot.
func (a Auth) compiled() (Method, error) {
	b, err := a.compile()
	return b.method, err
}

// compile returns the Auth compiled: itself when it is, else a copy with its method and its
// tolerance settled.
func (a Auth) compile() (Auth, error) {
	if a.method != nil {
		return a, nil
	}
	b, err := CompileAuth(a.Scheme, a.Tolerance, a.Params)
	if err != nil {
		return Auth{}, err
	}
	b.IDHeader = a.IDHeader
	return b, nil
}

// Method returns the compiled scheme, or an error for an Auth that does not compile.
func (a Auth) Method() (Method, error) { return a.compiled() }

// SignsTimestamp reports whether the scheme signs a timestamp.
func (a Auth) SignsTimestamp() bool { m, err := a.compiled(); return err == nil && m.SignsTimestamp() }

// SignsID reports whether the scheme signs an event id, which then keys replays.
func (a Auth) SignsID() bool { m, err := a.compiled(); return err == nil && m.SignsID() }

// SignsURL reports whether the scheme signs the URL the sender was given (it needs public_url).
func (a Auth) SignsURL() bool { m, err := a.compiled(); return err == nil && m.SignsURL() }

// CheckSecret reports what is wrong with a secret under the scheme, if anything. The error never
// holds the secret.
func (a Auth) CheckSecret(secret string) error {
	m, err := a.compiled()
	if err != nil {
		return err
	}
	_, err = m.Key(secret)
	return err
}

// NewSecret returns a fresh random secret in the scheme's format, or ErrCannotGenerate for a
// scheme whose secret is the sender's public key.
func (a Auth) NewSecret() (string, error) {
	if a.SenderIssued {
		return "", ErrCannotGenerate
	}
	m, err := a.compiled()
	if err != nil {
		return "", err
	}
	return m.NewSecret()
}

// fixedMethod compiles a scheme that takes no keys: its method is always the same.
func fixedMethod(m Method) func(any) (Method, []KeyProblem) {
	return func(any) (Method, []KeyProblem) { return m, nil }
}

// traits implements the three Signs* methods of a Method.
type traits struct {
	timestamp, id, url bool
}

func (t traits) SignsTimestamp() bool { return t.timestamp }
func (t traits) SignsID() bool        { return t.id }
func (t traits) SignsURL() bool       { return t.url }

// Key returns the key material a secret stands for under the scheme, validated.
func (a Auth) Key(secret string) (Key, error) {
	m, err := a.compiled()
	if err != nil {
		return Key{}, err
	}
	return m.Key(secret)
}
