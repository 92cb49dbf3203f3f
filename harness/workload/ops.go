package workload

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/histories"
)

// This file is the clients' logic that does not depend on how a request
// travels: which operations to run, how an answer becomes a completion,
// and when a write is sent again. The real workload (Workload) and the
// simulation's clients (harness/sim) both use it, so that they choose and
// record operations the same way.

// Known is what the clients know of each key's value (the last value seen
// or written), from which a cas takes its expected value.
type Known interface {
	Load(key string) (string, bool)
	Store(key, value string)
	Delete(key string)
}

// KnownMap is a Known for one goroutine (the simulation's clients).
type KnownMap map[string]string

// Load returns the value known for key.
func (m KnownMap) Load(key string) (string, bool) { v, ok := m[key]; return v, ok }

// Store records value as key's.
func (m KnownMap) Store(key, value string) { m[key] = value }

// Delete forgets key.
func (m KnownMap) Delete(key string) { delete(m, key) }

// syncKnown is a Known shared by concurrent clients.
type syncKnown struct{ m sync.Map }

func (k *syncKnown) Load(key string) (string, bool) {
	v, ok := k.m.Load(key)
	if !ok {
		return "", false
	}
	return v.(string), true
}
func (k *syncKnown) Store(key, value string) { k.m.Store(key, value) }
func (k *syncKnown) Delete(key string)       { k.m.Delete(key) }

// The API edge cases that Mix.Edge weighs, chosen uniformly. Each is one
// or two commands on one key, run back to back by one client.
const (
	// EdgePutEmpty writes the empty value (present, but empty: a get must
	// say found with "", a cas expecting "" must match it).
	EdgePutEmpty = "put-empty"
	// EdgeCasNeverWritten is a cas whose expected value was never written:
	// it can never succeed (the key may well be missing).
	EdgeCasNeverWritten = "cas-never-written"
	// EdgeCasEmpty is a cas expecting the empty value: it succeeds only on
	// a key that holds "", never on a missing key.
	EdgeCasEmpty = "cas-empty"
	// EdgeDeleteThenCas deletes the key, then tries a cas from the value it
	// held: it must fail unless another client wrote that value back.
	EdgeDeleteThenCas = "delete-then-cas"
	// EdgePutEmptyThenCas writes "", then a cas from "" to a new value.
	EdgePutEmptyThenCas = "put-empty-then-cas"
)

// EdgeCases lists the edge cases in the order Pick draws them.
var EdgeCases = []string{EdgePutEmpty, EdgeCasNeverWritten, EdgeCasEmpty, EdgeDeleteThenCas, EdgePutEmptyThenCas}

// Pick chooses what a client does with key in one go: one operation drawn
// from the mix, or (weight m.Edge) one of the EdgeCases. value returns a
// fresh unique value each call; readMode goes with every get; known gives
// a cas its expected value ("none" for a key never seen, a value that is
// never written).
func (m Mix) Pick(rng *rand.Rand, key, readMode string, value func() string, known Known) []nodeapi.Command {
	get := func() nodeapi.Command { return nodeapi.Command{Operation: "get", Key: key, ReadMode: readMode} }
	set := func(v string) nodeapi.Command { return nodeapi.Command{Operation: "set", Key: key, Value: &v} }
	del := func() nodeapi.Command { return nodeapi.Command{Operation: "delete", Key: key} }
	cas := func(exp, v string) nodeapi.Command {
		return nodeapi.Command{Operation: "cas", Key: key, Value: &v, Expected: &exp}
	}
	expected := func() string {
		if v, ok := known.Load(key); ok {
			return v
		}
		return "none"
	}
	r := rng.IntN(m.total())
	switch {
	case r < m.Get:
		return []nodeapi.Command{get()}
	case r < m.Get+m.Put:
		return []nodeapi.Command{set(value())}
	case r < m.Get+m.Put+m.Delete:
		return []nodeapi.Command{del()}
	case r < m.Get+m.Put+m.Delete+m.Cas:
		return []nodeapi.Command{cas(expected(), value())}
	}
	switch EdgeCases[rng.IntN(len(EdgeCases))] {
	case EdgePutEmpty:
		return []nodeapi.Command{set("")}
	case EdgeCasNeverWritten:
		return []nodeapi.Command{cas("never-"+value(), value())}
	case EdgeCasEmpty:
		return []nodeapi.Command{cas("", value())}
	case EdgeDeleteThenCas:
		return []nodeapi.Command{del(), cas(expected(), value())}
	default: // EdgePutEmptyThenCas
		return []nodeapi.Command{set(""), cas("", value())}
	}
}

// Answer is what one attempt of a command got back, as the target's
// client classified it (target.Answer).
type Answer = target.Answer

// DefaultWriteAttempts is how many times a client sends a write whose
// outcome stays unknown, when the configuration does not say: once, so
// that a scenario that does not ask for retries keeps its clients' timing
// (a retry holds its client for another request timeout, which makes a
// demonstration of a stale-read mode issue fewer reads on the stale node).
const DefaultWriteAttempts = 1

// Retry is the clients' retry policy for writes, as a user's client
// retries after a timeout: a write whose outcome is unknown (a timeout, a
// lost connection, an indeterminate error) is sent again with the same
// client id and request id — so the state machine's session applies it at
// most once — to the same node or another, up to Attempts times in all.
// However many attempts it takes, it is one operation in the history: one
// invoke, and the completion of the last attempt (info if the outcome is
// still unknown).
type Retry struct {
	// Attempts bounds the attempts of one write (1: never retry).
	Attempts int
}

// Again reports whether cmd goes out again after its attempt-th attempt
// (1-based) got a; maybeApplied says an earlier attempt's outcome was
// unknown. A read is never retried (its outcome changes nothing), nor is
// an answered write; a definite error is retried only when an earlier
// attempt may have been applied, since the operation is then still
// undecided.
func (r Retry) Again(cmd nodeapi.Command, a Answer, maybeApplied bool, attempt int) bool {
	if cmd.Operation == "get" || a.Err == nil || attempt >= r.Attempts {
		return false
	}
	return !a.Definite || maybeApplied
}

// NextNode picks the node (an index among n) of the next attempt after
// one on cur got a: the next node after a refused connection, else the
// same node or another one, at random.
func (r Retry) NextNode(rng *rand.Rand, cur, n int, a Answer) int {
	if n <= 1 {
		return cur
	}
	if a.Refused {
		return (cur + 1) % n
	}
	if rng.IntN(2) == 0 {
		return cur
	}
	return (cur + 1 + rng.IntN(n-1)) % n
}

// retryBackoff bounds the pause before a retry.
const retryBackoff = 50 * time.Millisecond

// Backoff draws the pause before a retry: uniform in [1ms, 50ms).
func (r Retry) Backoff(rng *rand.Rand) time.Duration {
	return time.Millisecond + time.Duration(rng.Int64N(int64(retryBackoff-time.Millisecond)))
}

// Complete is the completion of cmd after its last attempt (the attempts-th)
// got a: its kind, type, operation, key, value, found and error (the caller
// sets the process, node and time), with known updated from what it
// learned. maybeApplied says an earlier attempt's outcome was unknown: a
// definite failure of the last attempt then leaves the outcome unknown
// (info), because the earlier attempt may still be applied.
func Complete(cmd nodeapi.Command, a Answer, maybeApplied bool, attempts int, known Known) histories.Event {
	comp := histories.Event{Kind: histories.KindOp, F: histF(cmd.Operation), Key: cmd.Key}
	res, err := a.Result, a.Err
	switch {
	case err == nil && cmd.Operation == "cas" && res.Succeeded == nil:
		// An answer that does not say whether the cas happened: it may have.
		comp.Type = histories.Info
		comp.Error = "cas answer without \"succeeded\""
		comp.Value = cmd.Value
	case err == nil && cmd.Operation == "cas" && !*res.Succeeded:
		comp.Type = histories.Fail
		comp.Error = "cas mismatch"
		comp.Expected = cmd.Expected
		if res.Found != nil && *res.Found && res.Value != nil {
			known.Store(cmd.Key, *res.Value)
		}
	case err == nil:
		comp.Type = histories.OK
		switch cmd.Operation {
		case "get":
			found := res.Found != nil && *res.Found
			comp.Found = histories.Bool(found)
			if found {
				comp.Value = res.Value
				if res.Value != nil {
					known.Store(cmd.Key, *res.Value)
				}
			}
		case "set", "cas":
			comp.Value = cmd.Value
			comp.Expected = cmd.Expected
			known.Store(cmd.Key, *cmd.Value)
		case "delete":
			comp.Found = res.Found
			known.Delete(cmd.Key)
		}
	case a.Definite && !maybeApplied:
		comp.Type = histories.Fail
		comp.Error = err.Error()
	default:
		comp.Type = histories.Info
		comp.Error = err.Error()
		if a.Definite {
			comp.Error += " (an earlier attempt's outcome is unknown)"
		}
		if cmd.Operation == "set" || cmd.Operation == "cas" {
			comp.Value = cmd.Value
		}
	}
	if attempts > 1 && comp.Error != "" {
		comp.Error = fmt.Sprintf("%s [attempt %d]", comp.Error, attempts)
	}
	return comp
}
