package storagetest_test

import (
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/storagetest"
)

func TestMemoryStorageConformance(t *testing.T) {
	storagetest.RunConformance(t, func(*testing.T) raft.LogStore { return raft.NewMemoryStorage() })
}
