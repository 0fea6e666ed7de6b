package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// Sessions lists and drops a device account's sessions on the embedded broker; nil when the
// embedded broker does not run.
type Sessions interface {
	// DeviceSessions returns the sessions of the device account username, connected or kept for
	// a later reconnect; ErrUnknownDevice when no device account has that name.
	DeviceSessions(username string) ([]Session, error)
	// DropDeviceSessions disconnects and forgets the account's session with clientID, or all of
	// its sessions when clientID is "", and returns how many it dropped; ErrUnknownDevice when no
	// device account has that name. An unknown client id drops nothing (0, nil). Errors are
	// logged: they must not hold the client id, which devices choose and which can be personal.
	DropDeviceSessions(username, clientID string) (int, error)
}

// Session is one MQTT session of a device account, as the admin API shows it.
type Session struct {
	ClientID      string `json:"client_id"`
	Connected     bool   `json:"connected"`
	Persistent    bool   `json:"persistent"`
	Subscriptions int    `json:"subscriptions"`
	// ExpiresAt is when a disconnected persistent session is forgotten; nil while connected or
	// for a session that ends with its connection.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// WhatSessionsDropped is the audit record's what when an operator dropped a device's sessions.
const WhatSessionsDropped = "sessions_dropped"

// ErrUnknownDevice reports that no device account has the given username. Sessions
// implementations return it (wrapped or not); the admin API answers 404.
var ErrUnknownDevice = errors.New("unknown device account")

// errNoBroker reports that the session routes have no Sessions to ask.
var errNoBroker = errors.New("embedded broker not running")

// listSessions serves GET /api/devices/{username}/sessions.
func (a *Admin) listSessions(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("username")
	if a.cfg.Sessions == nil {
		a.sessionsError(w, user, errNoBroker)
		return
	}
	sessions, err := a.cfg.Sessions.DeviceSessions(user)
	if err != nil {
		a.sessionsError(w, user, err)
		return
	}
	if sessions == nil {
		sessions = []Session{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"device": user, "sessions": sessions})
}

// dropAllSessions serves DELETE /api/devices/{username}/sessions: every session of the account.
func (a *Admin) dropAllSessions(w http.ResponseWriter, r *http.Request) {
	a.dropSessions(w, r.PathValue("username"), "", true)
}

// dropOneSession serves DELETE /api/devices/{username}/sessions/{client_id}. The client id is
// one path segment, path-escaped: "/" as %2F, "%" as %25, and the ids "." and ".." as %2E and
// %2E%2E (an unescaped dot segment is cleaned away before routing). An empty segment matches no
// route (404), and is refused here too, so a stray trailing slash never drops every session.
func (a *Admin) dropOneSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("client_id")
	if id == "" {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no client id"})
		return
	}
	a.dropSessions(w, r.PathValue("username"), id, false)
}

// dropSessions drops the account's session clientID, or all of them. The log line names the
// account and the count, never a client id: devices choose them, and they can be personal (a
// phone's name).
func (a *Admin) dropSessions(w http.ResponseWriter, user, clientID string, all bool) {
	if a.cfg.Sessions == nil {
		a.sessionsError(w, user, errNoBroker)
		return
	}
	n, err := a.cfg.Sessions.DropDeviceSessions(user, clientID)
	if err != nil {
		a.sessionsError(w, user, err)
		return
	}
	a.cfg.Log.Info().Str("device", user).Int("dropped", n).Bool("all", all).Msg("device sessions dropped")
	if a.cfg.Notes != nil {
		// The account's name is configuration; the client id is the device's and may be
		// personal, so it stays out.
		which := "one session"
		if all {
			which = "all sessions"
		}
		err := a.cfg.Notes.Note(audit.Action{Kind: audit.KindAdmin, By: killswitch.ByAPI, What: WhatSessionsDropped,
			Detail: fmt.Sprintf("device account %s: %s asked, %d dropped", user, which, n)})
		if err != nil {
			a.cfg.Log.Error().Err(err).Str("device", user).Msg("could not write an audit record")
		}
	}
	WriteJSON(w, http.StatusOK, map[string]int{"dropped": n})
}

// sessionsError answers a session route's error: 503 without the embedded broker, 404 for an
// unknown account, 500 (logged) for anything else.
func (a *Admin) sessionsError(w http.ResponseWriter, user string, err error) {
	switch {
	case errors.Is(err, errNoBroker):
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": errNoBroker.Error()})
	case errors.Is(err, ErrUnknownDevice):
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": ErrUnknownDevice.Error()})
	default:
		a.cfg.Log.Error().Err(err).Str("device", user).Msg("device sessions")
		WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not read or change the device's sessions"})
	}
}
