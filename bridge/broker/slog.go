package broker

import (
	"context"
	"log/slog"
	"time"

	"github.com/rs/zerolog"
)

// NewSlog returns a *slog.Logger that writes through a zerolog logger, for libraries that want one.
// It never writes a client id or a packet: an attribute "client" (mochi logs a client's id under
// it) becomes the account, for a session id, and a keyed digest of the id, "client_ref" (see
// clientRefs; NewSlog's key is its own); "packet", "pk" and "will" (which hold payloads and
// topics) are left out. A warning or error is written at most once a minute per message and
// account, with how many were held back since ("suppressed"): mochi logs some for every packet
// or message ("client store quota reached" for each message a full session cannot queue, "error
// processing packet" for each malformed one), which a client could otherwise turn into a flood.
func NewSlog(log zerolog.Logger) *slog.Logger {
	return newSlog(log, newClientRefs(), newLogLimiter(time.Minute))
}

// newSlog is NewSlog with the broker's refs, so that mochi's lines and the broker's own give a
// session the same ref, and the broker's limiter.
func newSlog(log zerolog.Logger, refs *clientRefs, limit *logLimiter) *slog.Logger {
	return slog.New(&slogHandler{log: log, refs: refs, limit: limit})
}

type slogHandler struct {
	log   zerolog.Logger
	refs  *clientRefs
	limit *logLimiter
	attrs []slog.Attr
	group string
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= zerologLevel(l)
}

func zerologLevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.InfoLevel
	}
	return zerolog.DebugLevel
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	var suppressed int64
	if r.Level >= slog.LevelWarn {
		account := ""
		find := func(a slog.Attr) bool {
			if a.Key == "client" {
				account, _, _ = splitSessionID(a.Value.String())
				return false
			}
			return true
		}
		for _, a := range h.attrs {
			find(a)
		}
		r.Attrs(find)
		ok, n := h.limit.allow("mochi\x00" + r.Message + "\x00" + account)
		if !ok {
			return nil
		}
		suppressed = n
	}
	ev := h.log.WithLevel(zerologLevel(r.Level))
	add := func(a slog.Attr) bool {
		switch a.Key {
		case "packet", "pk", "will":
			return true // packets and Wills hold payloads; never log them
		}
		prefix := ""
		if h.group != "" {
			prefix = h.group + "."
		}
		if a.Key == "client" { // a session id, or a client's own id before it got one
			id := a.Value.String()
			if account, _, ok := splitSessionID(id); ok {
				ev = ev.Str(prefix+"account", account)
			}
			ev = ev.Str(prefix+"client_ref", h.refs.of(id))
			return true
		}
		key := prefix + a.Key
		switch v := a.Value.Any().(type) {
		case error:
			ev = ev.Str(key, v.Error()) // zerolog would marshal most errors as {}
		case string:
			ev = ev.Str(key, v)
		default:
			ev = ev.Interface(key, v)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if suppressed > 0 {
		ev = ev.Int64("suppressed", suppressed)
	}
	ev.Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.group = name
	return &n
}
