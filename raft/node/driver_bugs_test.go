//go:build raftkv_bugs

package node

import (
	"testing"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/raft"
)

// The driver's durability bugs change which messages leave before the
// Ready's write: an append's acknowledgement (ack-before-fsync) and a vote
// (vote-not-durable). Off, neither may leave early.
func TestBugEarlyAcknowledgements(t *testing.T) {
	t.Cleanup(func() { _ = bugs.Enable() })
	cases := []struct {
		bug bugs.ID
		msg raft.MessageType
	}{
		{bugs.AckBeforeFsync, raft.MsgAppResp},
		{bugs.VoteNotDurable, raft.MsgVoteResp},
		{bugs.VoteNotDurable, raft.MsgPreVoteResp},
	}
	for _, c := range cases {
		m := raft.Message{Type: c.msg, Term: 3}
		if err := bugs.Enable(); err != nil {
			t.Fatal(err)
		}
		if MayLeaveEarly(m, 3, false) {
			t.Errorf("%s left early with no bug on", c.msg)
		}
		if err := bugs.Enable(c.bug); err != nil {
			t.Fatal(err)
		}
		if !MayLeaveEarly(m, 3, false) {
			t.Errorf("%s: %s still waits for the write", c.bug, c.msg)
		}
	}
}
