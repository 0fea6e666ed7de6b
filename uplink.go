package main

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// uplink is a publisher to a broker outside the process.
type uplink interface {
	publish.Publisher
	Connected() bool
	Close() error
}

// startUplink connects to the broker the options name (broker: supervisor or external).
func startUplink(ctx context.Context, f *flags, o *options.Options, st *store.Store, log zerolog.Logger) (uplink, error) {
	return nil, errors.New("broker modes supervisor and external are not available yet")
}
