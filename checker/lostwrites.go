package checker

import (
	"fmt"
	"math"
	"sort"

	"github.com/raftkv/raftkv/histories"
)

// WriteRef identifies one write operation of a history.
type WriteRef struct {
	Process int            `json:"process"`
	F       string         `json:"f"`
	Value   *string        `json:"value,omitempty"` // nil for a delete
	Type    histories.Type `json:"type"`
	Invoke  int64          `json:"invoke"`
	// Complete is the completion time, or -1 for an operation that never
	// completed.
	Complete int64 `json:"complete"`
}

// KeyAnomaly describes a key whose final read contradicts its writes.
type KeyAnomaly struct {
	Key string `json:"key"`
	// FinalRead is the value of the final read (nil: key not found), read
	// by an operation invoked at FinalReadInvoke and completed at
	// FinalReadComplete.
	FinalRead         *string `json:"final_read"`
	FinalReadProcess  int     `json:"final_read_process"`
	FinalReadInvoke   int64   `json:"final_read_invoke"`
	FinalReadComplete int64   `json:"final_read_complete"`
	// Unexpected is true when the final read returned a value that no
	// ok or info put/cas invoked before the read's completion wrote.
	Unexpected bool `json:"unexpected,omitempty"`
	// Lost holds the acknowledged writes that completed before the final
	// read began, that no other write could have overwritten before it,
	// and whose effect the final read does not show. With concurrent such
	// writes at least one of them was lost (whichever took effect last).
	Lost []WriteRef `json:"lost,omitempty"`
}

// LostWritesResult is the outcome of CheckLostWrites.
type LostWritesResult struct {
	// Verdict is Invalid when some key has an anomaly, Unknown when there
	// are acknowledged writes but no key could be checked, Valid otherwise.
	Verdict Verdict `json:"verdict"`
	// KeysChecked counts keys with a final read.
	KeysChecked int `json:"keys_checked"`
	// KeysUnchecked are keys with ok writes but no successful read.
	KeysUnchecked []string `json:"keys_unchecked,omitempty"`
	// AcknowledgedWrites counts ok put/delete/cas operations.
	AcknowledgedWrites int          `json:"acknowledged_writes"`
	LostWrites         int          `json:"lost_writes"`
	Anomalies          []KeyAnomaly `json:"anomalies,omitempty"`
	// Error says why the check could not decide (an unpaired history, or
	// no key read at all).
	Error string `json:"error,omitempty"`
}

// CheckLostWrites looks for acknowledged writes missing from the final
// state, a check that is cheap and independent of the linearizability
// search (it still answers when that times out).
//
// The final read of a key is its successful get with the latest
// invocation; the harness's post-heal final reads are exactly these, and
// for keys it does not read at the end the last read observed stands in.
// Writes (put, delete, cas) count when ok or info (fail never happened);
// an info write has an infinite completion time. With R the final read:
//
//   - a write w could precede R if it was invoked before R completed;
//   - w is overwritten before R if some ok write w2 was invoked after w
//     completed and completed before R was invoked;
//   - the values R may return are the effects of the writes that could
//     precede R and are not overwritten before it (put/cas: their value;
//     delete: not found), plus "not found" when no ok write completed
//     before R was invoked.
//
// If R returns something else, the key has an anomaly: Unexpected when R
// returned a value that no ok or info put/cas that could precede R wrote;
// otherwise its Lost writes are the acknowledged writes that completed
// before R was invoked and are not overwritten before R — writes
// acknowledged ok whose effect is gone although nothing could have
// superseded them. This is a necessary condition of linearizability at the
// final read, so an anomaly here is always a real one.
func CheckLostWrites(events []histories.Event) LostWritesResult {
	var res LostWritesResult
	pairs, err := histories.Pair(events)
	if err != nil {
		res.Verdict, res.Error = Unknown, err.Error()
		return res
	}
	type keyOps struct {
		final  *histories.Op
		writes []histories.Op
		acked  int
	}
	byKey := make(map[string]*keyOps)
	for i := range pairs {
		p := &pairs[i]
		k := byKey[p.Key]
		if k == nil {
			k = &keyOps{}
			byKey[p.Key] = k
		}
		typ := p.Type()
		switch p.F {
		case histories.OpGet:
			if typ == histories.OK && (k.final == nil || p.Invoke.Time >= k.final.Invoke.Time) {
				k.final = p
			}
		case histories.OpPut, histories.OpDelete, histories.OpCas:
			if typ == histories.Fail {
				continue
			}
			k.writes = append(k.writes, *p)
			if typ == histories.OK {
				k.acked++
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for key := range byKey {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		k := byKey[key]
		res.AcknowledgedWrites += k.acked
		if k.final == nil {
			if k.acked > 0 {
				res.KeysUnchecked = append(res.KeysUnchecked, key)
			}
			continue
		}
		res.KeysChecked++
		if a, bad := finalReadAnomaly(key, *k.final, k.writes); bad {
			res.Anomalies = append(res.Anomalies, a)
			res.LostWrites += len(a.Lost)
		}
	}
	switch {
	case len(res.Anomalies) > 0:
		res.Verdict = Invalid
	case res.KeysChecked == 0 && res.AcknowledgedWrites > 0:
		res.Verdict = Unknown
		res.Error = fmt.Sprintf("no successful read of any of the %d written keys", len(res.KeysUnchecked))
	default:
		res.Verdict = Valid
	}
	return res
}

type effect struct {
	value string
	found bool
}

func retTime(p histories.Op) int64 {
	if p.Type() == histories.OK {
		return p.Complete.Time
	}
	return math.MaxInt64
}

func writeEffect(p histories.Op) effect {
	if p.F == histories.OpDelete {
		return effect{}
	}
	v := p.Invoke.Value
	if v == nil && p.Complete != nil {
		v = p.Complete.Value
	}
	if v == nil {
		return effect{}
	}
	return effect{value: *v, found: true}
}

func finalReadAnomaly(key string, r histories.Op, writes []histories.Op) (KeyAnomaly, bool) {
	rCall, rRet := r.Invoke.Time, r.Complete.Time
	var observed effect
	if r.Complete.Value != nil {
		observed.value = *r.Complete.Value
		observed.found = true
	}
	if r.Complete.Found != nil && !*r.Complete.Found {
		observed = effect{}
	}
	var preceding []histories.Op
	for _, w := range writes {
		if w.Invoke.Time <= rRet {
			preceding = append(preceding, w)
		}
	}
	// w is overwritten before R iff some ok write invoked after w completed
	// also completed before R was invoked: compare w's completion with the
	// latest invocation among the ok writes that completed before R.
	latestCall := int64(math.MinInt64)
	for _, w2 := range preceding {
		if w2.Type() == histories.OK && w2.Complete.Time < rCall {
			latestCall = max(latestCall, w2.Invoke.Time)
		}
	}
	overwritten := func(w histories.Op) bool { return latestCall > retTime(w) }
	possible := make(map[effect]bool)
	written := make(map[string]bool)
	initial := true
	var lastCandidates []histories.Op
	for _, w := range preceding {
		eff := writeEffect(w)
		if eff.found {
			written[eff.value] = true
		}
		if w.Type() == histories.OK && w.Complete.Time < rCall {
			initial = false
		}
		if overwritten(w) {
			continue
		}
		possible[eff] = true
		if w.Type() == histories.OK && w.Complete.Time < rCall {
			lastCandidates = append(lastCandidates, w)
		}
	}
	if initial {
		possible[effect{}] = true
	}
	if possible[observed] {
		return KeyAnomaly{}, false
	}
	a := KeyAnomaly{
		Key:               key,
		FinalReadProcess:  r.Process,
		FinalReadInvoke:   rCall,
		FinalReadComplete: rRet,
	}
	if observed.found {
		a.FinalRead = histories.Str(observed.value)
	}
	if observed.found && !written[observed.value] {
		a.Unexpected = true
		return a, true
	}
	for _, w := range lastCandidates {
		ref := WriteRef{Process: w.Process, F: w.F, Type: w.Type(), Invoke: w.Invoke.Time, Complete: w.Return()}
		if eff := writeEffect(w); eff.found {
			ref.Value = histories.Str(eff.value)
		}
		a.Lost = append(a.Lost, ref)
	}
	return a, true
}
