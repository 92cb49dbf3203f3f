package kvservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/transport"
)

// syncBuffer is a log sink the test can read while the servers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func leaderOf(t *testing.T, srvs []*Server) *Server {
	t.Helper()
	var l *Server
	waitFor(t, "a leader", func() bool {
		for _, s := range srvs {
			if s != nil && s.Leader().Self {
				l = s
				return true
			}
		}
		return false
	})
	return l
}

// TestRejoinGetsNewRaftID: a member removed, wiped and started again with
// --join under the same name is a new incarnation with a new raft ID; the
// old ID is remembered as removed on every replica and never added again; a
// join under a name that is still a member is refused with the remedy in
// the message; a message addressed to the old incarnation does not reach the
// new one, and one sent by the old ID is dropped.
func TestRejoinGetsNewRaftID(t *testing.T) {
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{fmt.Sprint("node", i), a})
	}
	dir := t.TempDir()
	logs := &syncBuffer{}
	srvs := make([]*Server, 3)
	defer func() {
		for _, s := range srvs {
			if s != nil {
				s.Close()
			}
		}
	}()
	for i, p := range peers {
		cfg := testConfig(p.Name, p.RaftAddr, filepath.Join(dir, p.Name), peers)
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
		srvs[i] = s
	}
	waitFor(t, "all ready", func() bool {
		for _, s := range srvs {
			if ok, _ := s.Ready(); !ok {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	leader := leaderOf(t, srvs)
	victim := 0
	for srvs[victim] == leader {
		victim++
	}
	old := srvs[victim]
	name := old.Name()
	oldID := old.Status().RaftID
	if oldID != RaftID(name) {
		t.Fatalf("initial member %s has raft id %x, want the name's %x", name, oldID, RaftID(name))
	}
	cl, _ := client.New([]string{leader.APIAddr()}, 5*time.Second)
	if _, err := cl.Put(ctx, "before", "1"); err != nil {
		t.Fatal(err)
	}

	// Remove, stop and wipe the victim.
	if err := leader.RemoveMember(ctx, name); err != nil {
		t.Fatalf("remove %s: %v", name, err)
	}
	old.Close()
	srvs[victim] = nil
	if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	for _, s := range srvs {
		if s == nil {
			continue
		}
		waitFor(t, "the tombstone on "+s.Name(), func() bool {
			n, ok := s.fsm.Removed(oldID)
			return ok && n == name
		})
	}

	// The removed ID is never added again, under its name or another.
	for _, who := range []string{name, "node9"} {
		_, err := leader.AddMember(ctx, api.AddMemberRequest{ID: who, RaftID: oldID, RaftAddr: addrs[victim], APIAddr: "127.0.0.1:1"})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeRaftIDRemoved || !strings.Contains(ae.Message, "never reused") {
			t.Fatalf("re-adding removed raft id %x as %s: %v", oldID, who, err)
		}
	}
	// A request without a raft id cannot add a new member.
	if _, err := leader.AddMember(ctx, api.AddMemberRequest{ID: "node9", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"}); err == nil || !strings.Contains(err.Error(), "--join") {
		t.Fatalf("adding without a raft id: %v", err)
	}

	// A network fault set by name on another member while the victim is
	// gone must cut off its next incarnation too.
	cutter := 0
	for cutter == victim || srvs[cutter] == leader {
		cutter++
	}
	if err := srvs[cutter].SetNetworkFaults([]api.NetworkRule{{Peer: name, Direction: "in", Drop: true}}); err != nil {
		t.Fatalf("fault on %s naming %s: %v", srvs[cutter].Name(), name, err)
	}

	// The victim joins again, empty, under the same name. (Its old raft
	// port may meanwhile be some connection's local port: a fresh one.)
	jcfg := testConfig(name, freeAddrs(t, 1)[0], filepath.Join(dir, name), nil)
	jcfg.Join = "http://" + leader.APIAddr()
	jcfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	fresh, err := Start(ctx, jcfg)
	if err != nil {
		t.Fatalf("rejoin %s: %v", name, err)
	}
	srvs[victim] = fresh
	newID := fresh.Status().RaftID
	if newID == oldID || newID == raft.None || newID >= 1<<53 {
		t.Fatalf("rejoined %s has raft id %x (old %x)", name, newID, oldID)
	}
	waitFor(t, "the fault naming "+name+" covers its new raft id", func() bool {
		for _, r := range srvs[cutter].tr.Faults() {
			if r.Peer == newID && r.Drop && r.Direction == transport.In {
				return true
			}
		}
		return false
	})
	srvs[cutter].ClearNetworkFaults()
	ident, ok, err := readIdentity(filepath.Join(dir, name))
	if !ok || err != nil || ident.RaftID != newID {
		t.Fatalf("identity.json after the join: %+v %v %v, want raft id %x", ident, ok, err, newID)
	}
	waitFor(t, "the rejoined node has the data", func() bool {
		v, ok, _ := fresh.fsm.Get("before")
		return ok && v == "1"
	})
	waitFor(t, "the rejoined node is a voter", func() bool {
		for _, m := range leader.Members().Members {
			if m.ID == name && m.RaftID == newID && m.Voter {
				return true
			}
		}
		return false
	})
	fcl, _ := client.New([]string{fresh.APIAddr()}, 5*time.Second)
	if _, err := fcl.Put(ctx, "after", "2"); err != nil {
		t.Fatalf("write through the rejoined node: %v", err)
	}

	// A join under a current member's name with new data is refused, and
	// the node does not start.
	other := 0
	for other == victim || srvs[other] == leader {
		other++
	}
	otherName := srvs[other].Name()
	_, err = leader.AddMember(ctx, api.AddMemberRequest{ID: otherName, RaftID: NewRaftID(otherName, RandomNonce, nil), RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeMemberExists || ae.Status != 409 ||
		!strings.Contains(ae.Message, "remove the old member first") || !strings.Contains(ae.Message, "raftkvctl members remove "+otherName) {
		t.Fatalf("join under the name of member %s: %v", otherName, err)
	}
	ccfg := testConfig(otherName, freeAddrs(t, 1)[0], t.TempDir(), nil)
	ccfg.Join = "http://" + fresh.APIAddr() // through a follower: forwarded
	ccfg.memberExistsWait = time.Millisecond
	if s, err := Start(ctx, ccfg); err == nil || !errors.Is(err, ErrMemberExists) || errors.Is(err, ErrWrongCluster) ||
		!strings.Contains(err.Error(), "remove the old member first") || strings.Count(err.Error(), ErrMemberExists.Error()) != 1 {
		if s != nil {
			s.Close()
		}
		t.Fatalf("starting a second %s with new data: %v", otherName, err)
	}

	// A stale heartbeat addressed to the old incarnation (commit far
	// beyond the new one's log when it was empty): the dialer reached a
	// node with another raft ID, and the transport refuses it.
	before := fresh.tr.Stats().InboundRejected
	tr, err := transport.New(transport.Config{ID: leader.id, ClusterID: leader.ClusterID(), ListenAddr: "127.0.0.1:0", Handler: func(raft.Message) {}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.AddPeer(oldID, fresh.RaftAddr())
	waitFor(t, "the stale connection refused", func() bool {
		tr.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: leader.id, To: oldID, Term: leader.Status().Term, Commit: 73}})
		return fresh.tr.Stats().InboundRejected > before
	})

	// A message from the removed ID (here an append of a much higher term,
	// which would depose the leader) is dropped and logged.
	term := leader.Status().Term
	ghost, err := transport.New(transport.Config{ID: oldID, ClusterID: leader.ClusterID(), ListenAddr: "127.0.0.1:0", Handler: func(raft.Message) {}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	ghost.AddPeer(leader.id, leader.RaftAddr())
	waitFor(t, "the removed sender dropped", func() bool {
		ghost.Send([]raft.Message{{Type: raft.MsgApp, From: oldID, To: leader.id, Term: term + 100, LogTerm: term + 100, Index: 1 << 20, Commit: 1 << 20}})
		return strings.Contains(logs.String(), "dropping messages from a removed member")
	})
	if got := leader.Status().Term; got >= term+100 {
		t.Fatalf("the leader took the removed member's term: %d", got)
	}
	if _, err := cl.Put(ctx, "end", "3"); err != nil {
		t.Fatalf("write after the ghost's messages: %v", err)
	}
}
