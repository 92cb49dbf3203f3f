package checker

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// Limits on what WriteVisualization draws, so that a large history stays
// readable (and the page loadable).
const (
	// MaxVisualizedFailedKeys caps the keys drawn for an invalid result
	// (only failing keys are drawn then).
	MaxVisualizedFailedKeys = 8
	// MaxVisualizedKeys caps the keys drawn for a valid or unknown result.
	MaxVisualizedKeys = 4
	// visualizationMinBudget and visualizationMaxBudget bound the time
	// given to recomputing the linearization of the drawn keys.
	visualizationMinBudget = 10 * time.Second
	visualizationMaxBudget = time.Minute
)

// VisualizedKeys returns the keys WriteVisualization draws for res: the
// failing keys (at most MaxVisualizedFailedKeys) for an invalid result;
// otherwise undecided keys first, then the others, at most
// MaxVisualizedKeys.
func VisualizedKeys(events []histories.Event, res LinearizabilityResult) []string {
	if len(res.FailedKeys) > 0 {
		return res.FailedKeys[:min(len(res.FailedKeys), MaxVisualizedFailedKeys)]
	}
	keys := slices.Clone(res.UnknownKeys)
	seen := make(map[string]bool)
	for _, k := range keys {
		seen[k] = true
	}
	var rest []string
	for _, e := range events {
		if e.Kind == histories.KindOp && !seen[e.Key] {
			seen[e.Key] = true
			rest = append(rest, e.Key)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	return keys[:min(len(keys), MaxVisualizedKeys)]
}

// WriteVisualization writes Porcupine's interactive HTML visualization of
// the history for the keys VisualizedKeys picks: each key's operations
// (described as get("k") → "v", put(...), ...), its linearization or, for
// a failing key, its longest partial linearizations and the illegal
// linearization points. Fault windows are drawn as annotations on a
// "nemesis" row, point faults (kills) as point annotations, and each
// failing key gets a "checker" annotation. The linearization is recomputed
// for the drawn keys only, with res.Timeout clamped to [10s, 1m]; if that
// runs out, the partial linearizations found so far are drawn. As in
// CheckLinearizability, info writes whose value nothing observed are left
// out of the search; they are drawn on their process's row as annotations.
//
// Porcupine's page is kept whole (its data stays the source of the
// drawing) and raftkv's reading aids are added around it (see history.go):
// the first of res.Violations in words, its counterexample drawn on its
// own, a time axis, row labels (process and client slot) that stay in view,
// fault windows as named bands, and the page opens scrolled to the first
// violation's last operation, or to #ev-N.
func WriteVisualization(w io.Writer, events []histories.Event, res LinearizabilityResult) error {
	ops, err := Operations(events)
	if err != nil {
		return err
	}
	draw := VisualizedKeys(events, res)
	want := make(map[string]bool, len(draw))
	for _, k := range draw {
		want[k] = true
	}
	var sub []porcupine.Operation
	for _, op := range ops {
		if want[op.Input.(KVInput).Key] {
			sub = append(sub, op)
		}
	}
	procs := denseClients(sub)
	sub, pruned := pruneUnobservedInfo(sub)
	model := Model()
	_, info := porcupine.CheckOperationsVerbose(model, sub, min(max(res.Timeout, visualizationMinBudget), visualizationMaxBudget))
	notes := annotations(events, sub, res)
	info.AddAnnotations(notes)
	info.AddAnnotations(prunedAnnotations(pruned))
	var page bytes.Buffer
	if err := porcupine.Visualize(model, info, &page); err != nil {
		return fmt.Errorf("checker: visualize: %w", err)
	}
	side := historySideData(events, draw, procs, sub, notes, pruned, res)
	if err := writeReadableHistory(w, page.Bytes(), side, historyHeader(side, res)); err != nil {
		return fmt.Errorf("checker: visualize: %w", err)
	}
	return nil
}

// Annotation colors.
const (
	faultColor   = "#f6d3a8"
	pointColor   = "#f2a6a6"
	checkerColor = "#e05a5a"
)

func annotations(events []histories.Event, ops []porcupine.Operation, res LinearizabilityResult) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, w := range histories.FaultWindows(events) {
		details := faultDetails(w.Nodes, w.Detail)
		if w.Open {
			details += " (still active at the end of the history)"
		}
		out = append(out, porcupine.Annotation{
			Tag:             "nemesis",
			Start:           w.Start,
			End:             w.End,
			Description:     w.F,
			Details:         strings.TrimSpace(details),
			BackgroundColor: faultColor,
		})
	}
	for _, e := range events {
		if e.Kind == histories.KindNemesis && e.Type == histories.Info {
			out = append(out, porcupine.Annotation{
				Tag:             "nemesis",
				Start:           e.Time,
				Description:     e.F,
				Details:         faultDetails(e.Nodes, e.Detail),
				BackgroundColor: pointColor,
			})
		}
	}
	failed := make(map[string]bool)
	for _, k := range res.FailedKeys {
		failed[k] = true
	}
	first := make(map[string]porcupine.Operation)
	for _, op := range ops {
		k := op.Input.(KVInput).Key
		if f, ok := first[k]; failed[k] && (!ok || op.Call < f.Call) {
			first[k] = op
		}
	}
	keys := make([]string, 0, len(first))
	for k := range first {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, porcupine.Annotation{
			Tag:             "checker",
			Start:           first[k].Call,
			Description:     fmt.Sprintf("key %s: not linearizable", quote(k)),
			Details:         "no order of this key's operations is consistent with their real-time order and the KV model; hover the operations for the longest partial linearizations",
			TextColor:       "#ffffff",
			BackgroundColor: checkerColor,
		})
	}
	return out
}

func faultDetails(nodes []string, detail string) string {
	s := detail
	if len(nodes) > 0 {
		s = "nodes " + strings.Join(nodes, ", ") + "; " + s
	}
	return strings.TrimSuffix(s, "; ")
}

// denseClients renumbers ClientId over the drawn operations only, so that
// the visualization has one row per process that appears in it; row i is
// process procs[i].
func denseClients(ops []porcupine.Operation) (procs []int) {
	var ids []int
	seen := make(map[int]bool)
	for _, op := range ops {
		if !seen[op.ClientId] {
			seen[op.ClientId] = true
			ids = append(ids, op.ClientId)
		}
	}
	sort.Ints(ids)
	rank := make(map[int]int, len(ids))
	for i, id := range ids {
		rank[id] = i
	}
	procs = make([]int, len(ids))
	for i := range ops {
		ops[i].ClientId = rank[ops[i].ClientId]
		if m, ok := ops[i].Metadata.(OpMeta); ok {
			procs[ops[i].ClientId] = m.Process
		}
	}
	return procs
}

// prunedColor marks info writes left out of the search.
const prunedColor = "#ffd9a0"

func prunedAnnotations(ops []porcupine.Operation) []porcupine.Annotation {
	out := make([]porcupine.Annotation, len(ops))
	for i, op := range ops {
		out[i] = porcupine.Annotation{
			ClientId:        op.ClientId,
			Start:           op.Call,
			End:             op.Return,
			Description:     describeOperation(op.Input, op.Output),
			Details:         describeMeta(op.Metadata) + "; no operation observed its value, so it was left out of the check (it may take effect last)",
			BackgroundColor: prunedColor,
		}
	}
	return out
}
