package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// Learning gives what learn mode recorded about a vendor's events, and drafts from it.
type Learning interface {
	// Learnt returns what was learnt about a vendor's events; nil, nil when nothing was.
	Learnt(vendor string) (*learn.Structure, error)
	// Draft drafts the vendor's schema and policy; draft.ErrNothingLearnt when nothing was
	// learnt.
	Draft(vendor string) (*draft.Draft, error)
}

// Learnt is what learn mode recorded about a vendor's events, as the admin API and the status
// page show it: paths, types, counts, formats, identifier marks and qualified enum candidates;
// never another value. The learnt structure itself is never encoded here: only its Fields.
type Learnt struct {
	Vendor string `json:"vendor"`
	Mode   string `json:"mode"`
	// Events is how many verified events were learnt from.
	Events uint64 `json:"events"`
	// Types are the event types learnt by name, with how many events had each.
	Types []learn.TypeCount `json:"types"`
	// Overflow counts what the learning limits kept out.
	Overflow learn.Overflow `json:"overflow"`
	// Fields are the learnt paths, in pointer order.
	Fields []learn.Field `json:"fields"`
	// DraftCommand is the command that writes the draft.
	DraftCommand string `json:"draft_command"`
}

// DraftAnswer is a drafted policy and schema, as GET /api/vendors/{name}/draft answers and
// `hookbridge draft` writes them.
type DraftAnswer struct {
	Vendor string `json:"vendor"`
	// PolicyPath and SchemaPath are where the files go under the output directory:
	// policies/{vendor}.yaml and schemas/{schema name}.
	PolicyPath string `json:"policy_path"`
	SchemaPath string `json:"schema_path"`
	SchemaName string `json:"schema_name"`
	// Policy and Schema are the files' contents.
	Policy string `json:"policy"`
	Schema string `json:"schema"`
	// Warnings are what `hookbridge check` will say of the draft: its placeholders.
	Warnings []string `json:"warnings"`
}

// NewDraftAnswer returns the answer for a draft.
func NewDraftAnswer(d *draft.Draft) DraftAnswer {
	a := DraftAnswer{Vendor: d.Vendor, PolicyPath: d.PolicyPath, SchemaPath: d.SchemaPath, SchemaName: d.SchemaName,
		Policy: string(d.Policy), Schema: string(d.Schema), Warnings: []string{}}
	for _, w := range d.Warnings {
		a.Warnings = append(a.Warnings, w.String())
	}
	return a
}

// Draft returns the draft an answer holds, to write it.
func (a DraftAnswer) Draft() *draft.Draft {
	return &draft.Draft{Vendor: a.Vendor, SchemaName: a.SchemaName, PolicyPath: a.PolicyPath, SchemaPath: a.SchemaPath,
		Policy: []byte(a.Policy), Schema: []byte(a.Schema)}
}

// DraftCommand is the command line that drafts a vendor's schema and policy.
func DraftCommand(name string) string { return "hookbridge draft " + name + " --out DIR" }

// learnt returns a configured vendor's learnt view; ok is false when nothing was learnt.
func (a *Admin) learnt(name string) (Learnt, bool, error) {
	v, known := a.cfg.Vendors[name]
	if !known || a.cfg.Learning == nil {
		return Learnt{}, false, nil
	}
	s, err := a.cfg.Learning.Learnt(name)
	if err != nil || s == nil {
		return Learnt{}, false, err
	}
	mode := v.Mode
	if mode == "" {
		mode = vendor.ModeLive
	}
	l := Learnt{Vendor: name, Mode: string(mode), Events: s.Events, Types: s.Types, Overflow: s.Overflow,
		Fields: s.Fields(), DraftCommand: DraftCommand(name)}
	if l.Types == nil {
		l.Types = []learn.TypeCount{}
	}
	if l.Fields == nil {
		l.Fields = []learn.Field{}
	}
	return l, true, nil
}

// getLearnt serves GET /api/vendors/{name}/learnt: what learn mode recorded.
func (a *Admin) getLearnt(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.cfg.Vendors[name]; !ok {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown vendor"})
		return
	}
	l, ok, err := a.learnt(name)
	switch {
	case err != nil:
		a.cfg.Log.Error().Err(err).Str("vendor", name).Msg("learnt structure")
		WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not read what was learnt; see the log"})
	case !ok:
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "nothing learnt yet: set the vendor's mode to learn and let it send events"})
	default:
		WriteJSON(w, http.StatusOK, l)
	}
}

// getDraft serves GET /api/vendors/{name}/draft: the drafted policy and schema as JSON
// (DraftAnswer), or one of the files to download with ?file=policy or ?file=schema.
func (a *Admin) getDraft(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.cfg.Vendors[name]; !ok {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown vendor"})
		return
	}
	file := r.URL.Query().Get("file")
	if file != "" && file != "policy" && file != "schema" {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "file must be policy or schema"})
		return
	}
	if a.cfg.Learning == nil {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": draft.ErrNothingLearnt.Error()})
		return
	}
	d, err := a.cfg.Learning.Draft(name)
	switch {
	case errors.Is(err, draft.ErrNothingLearnt):
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "nothing learnt yet: set the vendor's mode to learn and let it send events"})
		return
	case err != nil:
		a.cfg.Log.Error().Err(err).Str("vendor", name).Msg("draft")
		WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not draft; see the log"})
		return
	}
	switch file {
	case "policy":
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.yaml"`)
		w.WriteHeader(http.StatusOK)
		w.Write(d.Policy)
	case "schema":
		w.Header().Set("Content-Type", "application/schema+json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+lastElem(d.SchemaPath)+`"`)
		w.WriteHeader(http.StatusOK)
		w.Write(d.Schema)
	default:
		WriteJSON(w, http.StatusOK, NewDraftAnswer(d))
	}
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
