package main

import (
	"context"

	"github.com/hookbridge/hookbridge/addon/admin"
)

// startHA starts the Home Assistant side: MQTT discovery, availability, the kill-switch command
// topics and the status page. It runs after the receiver is built and before the admin listener
// serves.
func (a *app) startHA(ctx context.Context, f *flags, adm *admin.Admin) error {
	return nil
}
