package sim

import (
	"context"
	"flag"
	"testing"
	"time"
)

var exploreFile = flag.String("explore", "", "scenario file")
var exploreN = flag.Int("explore.n", 10, "seeds")

func TestExplore(t *testing.T) {
	if *exploreFile == "" {
		t.Skip()
	}
	cfg, err := LoadConfig(*exploreFile)
	if err != nil {
		t.Fatal(err)
	}
	var seeds []int64
	for i := 1; i <= *exploreN; i++ {
		seeds = append(seeds, int64(i))
	}
	st := Sweep(context.Background(), cfg, seeds, 2, time.Minute, func(o SeedOutcome) {
		t.Logf("seed %d %s ops %d sim %v wall %v %v err %v", o.Seed, o.Verdict, o.Ops, o.SimTime, o.Wall, o.Reasons, o.Err)
	})
	t.Log(st)
}
