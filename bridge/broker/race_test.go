//go:build race

package broker

// raceEnabled reports whether the race detector is on: it slows the broker's per-message work
// several times more than an fsync, so latency ratios mean nothing then.
const raceEnabled = true
