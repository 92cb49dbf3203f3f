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
		{"ForgetVote/ElectionSafety", Options{Bugs: Bugs{ForgetVote: true}, skipVoteCheck: true, tune: func(p *params, nw *Network) {
			p.crashRate, p.maxDown, p.preVote, p.checkQuorum = 0.2, 3, false, false
			nw.DelayRate, nw.LongDelayRate, nw.LongDelay = 0.5, 0.2, 10
		}}, PropElectionSafety},
		{"SendBeforePersist", Options{Bugs: Bugs{SendBeforePersist: true}}, ""},
		{"InflateCommit", Options{Bugs: Bugs{InflateCommit: true}}, ""},
		{"LoseCommit", Options{Bugs: Bugs{LoseCommit: true}}, PropCommitDurability},
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
