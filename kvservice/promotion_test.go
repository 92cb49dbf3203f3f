package kvservice

import (
	"testing"

	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
)

// The promotion rule: a learner that joined to stay one is never promoted;
// one too far behind waits; the first caught-up one is promoted with its
// member record as the change's context.
func TestPromotion(t *testing.T) {
	members := map[uint64]fsm.Member{
		4: {Name: "replica", RaftID: 4, StayLearner: true},
		5: {Name: "node5", RaftID: 5},
		6: {Name: "node6", RaftID: 6},
	}
	member := func(id uint64) (fsm.Member, bool) { m, ok := members[id]; return m, ok }
	st := raft.Status{LastIndex: 1000, Config: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4, 5, 6}},
		Progress: map[uint64]raft.Progress{4: {Match: 1000}, 5: {Match: 1000 - PromoteLag - 1}, 6: {Match: 1000 - PromoteLag}}}
	cc, ok := Promotion(st, member)
	if !ok || cc.Type != raft.ConfChangeAddVoter || cc.NodeID != 6 {
		t.Fatalf("promotion %+v %v, want AddVoter of 6", cc, ok)
	}
	if got, want := string(cc.Context), string(MemberContext(members[6])); got != want {
		t.Errorf("context %q, want the member record %q", got, want)
	}
	st.Progress[6] = raft.Progress{Match: 0}
	if cc, ok := Promotion(st, member); ok {
		t.Errorf("promoted %d: the one caught-up learner stays a learner, the others are behind", cc.NodeID)
	}
}
