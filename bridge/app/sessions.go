package app

import (
	"errors"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/bridge/broker"
)

// deviceSessions gives the admin API the embedded broker's device sessions; nil when the embedded
// broker does not run.
func deviceSessions(b *broker.Broker) admin.Sessions {
	if b == nil {
		return nil
	}
	return sessions{b}
}

// sessions adapts the broker's sessions to the admin API's.
type sessions struct{ b *broker.Broker }

func (s sessions) DeviceSessions(username string) ([]admin.Session, error) {
	list, err := s.b.Sessions(username)
	if errors.Is(err, broker.ErrUnknownAccount) {
		return nil, admin.ErrUnknownDevice
	}
	if err != nil {
		return nil, err
	}
	out := make([]admin.Session, 0, len(list))
	for _, si := range list {
		as := admin.Session{ClientID: si.ClientID, Connected: si.Connected, Persistent: si.Persistent, Subscriptions: si.Subscriptions}
		if !si.ExpiresAt.IsZero() {
			at := si.ExpiresAt
			as.ExpiresAt = &at
		}
		out = append(out, as)
	}
	return out, nil
}

func (s sessions) DropDeviceSessions(username, clientID string) (int, error) {
	n, err := s.b.DropSessions(username, clientID)
	if errors.Is(err, broker.ErrUnknownAccount) {
		return 0, admin.ErrUnknownDevice
	}
	return n, err
}
