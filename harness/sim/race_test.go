//go:build race

package sim

// raceEnabled: the race detector makes runs ~8x slower; the tests sweep
// fewer seeds.
const raceEnabled = true
