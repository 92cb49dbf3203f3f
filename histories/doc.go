// Package histories defines raftkv's history format: a versioned JSONL log
// of client operations (invoke, ok, fail, info) and nemesis events, written
// as a run happens and re-checkable offline. It also converts histories to
// and from Jepsen's EDN.
//
// Contract:
//   - A history file is a Header line followed by one Event per line.
//     Recorder writes it as it happens: each event is handed to the writer
//     in one Write call (and flushed) before Record returns, in the order
//     Record was called, so a crash keeps every recorded event.
//   - Read is strict: it refuses a major Version it does not know, and it
//     reports the line numbers of malformed lines (together with the good
//     events) rather than skipping them silently. Unknown JSON fields are
//     accepted, since minor versions may add fields.
//   - A client process has at most one operation outstanding: Pair matches
//     each invoke with the next completion of its process. An operation
//     without a completion counts as info: it may or may not have happened.
//   - Fault windows run from a nemesis Start event to the Stop event of the
//     same fault name (FaultWindows); a window still open at the end of the
//     history ends with it.
//   - ReadEDN imports Jepsen register histories (single register or
//     independent [key value] tuples) with a small EDN reader (ParseEDN);
//     WriteEDN exports a history in Jepsen's history.edn shape, and ReadEDN
//     reads it back unchanged (nemesis events come back with Process 0).
package histories
