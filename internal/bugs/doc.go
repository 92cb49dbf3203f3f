// Package bugs is raftkv's catalogue of realistic, deliberately planted
// bugs: the mutants with which the harness proves its own power (`harness
// mutate`). Each entry names a Raft or KV rule and a small change in the real
// code path that breaks it; the code path asks On(ID) at the place where the
// change is made.
//
// The catalogue is compiled in only under the build tag raftkv_bugs. In the
// default build On is a constant false, so the compiler removes every planted
// branch: a production binary or image cannot switch a bug on, whatever its
// flags say (Enable returns ErrNotBuilt). Under the tag a bug is still off
// until a node is started with --unsafe-bug NAME (or a scenario's `bugs:`
// field asks the harness to pass it), and it stays on for the whole process:
// in the simulation, for every simulated node.
//
// Descriptions are part of both builds, so that tools can list the catalogue
// and say which build a bug needs.
package bugs
