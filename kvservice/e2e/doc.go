// Package e2e holds raftkv's end-to-end tests: they build cmd/raftkv and
// cmd/raftkvctl once (in TestMain), run real node processes on 127.0.0.1
// with ports from the kernel, and exercise the cluster through its HTTP API
// and the CLI: writes and reads through every node, kill -9 of the leader and
// of every node under load, catch-up by snapshot, joining and removing
// members, leadership transfer, bad input, refusal of foreign or corrupt
// data directories, and the first set through each follower of a fresh
// cluster started with the README's commands. The package has no non-test
// code.
package e2e
