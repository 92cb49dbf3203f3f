package kvservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/kvservice/api"
)

// getStatus reads GET /status of a server over HTTP.
func getStatus(t *testing.T, s *Server) (api.Status, map[string]json.RawMessage) {
	t.Helper()
	resp, err := http.Get("http://" + s.APIAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(raw)
	var st api.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st, raw
}

// TestStatusElectionTimer checks the election timer in GET /status of real
// nodes (ticks of 50ms, election timeout 500ms): a follower's randomized
// timeout is in [500ms, 1000ms), the leader's check-quorum round is 500ms,
// and a follower cut off from the leader shows its timer running.
func TestStatusElectionTimer(t *testing.T) {
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{fmt.Sprint("node", i), a})
	}
	dir := t.TempDir()
	var srvs []*Server
	t.Cleanup(func() {
		for _, s := range srvs {
			s.Close()
		}
	})
	for _, p := range peers {
		cfg := testConfig(p.Name, p.RaftAddr, filepath.Join(dir, p.Name), peers)
		cfg.EnableFaults = true
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
		srvs = append(srvs, s)
	}
	var leader *Server
	var followers []*Server
	waitFor(t, "a leader", func() bool {
		leader, followers = nil, nil
		for _, s := range srvs {
			switch s.Status().Role {
			case "leader":
				leader = s
			case "follower":
				followers = append(followers, s)
			}
		}
		return leader != nil && len(followers) == 2
	})

	st, raw := getStatus(t, leader)
	for _, k := range []string{"election_elapsed_ms", "election_timeout_ms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET /status of the leader has no %s: %v", k, raw)
		}
	}
	if st.ElectionTimeoutMS != 500 || st.ElectionElapsedMS < 0 || st.ElectionElapsedMS >= 500 || st.ElectionElapsedMS%50 != 0 {
		t.Errorf("leader timer %d/%dms, want elapsed a multiple of 50 in [0, 500) of 500", st.ElectionElapsedMS, st.ElectionTimeoutMS)
	}
	f := followers[0]
	st, _ = getStatus(t, f)
	if st.Role != "follower" || st.ElectionTimeoutMS < 500 || st.ElectionTimeoutMS >= 1000 || st.ElectionTimeoutMS%50 != 0 {
		t.Errorf("follower timeout %dms (role %s), want a multiple of 50 in [500, 1000)", st.ElectionTimeoutMS, st.Role)
	}
	if st.ElectionElapsedMS < 0 || st.ElectionElapsedMS >= st.ElectionTimeoutMS {
		t.Errorf("follower elapsed %dms of %dms", st.ElectionElapsedMS, st.ElectionTimeoutMS)
	}

	// Cut the follower off from the leader: no heartbeat resets its timer,
	// which then runs for more than a few heartbeats.
	if err := f.SetNetworkFaults([]api.NetworkRule{{Peer: leader.cfg.Name, Direction: "both", Drop: true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the isolated follower's timer to run past 200ms", func() bool {
		st, _ := getStatus(t, f)
		return st.ElectionElapsedMS >= 200 && st.ElectionElapsedMS < st.ElectionTimeoutMS
	})
}
