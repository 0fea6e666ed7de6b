package admin

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// The status page is plain server-rendered HTML: no script, no external asset, one inline style
// sheet allowed by its hash. Each vendor's kill switch is a POST form, so it works without
// JavaScript.
//
// Through Home Assistant ingress the page lives under /api/hassio_ingress/<token>/ on Home
// Assistant's origin; the proxy says so in X-Ingress-Path, and every link, form action and redirect
// is prefixed with it. A header that is not such a path is refused, so a forged one can never send
// the browser elsewhere.
//
// Cross-site request forgery: every form carries a token, an HMAC under a key made at start over
// the time it was issued, valid for statusTokenTTL. A page on another site cannot read it (it
// cannot read the page), so it cannot forge the POST; nor can a rebinding page read it, since the
// listener refuses its Host (host.go). Before the token is looked at, Admin.ServeHTTP has applied
// the listener's rules to the form like to every state-changing request: the Host is the
// listener's own or the request came through ingress, and Sec-Fetch-Site and Origin say the form
// was sent from this origin. Behind ingress that origin is Home Assistant's: the browser's Origin
// equals the Host that both ingress proxies pass through (see host.go).

//go:embed status.tmpl
var statusTemplateText string

//go:embed status.css
var statusCSS string

var (
	statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
		"when":  formatWhen,
		"whenp": formatWhenPtr,
		"join":  strings.Join,
		"dur":   formatSeconds,
	}).Parse(statusTemplateText))
	// statusCSP allows nothing but the inline style sheet, forms to this origin and framing by this
	// origin (ingress shows the page in an iframe on Home Assistant's origin).
	statusCSP = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; img-src 'none'; form-action 'self'; "+
		"frame-ancestors 'self'; base-uri 'none'",
		base64.StdEncoding.EncodeToString(sha256Sum(statusCSS)))
	ingressPathRE = regexp.MustCompile(`^/api/hassio_ingress/[A-Za-z0-9_-]{1,128}$`)
)

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// statusTokenTTL is how long a form token stays valid: a page left open longer needs a reload.
const statusTokenTTL = 12 * time.Hour

// errIngressPath reports an X-Ingress-Path header that is not an ingress path.
var errIngressPath = errors.New("X-Ingress-Path is not a Home Assistant ingress path")

// statusPage serves the status page and its kill switch forms.
type statusPage struct {
	a   *Admin
	key []byte // form token key, random per process
	now func() time.Time
}

// AddStatusPage serves the status page at / and its forms at POST /status/{vendor}.
func (a *Admin) AddStatusPage() {
	p := newStatusPage(a)
	a.Handle("GET /{$}", http.HandlerFunc(p.show))
	a.Handle("POST /status/{name}", http.HandlerFunc(p.change))
}

func newStatusPage(a *Admin) *statusPage {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return &statusPage{a: a, key: key, now: time.Now}
}

// ingressBase returns the path prefix of every link: X-Ingress-Path, or "" without one.
func ingressBase(r *http.Request) (string, error) {
	vals := r.Header.Values("X-Ingress-Path")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1 || !ingressPathRE.MatchString(vals[0]):
		return "", errIngressPath
	}
	return vals[0], nil
}

// token returns a form token issued now.
func (p *statusPage) token() string {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	return ts + "." + p.mac(ts)
}

func (p *statusPage) mac(ts string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("hookbridge status form\x00" + ts))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validToken reports whether tok was issued by this process within statusTokenTTL.
func (p *statusPage) validToken(tok string) bool {
	ts, mac, ok := strings.Cut(tok, ".")
	if !ok || len(ts) > 20 {
		return false
	}
	if !hmac.Equal([]byte(mac), []byte(p.mac(ts))) {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := p.now().Sub(time.Unix(sec, 0))
	return age > -time.Minute && age <= statusTokenTTL
}

// statusView is what the template renders.
type statusView struct {
	Base    string // ingress prefix, "" without ingress
	Token   string
	CSS     template.CSS
	Version string
	Now     time.Time
	Notice  string
	Failed  bool // Notice reports a refusal
	Vendors []vendorView
}

type vendorView struct {
	Name, Title, Owner, Contact, Risk string
	// Missing lists the policy keys that still hold the draft's placeholder.
	Missing []string
	// Mode is the vendor's mode: live, shadow or learn.
	Mode    string
	State   killswitch.State
	Counts  stats.Vendor
	Reasons []reasonCount
	// Learnt is what learn mode recorded, for a vendor in learn mode; nil otherwise.
	Learnt *Learnt
	// Action is the form's action for the current state: disable, enable or lift.
	Action, ActionLabel string
	// Incidents are the vendor's incidents, newest first (at most statusIncidents); AwaitsAck
	// reports that the newest is open and nobody acknowledged it yet (the page offers to).
	Incidents []killswitch.IncidentView
	AwaitsAck bool
	// Contacts, Secrets, Activity, Offboarded and Flow are the inventory's.
	Contacts   []policy.Contact
	Secrets    []SecretInfo
	Activity   *Activity
	Offboarded *Offboarding
	Flow       *DataFlow
}

// statusIncidents is how many incidents the page shows per vendor; the inventory has them all.
const statusIncidents = 3

type reasonCount struct {
	Reason string
	Count  int64
	OK     bool // accepted or duplicate
}

func (p *statusPage) show(w http.ResponseWriter, r *http.Request) {
	base, err := ingressBase(r)
	if err != nil {
		p.refuse(w, http.StatusBadRequest, base, err.Error())
		return
	}
	v := statusView{Base: base, Token: p.token(), CSS: template.CSS(statusCSS), Version: p.a.cfg.Version, Now: p.now()}
	v.Notice, v.Failed = p.notice(r)
	for _, name := range p.a.cfg.Switches.Vendors() {
		if vv, ok := p.vendor(name); ok {
			v.Vendors = append(v.Vendors, vv)
		}
	}
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, v); err != nil {
		p.a.cfg.Log.Error().Err(err).Msg("status page")
		p.refuse(w, http.StatusInternalServerError, base, "could not render the status page")
		return
	}
	p.headers(w)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (p *statusPage) vendor(name string) (vendorView, bool) {
	pv, ok := p.a.cfg.Vendors[name]
	if !ok {
		return vendorView{}, false
	}
	st, _ := p.a.cfg.Switches.Get(name)
	vv := vendorView{Name: name, State: st, Mode: string(pv.Mode)}
	if vv.Mode == "" {
		vv.Mode = string(vendor.ModeLive)
	}
	if pol := pv.Policy; pol != nil {
		vi, _ := p.a.VendorInfo(name) // the placeholders shown as missing, as in the inventory
		vv.Title, vv.Owner, vv.Contact, vv.Risk, vv.Missing = vi.Title, vi.Owner, vi.Contact, pol.Risk, vi.Missing
		vv.Contacts, vv.Secrets, vv.Activity, vv.Offboarded, vv.Flow = vi.Contacts, vi.Secrets, vi.Activity, vi.Offboarded, vi.DataFlow
		vv.Incidents = vi.Incidents[:min(len(vi.Incidents), statusIncidents)]
		if len(vv.Incidents) > 0 && vv.Incidents[0].Open && vv.Incidents[0].Acknowledged == nil {
			vv.AwaitsAck = true
		}
	}
	if pv.Mode == vendor.ModeLearn {
		l, ok, err := p.a.learnt(name)
		if err != nil {
			p.a.cfg.Log.Error().Err(err).Str("vendor", name).Msg("status page: learnt structure")
		}
		if !ok {
			l = Learnt{Vendor: name, Mode: vv.Mode, DraftCommand: DraftCommand(name)}
		}
		vv.Learnt = &l
	}
	if p.a.cfg.Stats != nil {
		vv.Counts, _ = p.a.cfg.Stats.Get(name)
	}
	for reason, n := range vv.Counts.ByReason {
		vv.Reasons = append(vv.Reasons, reasonCount{Reason: reason, Count: n, OK: reason == "accepted" || reason == "duplicate"})
	}
	sort.Slice(vv.Reasons, func(i, j int) bool {
		a, b := vv.Reasons[i], vv.Reasons[j]
		if a.OK != b.OK {
			return a.OK
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Reason < b.Reason
	})
	switch st.Mode {
	case killswitch.Enabled:
		vv.Action, vv.ActionLabel = "disable", "Disable"
	case killswitch.Quarantined:
		vv.Action, vv.ActionLabel = "lift", "Lift quarantine"
	default:
		vv.Action, vv.ActionLabel = "enable", "Enable"
	}
	return vv, true
}

// Outcomes of a form, shown after the redirect. The query names one of these and a configured
// vendor, never free text.
var statusNotices = map[string]struct {
	text   string
	failed bool
}{
	"disable":         {"%s is disabled: its webhooks get 503 and are retried later.", false},
	"enable":          {"%s is enabled.", false},
	"lift":            {"The quarantine of %s is lifted; it is enabled.", false},
	"quarantined":     {"%s is quarantined: use “Lift quarantine” after checking why.", true},
	"no_secret":       {"%s has no secret configured; add one in the app's options first.", true},
	"not_quarantined": {"%s is not quarantined; nothing to lift.", true},
	"failed":          {"Could not change the state of %s; see the log.", true},
	"acknowledge":     {"You acknowledged the incident of %s: the time it took is in its timeline.", false},
	"no_incident":     {"%s has no open incident awaiting an acknowledgement.", true},
	"ack_failed":      {"Could not record the acknowledgement for %s; see the log.", true},
}

func (p *statusPage) notice(r *http.Request) (string, bool) {
	q := r.URL.Query()
	n, ok := statusNotices[q.Get("done")]
	vendor := q.Get("vendor")
	if _, known := p.a.cfg.Vendors[vendor]; !ok || !known {
		return "", false
	}
	return fmt.Sprintf(n.text, vendor), n.failed
}

// change applies one kill switch form and redirects back to the page.
func (p *statusPage) change(w http.ResponseWriter, r *http.Request) {
	base, err := ingressBase(r)
	if err != nil {
		p.refuse(w, http.StatusBadRequest, "", err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		p.refuse(w, http.StatusBadRequest, base, "could not read the form")
		return
	}
	if !p.validToken(r.PostForm.Get("token")) {
		p.refuse(w, http.StatusForbidden, base, "refused: the form has expired or was not sent from this page; reload the page and try again")
		return
	}
	name := r.PathValue("name")
	action := r.PostForm.Get("action")
	if action == "acknowledge" {
		p.acknowledge(w, r, base, name)
		return
	}
	out, _ := p.a.setSwitch(name, action, "disabled on the status page", killswitch.ByStatusPage)
	done := action
	switch out {
	case switchUnknownVendor:
		p.refuse(w, http.StatusNotFound, base, "unknown vendor")
		return
	case switchUnknownAction:
		p.refuse(w, http.StatusBadRequest, base, "unknown action: use disable, enable, lift or acknowledge")
		return
	case switchQuarantined:
		done = "quarantined"
	case switchNoSecret:
		done = "no_secret"
	case switchNotQuarantined:
		done = "not_quarantined" // a stale page: someone else lifted it already
	case switchFailed:
		done = "failed"
	default:
		p.a.cfg.Log.Info().Str("vendor", name).Str("action", action).Str("by", "status page").Msg("kill switch changed")
	}
	http.Redirect(w, r, base+"/?done="+done+"&vendor="+name+"#vendor-"+name, http.StatusSeeOther)
}

// acknowledge records, for the status page's button, that a person is on a vendor's open
// incident, and redirects back to the page.
func (p *statusPage) acknowledge(w http.ResponseWriter, r *http.Request, base, name string) {
	if _, ok := p.a.cfg.Vendors[name]; !ok {
		p.refuse(w, http.StatusNotFound, base, "unknown vendor")
		return
	}
	done := "acknowledge"
	switch err := p.a.cfg.Switches.Acknowledge(name, killswitch.ByStatusPage); {
	case errors.Is(err, killswitch.ErrNothingToAcknowledge):
		done = "no_incident" // a stale page: someone acknowledged or lifted it already
	case err != nil:
		p.a.cfg.Log.Error().Err(err).Str("vendor", name).Msg("acknowledge")
		done = "ack_failed"
	default:
		p.a.cfg.Log.Info().Str("vendor", name).Str("by", killswitch.ByStatusPage).Msg("incident acknowledged")
	}
	http.Redirect(w, r, base+"/?done="+done+"&vendor="+name+"#vendor-"+name, http.StatusSeeOther)
}

func (p *statusPage) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", statusCSP)
	// same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with the
	// form's POST (Fetch, "append a request Origin header"), and the cross-site rule needs the
	// real one from browsers without Sec-Fetch-Site. Referer still never leaves the origin.
	h.Set("Referrer-Policy", "same-origin")
}

// refuse answers with a short HTML page holding msg (a fixed text) and a link back.
func (p *statusPage) refuse(w http.ResponseWriter, status int, base, msg string) {
	p.headers(w)
	w.WriteHeader(status)
	_ = refuseTemplate.Execute(w, map[string]any{"Base": base, "Message": msg, "CSS": template.CSS(statusCSS)})
}

var refuseTemplate = template.Must(template.New("refuse").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hookbridge</title><style>{{.CSS}}</style></head>
<body><main><p class="notice failed">{{.Message}}</p><p><a href="{{.Base}}/">Back to the status page</a></p></main></body></html>
`))

// formatWhenPtr is formatWhen of a time that may be absent.
func formatWhenPtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return formatWhen(*t, now)
}

// formatSeconds renders a duration in seconds as "3d 4h", "5m 2s" or "12s".
func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// formatWhen renders a time for the page: "never" for zero, else UTC and how long ago.
func formatWhen(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	var ago string
	switch {
	case d < 0:
		ago = "just now"
	case d < time.Minute:
		ago = fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		ago = fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		ago = fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		ago = fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago + ")"
}
