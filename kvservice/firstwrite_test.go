package kvservice

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/client"
)

// TestFollowerServesOnceLeaderKnown starts fresh three-node clusters and,
// the moment any node reports a leader, writes through every follower: a
// follower must not answer no_leader merely because the leader's API
// address has not reached it yet (issue 14). It does this 20 times in a
// row (3 with -short).
func TestFollowerServesOnceLeaderKnown(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		firstWriteRound(t, round)
	}
}

func firstWriteRound(t *testing.T, round int) {
	t.Helper()
	peers := testPeers(t, 3)
	dir := t.TempDir()
	var srvs []*Server
	defer func() {
		for _, s := range srvs {
			s.Close()
		}
	}()
	for _, p := range peers {
		s, err := Start(context.Background(), testConfig(p.Name, p.RaftAddr, filepath.Join(dir, p.Name), peers))
		if err != nil {
			t.Fatalf("round %d: start %s: %v", round, p.Name, err)
		}
		srvs = append(srvs, s)
	}
	// Poll exactly as a user polls /status: stop at the first node that
	// names a leader.
	var leader string
	waitFor(t, "a leader", func() bool {
		for _, s := range srvs {
			if l := s.Status().Leader; l != "" {
				leader = l
				return true
			}
		}
		return false
	})
	ctx := context.Background()
	for i, s := range srvs {
		if s.cfg.Name == leader {
			continue
		}
		cl, _ := client.New([]string{s.APIAddr()}, 10*time.Second)
		if _, err := cl.Put(ctx, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatalf("round %d: first put through follower %s (leader %s): %v", round, s.cfg.Name, leader, err)
		}
	}
}
