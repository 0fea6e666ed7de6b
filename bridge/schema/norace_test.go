//go:build !race

package schema_test

// raceEnabled reports whether the race detector is on: it changes what escapes to the heap, so
// allocation counts mean nothing then.
const raceEnabled = false
