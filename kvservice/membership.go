package kvservice

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
)

// The membership rules below are the ones a raftkv node applies; the
// harness's simulation calls the same functions, so there is one copy of
// each rule.
//
// Why a raft ID names an incarnation, not a name: raft's safety rests on
// what a member persisted (its vote, its log). A member that was removed,
// wiped and started again under the same name has lost both. Were it to
// come back under its old ID, it could vote twice in a term its old self
// already voted in, receive messages meant for its old self (a heartbeat
// committing an index its empty log does not have), or restore a snapshot
// whose configuration still lists it and campaign in that stale
// configuration. So a node that joins with an empty data directory picks a
// fresh ID (NewRaftID), a removed ID is remembered (fsm tombstones) and
// never added again, and a join under the name of a member that is still
// there is refused until that member is removed (CheckJoin).

// Errors of CheckJoin. The API answers them with 409 and the codes
// api.CodeMemberExists, api.CodeRaftIDRemoved and api.CodeRaftIDInUse.
var (
	// ErrMemberExists: the name belongs to a current member under another
	// raft ID (its data directory was wiped or replaced).
	ErrMemberExists = errors.New("kvservice: the name belongs to a current member with another raft id")
	// ErrRaftIDRemoved: the raft ID was removed from the cluster; removed
	// IDs are never reused.
	ErrRaftIDRemoved = errors.New("kvservice: the raft id was removed from the cluster")
	// ErrRaftIDInUse: the raft ID belongs to a member of another name.
	ErrRaftIDInUse = errors.New("kvservice: the raft id belongs to another member")
)

// NewRaftID picks the raft ID of a new incarnation of member name: the
// FNV-1a hash of the name and a nonce drawn from nonce, cut to 53 bits
// like RaftID, never 0 (raft.None), drawn again while taken says the ID is
// in use (a current or removed member, or any ID the caller wants to
// avoid). A node draws its nonce from crypto/rand (RandomNonce); the
// simulation from its seeded source, so that a seed replays.
func NewRaftID(name string, nonce func() uint64, taken func(id uint64) bool) uint64 {
	for {
		h := fnv.New64a()
		h.Write([]byte(name))
		h.Write([]byte{0})
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], nonce())
		h.Write(b[:])
		id := h.Sum64() & (1<<53 - 1)
		if id != raft.None && (taken == nil || !taken(id)) {
			return id
		}
	}
}

// RandomNonce is NewRaftID's nonce source on a real node.
func RandomNonce() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("kvservice: crypto/rand: %v", err)) // never fails on supported platforms
	}
	return binary.BigEndian.Uint64(b[:])
}

// MemberView is what a leader knows when it judges a join: the raft
// configuration, the names of its members (from the replicated member
// table and the static configuration) and the removed IDs.
type MemberView struct {
	Conf raft.ConfState
	// Name names a raft ID of Conf ("" when unknown).
	Name func(id uint64) string
	// Removed reports a removed raft ID and the name it had.
	Removed func(id uint64) (string, bool)
}

// CheckJoin is the rule a leader applies to a request to add member name
// under raft ID id: member is true when id is already that member (the
// request only updates its addresses). It refuses (ErrRaftIDRemoved) an ID
// that was removed, whatever the name; (ErrRaftIDInUse) an ID that a
// member of another name has; and (ErrMemberExists) a new ID for a name
// that is still a member: that is a node whose data was wiped or replaced,
// and the old member must be removed first.
func CheckJoin(v MemberView, name string, id uint64) (member bool, err error) {
	if id == raft.None {
		return false, fmt.Errorf("%w: raft id 0", ErrBadConfig)
	}
	if old, gone := v.Removed(id); gone {
		return false, fmt.Errorf("%w: raft id %x (member %q) was removed and is never reused; start %q with an empty data directory and --join, and it picks a new raft id",
			ErrRaftIDRemoved, id, old, name)
	}
	ids := slices.Concat(v.Conf.Voters, v.Conf.Learners)
	if slices.Contains(ids, id) {
		if other := v.Name(id); other != "" && other != name {
			return false, fmt.Errorf("%w: raft id %x is member %q, not %q", ErrRaftIDInUse, id, other, name)
		}
		return true, nil
	}
	for _, x := range ids {
		if v.Name(x) == name {
			return false, fmt.Errorf("%w: %q is still a member under raft id %x, and a node with new data (raft id %x) cannot join under its name: "+
				"remove the old member first (raftkvctl members remove %s, or DELETE /cluster/members/%s), then join again",
				ErrMemberExists, name, x, id, name, name)
		}
	}
	return false, nil
}

// MemberContext is the Context of a conf change that adds m: the member
// table learns its name and addresses when the change is applied.
func MemberContext(m fsm.Member) []byte {
	b, _ := json.Marshal(m) // a struct of strings, numbers and a bool
	return b
}

// RecordConfChange updates the member table f for an applied conf change:
// an added member's metadata comes from the change's Context (when it
// names the same ID), and a removed member leaves a tombstone under the
// name nameOf gives it (used when the table has none). It runs on every
// replica at the same point of the log, so the tables agree.
func RecordConfChange(f *fsm.FSM, cc raft.ConfChange, nameOf func(id uint64) string) error {
	switch cc.Type {
	case raft.ConfChangeAddVoter, raft.ConfChangeAddLearner:
		if len(cc.Context) == 0 {
			return nil
		}
		var m fsm.Member
		if err := json.Unmarshal(cc.Context, &m); err != nil || m.RaftID != cc.NodeID {
			return fmt.Errorf("conf change for %x with an unreadable context: %v", cc.NodeID, err)
		}
		f.SetMember(m)
	case raft.ConfChangeRemoveNode:
		f.RemoveMember(cc.NodeID, nameOf(cc.NodeID))
	}
	return nil
}

// DropFromRemoved reports whether a received message must be dropped
// because its sender is a removed raft ID (a process of a removed member
// that still runs, or a message that was in flight): such a sender has no
// say in the cluster any more, and the raft core is better not asked to
// make sense of it.
func DropFromRemoved(f *fsm.FSM, m raft.Message) bool {
	_, gone := f.Removed(m.From)
	return gone
}
