//go:build !race

package oneproc

const raceEnabled = false
