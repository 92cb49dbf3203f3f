package nemesis_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/raftkv/raftkv/nemesis"
)

// TestHitDelaySpreadsOverTimeScales checks that leader-flap's hits stay
// within delay and land about as often in each of the three decades below
// it: as often within a message's flight of an election as a few
// heartbeats into the term.
func TestHitDelaySpreadsOverTimeScales(t *testing.T) {
	const delay = 100 * time.Millisecond
	r := rand.New(rand.NewPCG(1, 2))
	var decades [3]int
	const n = 30000
	for range n {
		d := nemesis.HitDelay(delay, r.IntN)
		if d < delay/1000 || d > delay {
			t.Fatalf("hit delay %v outside [%v, %v]", d, delay/1000, delay)
		}
		switch {
		case d < delay/100:
			decades[0]++
		case d < delay/10:
			decades[1]++
		default:
			decades[2]++
		}
	}
	for i, c := range decades {
		if c < n/4 || c > n/2 {
			t.Errorf("decade %d got %d of %d hits, want about a third: %v", i, c, n, decades)
		}
	}
	if d := nemesis.HitDelay(time.Microsecond, r.IntN); d != time.Microsecond {
		t.Errorf("HitDelay(1µs) = %v", d)
	}
}
