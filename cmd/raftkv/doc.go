// Command raftkv runs one node of a raftkv cluster: the raft log in bbolt,
// the TCP raft transport and the HTTP API (docs/api.md).
//
//	raftkv --id node0 --host localhost --port 7000 \
//	       --cluster "localhost:7000,localhost:7001,localhost:7002" --api-port 8000
//
// The i-th --cluster entry is named node<i> (entries may also be written
// name=host:port); --id must name the entry whose address is --host:--port.
// A node started with --join http://host:apiport and an empty data
// directory asks that cluster to add it instead of bootstrapping.
//
// Every exit leaves its reason on stderr: SIGINT, SIGTERM and SIGHUP stop
// the node cleanly and log which signal it got, an error logs itself, a
// crash prints every goroutine's stack, and the last line says "raftkv
// exiting" with the code. SIGPIPE is ignored: a node whose stderr reader
// went away keeps serving rather than dying without a word. Only SIGKILL
// (kill -9, the OOM killer) leaves nothing; the harness's process backend
// records such exits itself (node_events.json, node_health).
package main
