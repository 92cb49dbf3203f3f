package nodesource_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/nodesource"
)

func u64(v uint64) *uint64 { return &v }

func members() api.MembersResponse {
	return api.MembersResponse{Members: []api.Member{
		{ID: "node0", RaftID: 11, APIAddr: "127.0.0.1:1", Voter: true, Match: u64(9)},
		{ID: "node1", RaftID: 12, APIAddr: "127.0.0.1:2", Voter: true, Match: u64(7)},
		{ID: "node2", RaftID: 13, APIAddr: "127.0.0.1:3", Voter: false, Match: u64(3)},
	}}
}

func leaderStatus() api.Status {
	return api.Status{ID: "node0", RaftID: 11, Role: "leader", Term: 5, Vote: 11, Leader: "node0", LeaderRaftID: 11,
		Commit: 9, Applied: 9, LastIndex: 9, Members: members().Members, StateHash: "abc", ReadMode: "linearizable"}
}

func TestNewNeedsStatusAndMembers(t *testing.T) {
	if _, err := nodesource.New(nodesource.Config{Status: leaderStatus}); !errors.Is(err, nodesource.ErrIncomplete) {
		t.Fatalf("New without Members: %v", err)
	}
}

func TestStatusWithRaftProgressAndFaults(t *testing.T) {
	src, err := nodesource.New(nodesource.Config{
		Status: leaderStatus, Members: members,
		Faults: func() api.FaultState {
			return api.FaultState{Network: []api.NetworkRule{{Peer: "node1", Direction: "both", Drop: true}},
				Clock: &api.ClockFault{OffsetMS: 250, Rate: 1}}
		},
		RaftStatus: func() raft.Status {
			st := raft.Status{Progress: map[uint64]raft.Progress{
				11: {Match: 9, Next: 10, State: raft.ProgressReplicate, RecentActive: true},
				12: {Match: 7, Next: 8, State: raft.ProgressProbe},
				13: {Match: 3, Next: 4, State: raft.ProgressSnapshot, IsLearner: true},
			}}
			st.RaftState = raft.StateLeader
			return st
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := src.Status()
	if st.ID != "node0" || st.Role != "leader" || st.Term != 5 || st.Commit != 9 || !st.FaultInjection || !src.FaultInjection() {
		t.Fatalf("status = %+v", st)
	}
	want := map[string]ui.Progress{
		"node0": {Match: 9, Next: 10, State: "replicate", RecentActive: true},
		"node1": {Match: 7, Next: 8, State: "probe"},
		"node2": {Match: 3, Next: 4, State: "snapshot", Learner: true},
	}
	for id, p := range want {
		if st.Progress[id] != p {
			t.Errorf("progress[%s] = %+v, want %+v", id, st.Progress[id], p)
		}
	}
	if len(st.Network) != 1 || st.Network[0].Peer != "node1" || !st.Network[0].Drop || st.Clock == nil || st.Clock.OffsetMS != 250 {
		t.Errorf("faults = %+v %+v", st.Network, st.Clock)
	}
	if ms := src.Members(); len(ms) != 3 || ms[2].ID != "node2" || ms[2].Voter || ms[1].APIAddr != "127.0.0.1:2" {
		t.Errorf("members = %+v", ms)
	}
}

func TestStatusFallsBackToMatch(t *testing.T) {
	src, err := nodesource.New(nodesource.Config{Status: leaderStatus, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	st := src.Status()
	if st.ElectionTimeoutMS != 0 || st.LeaderContactMS != 0 {
		t.Errorf("timers without Timers: %+v", st)
	}
	src, _ = nodesource.New(nodesource.Config{Status: leaderStatus, Members: members,
		Timers: func() (time.Duration, time.Duration, time.Duration) {
			return 300 * time.Millisecond, time.Second, 40 * time.Millisecond
		}})
	if st := src.Status(); st.ElectionElapsedMS != 300 || st.ElectionTimeoutMS != 1000 || st.LeaderContactMS != 40 {
		t.Errorf("timers = %d/%d, contact %d", st.ElectionElapsedMS, st.ElectionTimeoutMS, st.LeaderContactMS)
	}
	if st.FaultInjection || st.Progress["node1"].Match != 7 || st.Progress["node1"].Next != 0 {
		t.Fatalf("progress = %+v", st.Progress)
	}
	follower := func() api.Status { s := leaderStatus(); s.Role = "follower"; return s }
	src, _ = nodesource.New(nodesource.Config{Status: follower, Members: members})
	if p := src.Status().Progress; p != nil {
		t.Errorf("a follower reports progress %+v", p)
	}
}

func TestEventsNameMembers(t *testing.T) {
	var fn func(node.Event)
	cancelled := false
	src, err := nodesource.New(nodesource.Config{Status: leaderStatus, Members: members,
		Subscribe: func(f func(node.Event)) func() { fn = f; return func() { cancelled = true } }})
	if err != nil {
		t.Fatal(err)
	}
	var got []ui.Event
	cancel := src.Subscribe(func(ev ui.Event) { got = append(got, ev) })
	now := time.Now()
	fn(node.Event{Type: node.EventLeaderChanged, Time: now, Node: 11, Term: 6, Leader: 12, Role: raft.StateFollower})
	fn(node.Event{Type: node.EventConfChangeApplied, Node: 11, Term: 6, Leader: 12, Index: 40,
		ConfChange: raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: 13}, ConfState: raft.ConfState{Voters: []uint64{11, 12}}})
	fn(node.Event{Type: node.EventLeaderChanged, Node: 11, Term: 7, Leader: raft.None})
	cancel()
	if !cancelled {
		t.Errorf("cancel not passed on")
	}
	if len(got) != 3 {
		t.Fatalf("events = %+v", got)
	}
	if e := got[0]; e.Type != ui.EventLeaderChanged || e.Node != "node0" || e.Leader != "node1" || e.Term != 6 || e.Role != "follower" || !e.Time.Equal(now) {
		t.Errorf("leader event = %+v", e)
	}
	if e := got[1]; e.Type != ui.EventConfChangeApplied || e.Index != 40 || !strings.Contains(e.Detail, "RemoveNode node2") || !strings.Contains(e.Detail, "voters [node0 node1]") {
		t.Errorf("conf change event = %+v", e)
	}
	if e := got[2]; e.Leader != "" {
		t.Errorf("no-leader event = %+v", e)
	}
}

// TestServesTheLiveUI mounts the UI in front of an API handler, as the
// node server does.
func TestServesTheLiveUI(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	src, err := nodesource.New(nodesource.Config{Status: leaderStatus, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	live := ui.Register(eng, src)
	defer live.Close()
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	ts := httptest.NewServer(ui.Mount(apiHandler, eng))
	defer ts.Close()
	for path, want := range map[string]int{"/": 200, ui.StatusPath: 200, "/ui/static/app.js": 200, "/status": 418, "/command": 418} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
