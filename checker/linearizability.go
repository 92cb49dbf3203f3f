package checker

import (
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// Verdict is the outcome of a check.
type Verdict string

// Verdicts. Unknown means the check could not decide (a timeout, or a
// history it cannot interpret): it is never a pass.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// KeyVerdict is the linearizability verdict of one key.
type KeyVerdict struct {
	Key     string  `json:"key"`
	Ops     int     `json:"ops"`
	Verdict Verdict `json:"verdict"`
}

// LinearizabilityResult is the outcome of CheckLinearizability.
type LinearizabilityResult struct {
	Verdict Verdict `json:"verdict"`
	Ops     int     `json:"ops"` // operations checked (fail and info gets dropped)
	// PrunedInfo counts info writes left out because no operation observed
	// their value: they cannot change the verdict.
	PrunedInfo int `json:"pruned_info"`
	Keys       int `json:"keys"` // keys checked
	// FailedKeys are the keys proved not linearizable; UnknownKeys those
	// the time budget did not suffice for. Both sorted.
	FailedKeys  []string `json:"failed_keys,omitempty"`
	UnknownKeys []string `json:"unknown_keys,omitempty"`
	// PerKey holds every key's verdict, sorted by key.
	PerKey []KeyVerdict `json:"per_key,omitempty"`
	// Violations name, for every failed key, a minimal set of its
	// operations that cannot be linearized, in words and with times,
	// nodes and the fault windows active then; the first violation (the
	// one that ends earliest) first.
	Violations []Violation   `json:"violations,omitempty"`
	Timeout    time.Duration `json:"timeout_ns"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Error      string        `json:"error,omitempty"`
	TimedOut   bool          `json:"timed_out,omitempty"`
}

// CheckLinearizability checks the history against Model, one key at a time
// (keys are independent, so a history is linearizable iff every key is),
// on GOMAXPROCS workers sharing one time budget: timeout is the wall-clock
// limit for the whole check (0 or less: no limit). The verdict is Invalid
// as soon as one key is proved not linearizable (even if others timed
// out), Unknown if some key could not be decided in time or the history
// cannot be interpreted, and Valid only when every key was proved
// linearizable.
func CheckLinearizability(events []histories.Event, timeout time.Duration) LinearizabilityResult {
	start := time.Now()
	res := LinearizabilityResult{Timeout: timeout}
	ops, err := Operations(events)
	if err != nil {
		res.Verdict, res.Error = Unknown, err.Error()
		return res
	}
	ops, pruned := pruneUnobservedInfo(ops)
	res.PrunedInfo = len(pruned)
	parts := partitionByKey(ops)
	res.Ops, res.Keys = len(ops), len(parts)
	res.PerKey = make([]KeyVerdict, len(parts))
	// Biggest keys first, so that a hard key does not start last.
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(parts[order[a]]) > len(parts[order[b]]) })

	model := Model()
	model.Partition = nil // each part is one key already
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(parts), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res.PerKey[i] = KeyVerdict{
					Key:     parts[i][0].Input.(KVInput).Key,
					Ops:     len(parts[i]),
					Verdict: checkKey(model, parts[i], deadline),
				}
			}
		}()
	}
	for _, i := range order {
		work <- i
	}
	close(work)
	wg.Wait()

	res.Verdict = Valid
	for _, kv := range res.PerKey {
		switch kv.Verdict {
		case Invalid:
			res.FailedKeys = append(res.FailedKeys, kv.Key)
		case Unknown:
			res.UnknownKeys = append(res.UnknownKeys, kv.Key)
		}
	}
	switch {
	case len(res.FailedKeys) > 0:
		res.Verdict = Invalid
	case len(res.UnknownKeys) > 0:
		res.Verdict = Unknown
	}
	res.TimedOut = len(res.UnknownKeys) > 0
	if len(res.FailedKeys) > 0 {
		budget := shrinkTotalBudget
		if timeout > 0 {
			budget = max(timeout-time.Since(start), shrinkKeyBudget)
		}
		res.Violations = explainFailedKeys(events, parts, res, budget)
	}
	res.Elapsed = time.Since(start)
	return res
}

func checkKey(model porcupine.Model, ops []porcupine.Operation, deadline time.Time) Verdict {
	var budget time.Duration // 0: unlimited, porcupine's convention
	if !deadline.IsZero() {
		budget = time.Until(deadline)
		if budget <= 0 {
			return Unknown
		}
	}
	switch porcupine.CheckOperationsTimeout(model, ops, budget) {
	case porcupine.Ok:
		return Valid
	case porcupine.Illegal:
		return Invalid
	default:
		return Unknown
	}
}
