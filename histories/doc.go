// Package histories defines raftkv's history format: a versioned JSONL log
// of client operations (invoke, ok, fail, info) and nemesis events, written
// as a run happens and re-checkable offline. It also converts histories to
// Porcupine operations and to and from Jepsen's EDN.
package histories
