package rafttest

import (
	"errors"
	"testing"
)

// TestCheckerCatchesInjectedBugs injects deliberately broken behaviour into
// the simulated system and requires that the safety checker reports a
// safety violation for some seed of a small sweep. A checker that never
// fails is a defect.
func TestCheckerCatchesInjectedBugs(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string // a specific property, or "" for any safety property
	}{
		{"ForgetVote", Options{Bugs: Bugs{ForgetVote: true}}, ""},
		// Without the vote check, two leaders in one term must show.
		// Short, frequent crashes and slow vote requests make it likely.
		{"ForgetVote/ElectionSafety", Options{Nodes: 3, Bugs: Bugs{ForgetVote: true}, skipVoteCheck: true, tune: func(p *params, nw *Network) {
			p.crashRate, p.maxDown, p.preVote, p.checkQuorum, p.confRate, p.readRate = 0.2, 3, false, false, 0, 0
			nw.DelayRate, nw.LongDelayRate, nw.LongDelay = 0.5, 0.2, 10
		}}, PropElectionSafety},
		// Crashes inside Ready handling are what expose it.
		{"SendBeforePersist", Options{Bugs: Bugs{SendBeforePersist: true}, tune: func(p *params, _ *Network) {
			p.crashInReady, p.maxDown = 0.05, 5
		}}, ""},
		{"InflateCommit", Options{Bugs: Bugs{InflateCommit: true}}, ""},
		{"LoseCommit", Options{Bugs: Bugs{LoseCommit: true}}, PropCommitDurability},
		// Not a bug of the core but the documented hazard of lease reads:
		// when clocks run at different rates a deposed leader may still
		// trust its lease. The read checker must see the stale read.
		{"LeaseReadsUnderClockDrift", Options{LeaseReads: true, tune: func(p *params, nw *Network) {
			p.tickSkip, p.readRate, p.partitionRate, p.crashRate, p.confRate = 0.8, 0.5, 0.1, 0, 0
		}}, PropLinearizableRead},
	}
	const sweep = 300
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for seed := uint64(1); seed <= sweep; seed++ {
				_, err := Run(seed, tc.opts)
				var v *Violation
				if errors.As(err, &v) && v.IsSafety() && (tc.want == "" || v.Property == tc.want) {
					t.Logf("caught at seed %d: %v", seed, v)
					return
				}
			}
			t.Fatalf("no %q safety violation in %d seeds with bugs %+v", tc.want, sweep, tc.opts.Bugs)
		})
	}
}
