package kvservice

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
	"github.com/raftkv/raftkv/raft/lazystore"
)

// TestLazySyncNode: a node started with LazySync runs on a lazystore over
// its bbolt file, serves writes and reads, and after a clean Close (which
// writes what was held in memory) restarts with its data.
func TestLazySyncNode(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	peers := []Peer{{"node0", addr}}
	cfg := testConfig("node0", addr, filepath.Join(t.TempDir(), "node0"), peers)
	cfg.NoSync = false
	cfg.LazySync = true
	ctx := context.Background()

	start := func() *Server {
		t.Helper()
		s, err := Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		if _, ok := s.store.(*lazystore.Store); !ok {
			s.Close()
			t.Fatalf("LazySync: the log store is a %T, not a *lazystore.Store", s.store)
		}
		waitFor(t, "ready", func() bool { ok, _ := s.Ready(); return ok })
		return s
	}
	s := start()
	cl, _ := client.New([]string{s.APIAddr()}, 5*time.Second)
	for _, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
		if _, err := cl.Put(ctx, kv[0], kv[1]); err != nil {
			s.Close()
			t.Fatalf("put %s=%s: %v", kv[0], kv[1], err)
		}
	}
	if r, err := cl.Get(ctx, "a", api.ReadLinearizable); err != nil || r.Value == nil || *r.Value != "3" {
		s.Close()
		t.Fatalf("get a: %+v %v", r, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = start()
	defer s.Close()
	cl, _ = client.New([]string{s.APIAddr()}, 5*time.Second)
	for k, want := range map[string]string{"a": "3", "b": "2"} {
		if r, err := cl.Get(ctx, k, api.ReadLinearizable); err != nil || r.Value == nil || *r.Value != want {
			t.Fatalf("after restart, get %s: %+v %v (want %s)", k, r, err, want)
		}
	}
}
