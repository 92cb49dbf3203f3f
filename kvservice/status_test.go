package kvservice

import (
	"context"
	"encoding/json"
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
	peers := testPeers(t, 3)
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
	// The leader's and a follower's GET /status, each read while its role
	// is still the one the checks below assume: on a busy machine (500 ms
	// election timeout) a term can change between finding the leader and
	// reading its status, and a leader's timer is not a follower's.
	var leader, f *Server
	var ls, fs api.Status
	var lraw map[string]json.RawMessage
	waitFor(t, "a leader's and a follower's status in one term", func() bool {
		leader, f = nil, nil
		for _, s := range srvs {
			switch s.Status().Role {
			case "leader":
				leader = s
			case "follower":
				f = s
			}
		}
		if leader == nil || f == nil {
			return false
		}
		ls, lraw = getStatus(t, leader)
		fs, _ = getStatus(t, f)
		return ls.Role == "leader" && fs.Role == "follower" && ls.Term == fs.Term
	})

	for _, k := range []string{"election_elapsed_ms", "election_timeout_ms"} {
		if _, ok := lraw[k]; !ok {
			t.Errorf("GET /status of the leader has no %s: %v", k, lraw)
		}
	}
	if st := ls; st.ElectionTimeoutMS != 500 || st.ElectionElapsedMS < 0 || st.ElectionElapsedMS >= 500 || st.ElectionElapsedMS%50 != 0 {
		t.Errorf("leader timer %d/%dms, want elapsed a multiple of 50 in [0, 500) of 500", st.ElectionElapsedMS, st.ElectionTimeoutMS)
	}
	if st := fs; st.ElectionTimeoutMS < 500 || st.ElectionTimeoutMS >= 1000 || st.ElectionTimeoutMS%50 != 0 {
		t.Errorf("follower timeout %dms (role %s), want a multiple of 50 in [500, 1000)", st.ElectionTimeoutMS, st.Role)
	}
	if st := fs; st.ElectionElapsedMS < 0 || st.ElectionElapsedMS >= st.ElectionTimeoutMS {
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
