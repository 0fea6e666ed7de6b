package broker

import (
	"context"
	"log/slog"
	"strings"

	"github.com/rs/zerolog"
)

// NewSlog returns a *slog.Logger that writes through a zerolog logger, for libraries that want one.
func NewSlog(log zerolog.Logger) *slog.Logger {
	return slog.New(&slogHandler{log: log})
}

type slogHandler struct {
	log   zerolog.Logger
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
	ev := h.log.WithLevel(zerologLevel(r.Level))
	add := func(a slog.Attr) bool {
		if a.Key == "packet" || a.Key == "pk" {
			return true // packets hold payloads; never log them
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		switch v := a.Value.Any().(type) {
		case error:
			ev = ev.Str(key, v.Error()) // zerolog would marshal most errors as {}
		case string:
			if a.Key == "client" {
				v = strings.ReplaceAll(v, sessionSep, "/") // a session id: account/client id
			}
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
