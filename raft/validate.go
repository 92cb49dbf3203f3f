package raft

import (
	"fmt"
	"slices"
)

// maxWireValue bounds every term and index a message may carry. No real
// cluster gets near it (a new term every nanosecond would take 292 years),
// and it keeps every "+1" the core does on a received term or index (a
// campaign's Term+1, a snapshot's Index+1, an append's Index+len) from
// wrapping around to 0.
const maxWireValue = 1<<63 - 1

// checkMessage returns why m, received from the network, breaks an
// invariant that no genuine peer ever breaks, or "" if it does not. Such a
// message is dropped before it changes anything (RawNode.Step): before
// this check a forged or corrupted one reached an invariant panic of the
// core (a heartbeat's commit beyond the last index: "tocommit out of
// range"), so two forged packets could stop two nodes of three.
//
// A message is never "repaired": a heartbeat's commit is clamped to
// nothing, because a commit index is only safe up to what the leader knows
// this log matches. A genuine leader sends min(match, committed), which is
// never beyond this log's end, so a larger one is forged, corrupt, or aimed
// at a log that lost acknowledged entries, and in each case acting on it
// would be wrong.
//
// What is deliberately not checked, to keep Raft's semantics (and so
// etcd raft's, which does not check these either):
//   - requests from nodes outside the configuration: a node being added
//     hears from a leader it does not know of yet, a learner being added
//     gets a vote request before its promotion is applied, and a removed
//     node's vote request is answered with our term. Responses from nodes
//     without progress are refused before this check (ErrStepPeerNotFound).
//   - an append's commit beyond the entries it carries: the leader sends
//     its whole commit index, and the follower commits only up to the last
//     entry the append verified (§5.3, Figure 2 receiver rule 5).
//   - a read-index answer beyond this log's end: the leader's commit index
//     may be ahead of this node; the read waits until it is applied.
func (r *raft) checkMessage(m Message) string {
	if m.From == None {
		return "from is 0"
	}
	// Forwarded requests keep their original sender, which may be this
	// node (a read this node forwarded that came back after a leader
	// change; a transfer to the node that is the leader).
	if m.From == r.id && m.Type != MsgReadIndex && m.Type != MsgTransferLeader {
		return "from is this node"
	}
	switch m.Type {
	case MsgProp, MsgReadIndex, MsgTransferLeader:
		// Forwarded requests carry no term (send leaves it 0): a term
		// would make a follower that forwards it again panic in send.
		if m.Term != 0 {
			return fmt.Sprintf("a forwarded %s carries term %d", m.Type, m.Term)
		}
	default:
		// Term 0 means "local message" to Step; from the network it would
		// bypass the term rules (a vote answered with term 0 panics in
		// send, a response would reach the leader as its own).
		if m.Term == 0 {
			return "term is 0"
		}
	}
	for _, v := range [...]struct {
		name string
		v    uint64
	}{{"term", m.Term}, {"log term", m.LogTerm}, {"index", m.Index}, {"commit", m.Commit}, {"reject hint", m.RejectHint}} {
		if v.v > maxWireValue {
			return fmt.Sprintf("%s %d is out of range", v.name, v.v)
		}
	}

	switch m.Type {
	case MsgApp:
		if m.LogTerm > m.Term {
			return fmt.Sprintf("previous entry's term %d is ahead of the message term %d", m.LogTerm, m.Term)
		}
		return checkEntries(m.Index, m.LogTerm, m.Term, m.Entries)
	case MsgHeartbeat:
		if last := r.raftLog.lastIndex(); m.Commit > last {
			return fmt.Sprintf("commit %d is beyond the last index %d (a leader sends at most what it knows this log holds; if the sender is the leader, this node's log lost entries it acknowledged)", m.Commit, last)
		}
	case MsgSnap:
		return checkSnapshot(m)
	case MsgVote, MsgPreVote:
		if m.LogTerm > m.Term {
			return fmt.Sprintf("candidate's last term %d is ahead of the election term %d", m.LogTerm, m.Term)
		}
	case MsgAppResp:
		if m.LogTerm > m.Term {
			return fmt.Sprintf("hint term %d is ahead of the sender's term %d", m.LogTerm, m.Term)
		}
		if m.Reject && m.RejectHint > m.Index {
			return fmt.Sprintf("reject hint %d is beyond the rejected index %d", m.RejectHint, m.Index)
		}
		// Only a leader of the same term acts on the index; within its
		// term its log only grows and it never sent beyond its end.
		if r.state == StateLeader && m.Term == r.Term {
			if last := r.raftLog.lastIndex(); m.Index > last {
				return fmt.Sprintf("index %d is beyond the leader's last index %d", m.Index, last)
			}
		}
	case MsgHeartbeatResp:
		// The index echoes the tick the leader sent the heartbeat at.
		if r.state == StateLeader && m.Term == r.Term && m.Index > r.ticks {
			return fmt.Sprintf("echoed tick %d is ahead of the leader's tick %d", m.Index, r.ticks)
		}
	case MsgProp:
		if len(m.Entries) == 0 {
			return "proposal without entries"
		}
		for i := range m.Entries {
			if why := checkEntryPayload(m.Entries[i]); why != "" {
				return fmt.Sprintf("proposed entry %d: %s", i, why)
			}
		}
	}
	return ""
}

// checkEntries checks an append's entries the way etcd raft's logSlice
// does: they follow the entry (index, logTerm) contiguously, their terms do
// not decrease, and none is ahead of the leader's term; and each is of a
// known type (an unknown one would stop the node when applied).
func checkEntries(index, logTerm, term uint64, ents []Entry) string {
	if uint64(len(ents)) > maxWireValue-index {
		return fmt.Sprintf("%d entries after index %d overflow", len(ents), index)
	}
	prevIndex, prevTerm := index, logTerm
	for i := range ents {
		e := &ents[i]
		switch {
		case e.Index != prevIndex+1:
			return fmt.Sprintf("entry %d follows entry %d: entries are not contiguous", e.Index, prevIndex)
		case e.Term == 0 || e.Term < prevTerm:
			return fmt.Sprintf("entry %d has term %d, below the previous entry's term %d", e.Index, e.Term, prevTerm)
		case e.Term > term:
			return fmt.Sprintf("entry %d has term %d, ahead of the message term %d", e.Index, e.Term, term)
		}
		if why := checkEntryPayload(*e); why != "" {
			return fmt.Sprintf("entry %d: %s", e.Index, why)
		}
		prevIndex, prevTerm = e.Index, e.Term
	}
	return ""
}

// checkEntryPayload checks what the application will decode: the type, and
// for a configuration change, that it decodes and names a node.
func checkEntryPayload(e Entry) string {
	switch e.Type {
	case EntryNormal:
		return ""
	case EntryConfChange:
		var cc ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Sprintf("malformed configuration change: %v", err)
		}
		if cc.NodeID == None {
			return "configuration change for node 0"
		}
		return ""
	}
	return fmt.Sprintf("unknown entry type %d", uint8(e.Type))
}

// checkSnapshot checks a MsgSnap's metadata: an index and a term (not ahead
// of the sender's), and a configuration with at least one voter, no node 0
// and no node twice.
func checkSnapshot(m Message) string {
	if m.Snapshot == nil {
		return "snapshot message without a snapshot"
	}
	md := m.Snapshot.Metadata
	switch {
	case md.Index == 0:
		return "snapshot index is 0"
	case md.Index > maxWireValue:
		return fmt.Sprintf("snapshot index %d is out of range", md.Index)
	case md.Term == 0:
		return "snapshot term is 0"
	case md.Term > m.Term:
		return fmt.Sprintf("snapshot term %d is ahead of the message term %d", md.Term, m.Term)
	case len(md.ConfState.Voters) == 0:
		return "snapshot configuration has no voter"
	}
	ids := append(slices.Clone(md.ConfState.Voters), md.ConfState.Learners...)
	slices.Sort(ids)
	for i, id := range ids {
		if id == None {
			return "snapshot configuration names node 0"
		}
		if i > 0 && ids[i-1] == id {
			return fmt.Sprintf("snapshot configuration names node %x twice", id)
		}
	}
	return ""
}
