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
package main
