package kvservice

import (
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// untrustedDataDir turns the reasons a data directory cannot be trusted
// into ErrCorruptData errors that say what is wrong, which file, and how to
// recover; it returns nil for other errors. A node refused this way has
// written nothing.
//
// The recovery is the same for every case: the node's log is lost or
// damaged, so it must not vote or acknowledge as the member it was (it
// could help elect a leader missing writes it acknowledged). Removing the
// member and joining it again with an empty data directory makes it a new
// member that copies the log from the leader; restoring the whole data
// directory as it was (raft.db, raft.db.snap/ and identity.json from the
// same moment) is the other way, when a copy that recent exists.
func untrustedDataDir(name, dir string, err error) error {
	hint := fmt.Sprintf("refusing to start; to recover, remove this member (raftkvctl members remove %s) and join it again with an empty data directory (raftkv --join), or restore the complete data directory %s from a copy taken while the node was stopped", name, dir)
	switch {
	case errors.Is(err, boltstore.ErrNoState):
		return fmt.Errorf("%w: %v, but %s says this node is member %q: its raft log was lost, and starting with an empty log could elect a leader missing writes it acknowledged (%s)",
			ErrCorruptData, err, identityFile, name, hint)
	case errors.Is(err, boltstore.ErrCorrupt), errors.Is(err, raft.ErrCorruptStorage):
		return fmt.Errorf("%w: %v (%s)", ErrCorruptData, err, hint)
	}
	return nil
}
