//go:build race

package leases

// raceEnabled lowers the exploration's bounds: the race detector slows
// it about tenfold.
const raceEnabled = true
