// Command raftkvctl is the command-line client and admin tool of raftkv,
// in the manner of etcdctl:
//
//	raftkvctl put k v            raftkvctl get k [--read-mode stale]
//	raftkvctl del k              raftkvctl cas k old new
//	raftkvctl status             raftkvctl members list|add|remove
//	raftkvctl leader transfer [node2]
//	raftkvctl bench --clients 1,8,32,128      raftkvctl bench failover --pid-dir DIR
//
// --endpoints is a comma-separated list of API addresses; a request moves to
// the next endpoint only when the current one cannot be connected to.
// -o json prints the API's JSON answers.
package main
