package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// The lifecycle side of the operations: the tamper-evident audit trail, the records of what people
// and Hookbridge did, incidents' timelines and their metrics.

// openTrail opens the audit trail under the data dir, keyed by the data dir's audit.KeyFile (made at
// the first start: created), logs what opening it found, and records what changed in the vendors'
// configuration since the last start.
func (a *App) openTrail(created bool) (*audit.Log, error) {
	log := a.log.With().Str("component", "audit").Logger()
	keys := a.keys
	if created {
		log.Info().Str("key", filepath.Join(a.cfg.DataDir, audit.KeyFile)).
			Msg("created the audit trail's key: keep it with backups of the data dir, the trail cannot be verified without it")
	}
	trail, err := audit.OpenLog(filepath.Join(a.cfg.DataDir, "audit"), keys)
	if err != nil {
		return nil, err
	}
	for _, r := range trail.Repairs() {
		log.Warn().Msg("audit trail: " + r)
	}
	cfg, err := a.configDigests(keys)
	if err == nil {
		var n int
		if n, err = trail.NoteConfig(time.Now(), cfg); n > 0 {
			log.Info().Int("records", n).Msg("recorded the changes to vendors, policies, schemas and secrets since the last start")
		}
	}
	if err != nil {
		trail.Close()
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return trail, nil
}

// configDigests returns what the trail remembers of each configured vendor: its policy's and
// schema's hashes and its secrets' keyed digests.
func (a *App) configDigests(keys *audit.Keys) (map[string]audit.VendorConfig, error) {
	cfgs, err := a.opts.VendorConfigs()
	if err != nil {
		return nil, err
	}
	out := map[string]audit.VendorConfig{}
	for _, c := range cfgs {
		v, ok := a.vendors[c.Name]
		if !ok {
			continue
		}
		vc := audit.VendorConfig{}
		if v.Policy != nil {
			if vc.Policy, err = policyHash(v.Policy); err != nil {
				return nil, err
			}
		}
		if cv, ok := a.cfg.Catalog.Vendor(c.Name); ok && len(cv.SchemaDoc) > 0 {
			vc.Schema = audit.Hash(cv.SchemaDoc)
		}
		for _, s := range c.Secrets {
			vc.Secrets = append(vc.Secrets, keys.SecretDigest(c.Name, s))
		}
		out[c.Name] = vc
	}
	return out, nil
}

// policyHash hashes a policy as parsed, so that comments, layout and where the file lies do not
// count as changes, and what it says does.
func policyHash(p *policy.Policy) (string, error) {
	cp := *p
	cp.File = ""
	cp.Routes = append([]policy.Route(nil), p.Routes...)
	for i := range cp.Routes {
		cp.Routes[i].Line = 0
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return "", fmt.Errorf("hash policy %s: %w", p.File, err)
	}
	return audit.Hash(data), nil
}

// watchLifecycle records each kill switch change and each step of an incident in the trail, and
// observes incidents' time to contain and to acknowledge.
func watchLifecycle(sw *killswitch.Switches, m *metrics.Metrics, trail *audit.Log, log zerolog.Logger) {
	log = log.With().Str("component", "audit").Logger()
	note := func(a audit.Action) {
		if err := trail.Note(a); err != nil {
			log.Error().Err(err).Str("vendor", a.Vendor).Str("kind", a.Kind).Msg("could not write an audit record")
		}
	}
	sw.Watch(func(vendor string, s killswitch.State) {
		note(audit.Action{Time: s.Since, Kind: audit.KindKillSwitch, Vendor: vendor, By: s.By, What: string(s.Mode), Detail: s.Reason})
	})
	sw.WatchIncidents(func(vendor string, ms killswitch.Milestone, inc killswitch.Incident) {
		a := audit.Action{Kind: audit.KindIncident, Vendor: vendor, What: string(ms)}
		switch ms {
		case killswitch.Opened:
			ttc := inc.TimeToContain()
			m.TimeToContain(vendor, ttc)
			a.Time, a.By = inc.Contained.At, inc.Contained.By
			a.Detail = fmt.Sprintf("%s (%s); detected %s by %s, time to contain %s", inc.Cause, inc.Reason,
				inc.Detected.At.UTC().Format(time.RFC3339), inc.Detected.By, ttc.Round(time.Second))
			if d, ok := inc.TimeToAcknowledge(); ok { // a person's disable acknowledges it
				m.TimeToAcknowledge(vendor, d)
			}
		case killswitch.Alerted:
			a.Time, a.By = inc.Alerted.At, inc.Alerted.By
		case killswitch.Acknowledged:
			d, _ := inc.TimeToAcknowledge()
			m.TimeToAcknowledge(vendor, d)
			a.Time, a.By = inc.Acknowledged.At, inc.Acknowledged.By
			a.Detail = fmt.Sprintf("time to acknowledge %s", d.Round(time.Second))
		case killswitch.Lifted:
			a.Time, a.By = inc.Lifted.At, inc.Lifted.By
			a.Detail = fmt.Sprintf("open for %s", inc.Lifted.At.Sub(inc.Detected.At).Round(time.Second))
		}
		note(a)
	})
}

// lifecycleRoutes adds the routes of the trail's verification, of incidents and of offboarding to
// the admin listener:
//
//	GET  /api/audit/verify                the trail verified, with its newest records: audit.Report
//	GET  /api/vendors/{name}/timeline     the vendor's incidents, newest first
//	POST /api/vendors/{name}/acknowledge  a person is on the vendor's open incident (409 if none)
//	POST /api/vendors/{name}/offboard     offboard the vendor: admin.Offboarding (404 if unknown)
func lifecycleRoutes(adm *admin.Admin, a *App, trail *audit.Log, log zerolog.Logger) {
	sw := a.switches
	adm.Handle("GET /api/audit/verify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := trail.Verify()
		if err != nil {
			log.Error().Err(err).Str("component", "audit").Msg("audit verify")
			writeError(w, http.StatusInternalServerError, "could not read the audit trail")
			return
		}
		admin.WriteJSON(w, http.StatusOK, rep)
	}))
	timeline := func(w http.ResponseWriter, status int, name string) {
		tl, ok := sw.Timeline(name, time.Now())
		if !ok {
			writeError(w, http.StatusNotFound, "unknown vendor")
			return
		}
		admin.WriteJSON(w, status, map[string]any{"vendor": name, "incidents": tl})
	}
	adm.Handle("GET /api/vendors/{name}/timeline", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeline(w, http.StatusOK, r.PathValue("name"))
	}))
	adm.Handle("POST /api/vendors/{name}/acknowledge", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		switch err := sw.Acknowledge(name, killswitch.ByAPI); {
		case errors.Is(err, killswitch.ErrUnknownVendor):
			writeError(w, http.StatusNotFound, "unknown vendor")
		case errors.Is(err, killswitch.ErrNothingToAcknowledge):
			writeError(w, http.StatusConflict, err.Error())
		case err != nil:
			log.Error().Err(err).Str("vendor", name).Msg("acknowledge")
			writeError(w, http.StatusInternalServerError, "could not record the acknowledgement")
		default:
			log.Info().Str("vendor", name).Str("by", killswitch.ByAPI).Msg("incident acknowledged")
			timeline(w, http.StatusOK, name)
		}
	}))
	adm.Handle("POST /api/vendors/{name}/offboard", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		rep, err := a.Offboard(name, killswitch.ByAPI)
		switch {
		case errors.Is(err, ErrNotConfigured):
			writeError(w, http.StatusNotFound, "unknown vendor")
		case err != nil:
			log.Error().Err(err).Str("vendor", name).Msg("offboard")
			writeError(w, http.StatusInternalServerError, "offboarding did not finish (see the log); asking again finishes it")
		default:
			admin.WriteJSON(w, http.StatusOK, rep)
		}
	}))
}
