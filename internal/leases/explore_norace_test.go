//go:build !race

package leases

const raceEnabled = false
