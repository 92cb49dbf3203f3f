package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/client"
)

// TestFirstSetThroughEachFollower is issue 14's user, 20 times in a row:
// start a fresh cluster with the README's three commands (the seed's
// flags, so the default election timeout, heartbeat and fsync; only the
// host is 127.0.0.1, the ports come from the kernel and the data
// directories are the test's), poll GET /status of every node until any
// of them names a leader, and at once send one set through each follower.
// Each set is one HTTP request with no retry, and must succeed: a follower
// may not answer no_leader because the leader's API address has not reached
// it yet. (kvservice's TestFollowerServesOnceLeaderKnown checks the same
// rule in one process with short timeouts, where the race detector sees
// the server.)
func TestFirstSetThroughEachFollower(t *testing.T) {
	for round := range 20 {
		firstSetRound(t, round)
	}
}

func firstSetRound(t *testing.T, round int) {
	t.Helper()
	ports := freePorts(t, 6)
	var raftAddrs []string
	for i := range 3 {
		raftAddrs = append(raftAddrs, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
	}
	members := strings.Join(raftAddrs, ",")
	dir := t.TempDir()
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("---- round %d: log of %s ----\n%s", round, p.name, p.log())
			}
		}
	}()
	for i := range 3 {
		name := fmt.Sprint("node", i)
		p := &proc{t: t, name: name, raftPort: ports[2*i], apiPort: ports[2*i+1],
			dataDir: filepath.Join(dir, name), logPath: filepath.Join(dir, name+".log")}
		// The README's command for node<i>, nothing added but --data-dir.
		p.args = []string{"--id", name, "--host", "127.0.0.1", "--port", strconv.Itoa(p.raftPort),
			"--cluster", members, "--api-port", strconv.Itoa(p.apiPort)}
		procs = append(procs, p)
		p.start()
	}

	// Poll as a user does, but tightly (every 5 ms, so that the sets
	// follow the first report of a leader closely): stop at the first
	// node whose /status names one.
	var leader string
	deadline := time.Now().Add(2 * time.Minute)
	for leader == "" {
		if time.Now().After(deadline) {
			t.Fatalf("round %d: no node reported a leader within 2 minutes", round)
		}
		for _, p := range procs {
			if st, err := status(p); err == nil && st.Leader != "" {
				leader = st.Leader
				break
			}
		}
		if leader == "" {
			time.Sleep(5 * time.Millisecond) // the poll's interval, not a wait for state
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	followers := 0
	for i, p := range procs {
		if p.name == leader {
			continue
		}
		followers++
		wg.Go(func() {
			// One request, no retry: Client.Do goes to another endpoint
			// only when it cannot connect, and this one has one endpoint.
			cl, err := client.New([]string{p.api()}, time.Minute)
			if err == nil {
				_, err = cl.Put(context.Background(), fmt.Sprint("k", i), "v")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if followers != 2 {
		t.Fatalf("round %d: leader %q is not one of the three nodes", round, leader)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("round %d: the first set through follower %s (leader %s) failed: %v", round, procs[i].name, leader, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
