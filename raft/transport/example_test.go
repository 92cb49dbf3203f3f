package transport_test

import (
	"fmt"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/transport"
)

// Example wires two transports together. A node would pass its driver's
// methods: Handler: node.Step, OnUnreachable: node.ReportUnreachable,
// OnSnapshotStatus: node.ReportSnapshot.
func Example() {
	got := make(chan raft.Message, 1)
	n1, err := transport.New(transport.Config{
		ID: 1, ClusterID: 0xc1, ListenAddr: "127.0.0.1:0",
		Handler: func(raft.Message) {},
	})
	if err != nil {
		panic(err)
	}
	defer n1.Close()
	n2, err := transport.New(transport.Config{
		ID: 2, ClusterID: 0xc1, ListenAddr: "127.0.0.1:0",
		Handler: func(m raft.Message) { got <- m },
	})
	if err != nil {
		panic(err)
	}
	defer n2.Close()

	n1.AddPeer(2, n2.Addr())
	n1.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 7}})
	m := <-got
	fmt.Println(m.Type, m.From, "->", m.To, "term", m.Term, "commit", m.Commit)
	// Output: MsgHeartbeat 1 -> 2 term 3 commit 7
}
