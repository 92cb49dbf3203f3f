// Package harness runs raftkv's Jepsen-style tests: a Scenario (one YAML
// file) names a cluster backend, a workload, a nemesis schedule and the
// verdict it expects; Run starts the cluster, drives the clients and the
// faults, heals everything, waits for recovery, reads every key a last time,
// and writes the run directory store/<scenario>/<timestamp>/:
//
//	scenario.yaml    the scenario as resolved (defaults and seed filled in)
//	history.jsonl    every client operation and fault window, written as it happens
//	history.edn      the same history in Jepsen's format
//	nodes.json       each node's final /status (applied index, state hash)
//	logs/<node>.log  node logs (process backend)
//	results.json     the verdict and every check's detail
//	history.html     Porcupine's visualization (also for invalid histories)
//	timeline.html, latency.png, throughput.png, index.html
//
// The artifacts of the run are on disk before any check runs, so that a
// checker crash (recovered and recorded as an unknown verdict) still leaves
// the evidence; `harness check` re-runs the checks on a saved run.
//
// Shrink (`harness shrink`) takes an invalid simulated run, finds a smaller
// case with the same seed that is still invalid (sim.Minimize), writes it
// as shrunk.yaml and shrink.json into the run's directory and runs it; the
// shrunk run's results.json (ShrinkInfo) and report show the original and
// the shrunk schedule side by side.
package harness
