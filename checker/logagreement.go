package checker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// LogEntry is one committed log entry as CheckLogAgreement sees it: its
// index, its term and EntryHash of its type and data. In JSON it is the
// triple [index, term, "hash"], which keeps logs.json about a third of the
// size of an object per entry.
type LogEntry struct {
	Index uint64
	Term  uint64
	Hash  string
}

// MarshalJSON encodes the entry as [index, term, "hash"].
func (e LogEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal([3]any{e.Index, e.Term, e.Hash})
}

// UnmarshalJSON decodes [index, term, "hash"].
func (e *LogEntry) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("checker: log entry: %w", err)
	}
	if len(raw) != 3 {
		return fmt.Errorf("checker: log entry: want [index, term, hash], got %d elements", len(raw))
	}
	var out LogEntry
	if err := json.Unmarshal(raw[0], &out.Index); err != nil {
		return fmt.Errorf("checker: log entry index: %w", err)
	}
	if err := json.Unmarshal(raw[1], &out.Term); err != nil {
		return fmt.Errorf("checker: log entry term: %w", err)
	}
	if err := json.Unmarshal(raw[2], &out.Hash); err != nil {
		return fmt.Errorf("checker: log entry hash: %w", err)
	}
	*e = out
	return nil
}

// EntryHash is the hash CheckLogAgreement compares: the first 8 bytes of
// the SHA-256 of the entry's type byte followed by its data, in hex. Every
// backend must hash entries with it, so that logs read by different
// readers compare.
func EntryHash(typ uint8, data []byte) string {
	h := sha256.New()
	h.Write([]byte{typ})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// NodeLog is one node's committed log, read from its data after the run.
type NodeLog struct {
	Node string `json:"node"`
	// Commit is the node's durable commit index (its hard state's).
	Commit uint64 `json:"commit"`
	// SnapshotIndex and SnapshotTerm identify the node's snapshot (0: none).
	// The entries it covers may be gone from the log; those indexes are
	// skipped for this node, but the snapshot's own (index, term) is still
	// compared with the other nodes' entries.
	SnapshotIndex uint64 `json:"snapshot_index,omitempty"`
	SnapshotTerm  uint64 `json:"snapshot_term,omitempty"`
	// Error says why the log could not be read (Entries then empty).
	Error string `json:"error,omitempty"`
	// Entries are the entries the node still holds, in index order.
	// Entries above Commit are ignored (they are not known committed). A
	// reader may leave out a prefix (to bound the file); what is not
	// listed is not compared. (Last, so that a writer can put one entry
	// per line after the rest.)
	Entries []LogEntry `json:"entries"`
}

// WriteNodeLogs writes logs as a JSON array (what json.Unmarshal reads
// back into []NodeLog) with one entry per line: a third of the size of
// indented JSON, and still easy to grep and diff.
func WriteNodeLogs(w io.Writer, logs []NodeLog) error {
	var b bytes.Buffer
	b.WriteString("[")
	for i, l := range logs {
		ents := l.Entries
		l.Entries = []LogEntry{}
		head, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("checker: encode log of %s: %w", l.Node, err)
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		// head ends with "entries":[]}: Entries is NodeLog's last field.
		b.Write(bytes.TrimSuffix(head, []byte("]}")))
		for j, e := range ents {
			if j > 0 {
				b.WriteString(",")
			}
			h, _ := json.Marshal(e.Hash) // a string always encodes
			fmt.Fprintf(&b, "\n  [%d,%d,%s]", e.Index, e.Term, h)
		}
		b.WriteString("\n]}")
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString("\n]\n")
	_, err := w.Write(b.Bytes())
	return err
}

// NodeLogSummary is what LogAgreementResult says about one node's log.
type NodeLogSummary struct {
	Node          string `json:"node"`
	Commit        uint64 `json:"commit"`
	SnapshotIndex uint64 `json:"snapshot_index,omitempty"`
	// First and Last are the first and last committed index listed; Count
	// how many entries were listed up to Commit.
	First uint64 `json:"first,omitempty"`
	Last  uint64 `json:"last,omitempty"`
	Count int    `json:"count"`
	Error string `json:"error,omitempty"`
}

// Kinds of LogViolation.
const (
	// LogDisagree: two nodes hold different entries at an index both have
	// committed (Log Matching / State Machine Safety).
	LogDisagree = "disagree"
	// LogTermDecrease: a node's committed terms decrease along its log.
	LogTermDecrease = "term-decrease"
	// LogDuplicate: a node's log lists one index twice with different
	// contents.
	LogDuplicate = "duplicate"
)

// LogViolation is one broken rule.
type LogViolation struct {
	Kind  string   `json:"kind"`
	Nodes []string `json:"nodes"`
	// Index is the first index where the rule breaks.
	Index uint64 `json:"index"`
	// Indexes counts the indexes where it breaks (for disagreements: the
	// shared indexes the two nodes disagree on).
	Indexes int    `json:"indexes"`
	Message string `json:"message"`
}

// LogAgreementResult is the outcome of CheckLogAgreement (results.json
// "log_agreement").
type LogAgreementResult struct {
	// Verdict is Invalid on any violation; Unknown when there are no logs
	// or no two readable logs share a committed index; Valid otherwise.
	Verdict Verdict `json:"verdict"`
	Message string  `json:"message"`
	// Compared counts the (pair of nodes, index) comparisons made; Through
	// is the highest index compared.
	Compared   int              `json:"compared"`
	Through    uint64           `json:"through,omitempty"`
	Nodes      []NodeLogSummary `json:"nodes"`
	Violations []LogViolation   `json:"violations,omitempty"`
}

// maxLogViolations bounds the violations listed; the message still says
// which was first.
const maxLogViolations = 50

// CheckLogAgreement compares the nodes' committed logs. Any two nodes must
// hold the same entry (term and hash) at every index both have committed
// and still hold; a node's snapshot (index, term) must match the other
// nodes' committed entry at that index; and the terms along one node's
// committed log (its snapshot's first) must never decrease. A log that
// could not be read (Error) is listed and compared with nothing.
func CheckLogAgreement(logs []NodeLog) LogAgreementResult {
	res := LogAgreementResult{Nodes: []NodeLogSummary{}}
	if len(logs) == 0 {
		res.Verdict, res.Message = Unknown, "no node logs"
		return res
	}
	norm := make([]NodeLog, len(logs))
	for i, l := range logs {
		norm[i] = l
		norm[i].Entries = committed(l)
	}
	sort.SliceStable(norm, func(i, j int) bool { return norm[i].Node < norm[j].Node })
	readable := 0
	for i := range norm {
		l := &norm[i]
		s := NodeLogSummary{Node: l.Node, Commit: l.Commit, SnapshotIndex: l.SnapshotIndex, Count: len(l.Entries), Error: l.Error}
		if n := len(l.Entries); n > 0 {
			s.First, s.Last = l.Entries[0].Index, l.Entries[n-1].Index
		}
		if l.Error == "" {
			readable++
		}
		res.Nodes = append(res.Nodes, s)
		res.Violations = append(res.Violations, ownLog(l)...)
	}
	for i := range norm {
		for j := i + 1; j < len(norm); j++ {
			if norm[i].Error != "" || norm[j].Error != "" {
				continue
			}
			v, n, through := comparePair(&norm[i], &norm[j])
			res.Compared += n
			res.Through = max(res.Through, through)
			res.Violations = append(res.Violations, v...)
		}
	}
	sort.SliceStable(res.Violations, func(i, j int) bool { return res.Violations[i].Index < res.Violations[j].Index })
	total := len(res.Violations)
	if total > maxLogViolations {
		res.Violations = res.Violations[:maxLogViolations]
	}
	switch {
	case total > 0:
		res.Verdict = Invalid
		res.Message = res.Violations[0].Message
		if total > 1 {
			res.Message += fmt.Sprintf(" (%d violations in all)", total)
		}
	case res.Compared == 0:
		res.Verdict = Unknown
		if readable < 2 {
			res.Message = fmt.Sprintf("not comparable: %d readable node log(s)", readable)
		} else {
			res.Message = fmt.Sprintf("not comparable: the %d node logs share no committed index", readable)
		}
	default:
		res.Verdict = Valid
		res.Message = fmt.Sprintf("%d node logs agree on every committed index they share (%d comparisons, through index %d)", readable, res.Compared, res.Through)
	}
	return res
}

// committed returns l's entries up to its commit index, sorted by index
// (a stable sort: duplicates keep their order for ownLog to report).
func committed(l NodeLog) []LogEntry {
	out := make([]LogEntry, 0, len(l.Entries))
	for _, e := range l.Entries {
		if e.Index <= l.Commit {
			out = append(out, e)
		}
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Index < out[j].Index }) {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	}
	return out
}

// ownLog checks one node's log on its own: its terms, its snapshot's
// first, never decrease along the indexes, and no index is listed twice
// with different contents. Duplicates are dropped from l.Entries so that
// the pairwise comparison sees each index once.
func ownLog(l *NodeLog) []LogViolation {
	var out []LogViolation
	kept := l.Entries[:0]
	var dup *LogViolation
	for i, e := range l.Entries {
		if i > 0 && e.Index == l.Entries[i-1].Index {
			if p := l.Entries[i-1]; p.Term != e.Term || p.Hash != e.Hash {
				if dup == nil {
					dup = &LogViolation{Kind: LogDuplicate, Nodes: []string{l.Node}, Index: e.Index,
						Message: fmt.Sprintf("%s lists index %d twice: term %d hash %s vs term %d hash %s",
							l.Node, e.Index, p.Term, short(p.Hash), e.Term, short(e.Hash))}
				}
				dup.Indexes++
			}
			continue
		}
		kept = append(kept, e)
	}
	l.Entries = kept

	// The (index, term) points along the log, the snapshot's among them.
	type point struct {
		index, term uint64
		snap        bool
	}
	pts := make([]point, 0, len(kept)+1)
	snapped := l.SnapshotIndex == 0 || l.SnapshotTerm == 0
	for _, e := range kept {
		if !snapped && l.SnapshotIndex < e.Index {
			pts = append(pts, point{l.SnapshotIndex, l.SnapshotTerm, true})
			snapped = true
		}
		pts = append(pts, point{index: e.Index, term: e.Term})
	}
	if !snapped {
		pts = append(pts, point{l.SnapshotIndex, l.SnapshotTerm, true})
	}
	desc := func(p point) string {
		if p.snap {
			return fmt.Sprintf("its snapshot at index %d has term %d", p.index, p.term)
		}
		return fmt.Sprintf("entry %d has term %d", p.index, p.term)
	}
	var dec *LogViolation
	for k := 1; k < len(pts); k++ {
		p, q := pts[k-1], pts[k]
		if q.term >= p.term && (p.index != q.index || p.term == q.term) {
			continue
		}
		if dec == nil {
			dec = &LogViolation{Kind: LogTermDecrease, Nodes: []string{l.Node}, Index: q.index,
				Message: fmt.Sprintf("%s's committed terms decrease at index %d: %s, %s", l.Node, q.index, desc(p), desc(q))}
			if p.index == q.index {
				dec.Message = fmt.Sprintf("%s's snapshot and log disagree at index %d: %s, %s", l.Node, q.index, desc(p), desc(q))
			}
		}
		dec.Indexes++
	}
	if dec != nil {
		out = append(out, *dec)
	}
	if dup != nil {
		out = append(out, *dup)
	}
	return out
}

// comparePair compares two nodes' committed entries index by index, and
// each one's snapshot with the other's entry at its index. It returns the
// first disagreement (with the count of disagreeing indexes), the number
// of comparisons and the highest index compared.
func comparePair(a, b *NodeLog) ([]LogViolation, int, uint64) {
	var out []LogViolation
	var dis *LogViolation
	compared := 0
	var through uint64
	disagree := func(i uint64, da, db string) {
		if dis == nil {
			dis = &LogViolation{Kind: LogDisagree, Nodes: []string{a.Node, b.Node}}
		}
		if dis.Indexes == 0 || i < dis.Index {
			dis.Index = i
			dis.Message = fmt.Sprintf("%s and %s disagree at index %d: %s vs %s", a.Node, b.Node, i, da, db)
		}
		dis.Indexes++
	}
	i, j := 0, 0
	for i < len(a.Entries) && j < len(b.Entries) {
		ea, eb := a.Entries[i], b.Entries[j]
		switch {
		case ea.Index < eb.Index:
			i++
		case ea.Index > eb.Index:
			j++
		default:
			compared++
			through = max(through, ea.Index)
			if ea.Term != eb.Term || ea.Hash != eb.Hash {
				disagree(ea.Index, entryDesc(ea), entryDesc(eb))
			}
			i++
			j++
		}
	}
	// A snapshot covers committed entries: its (index, term) must match
	// the other node's committed entry there.
	snap := func(s, o *NodeLog, sFirst bool) {
		if s.SnapshotIndex == 0 || s.SnapshotTerm == 0 {
			return
		}
		k := sort.Search(len(o.Entries), func(k int) bool { return o.Entries[k].Index >= s.SnapshotIndex })
		if k == len(o.Entries) || o.Entries[k].Index != s.SnapshotIndex {
			return
		}
		compared++
		through = max(through, s.SnapshotIndex)
		if e := o.Entries[k]; e.Term != s.SnapshotTerm {
			sd := fmt.Sprintf("snapshot term %d", s.SnapshotTerm)
			if sFirst {
				disagree(s.SnapshotIndex, sd, entryDesc(e))
			} else {
				disagree(s.SnapshotIndex, entryDesc(e), sd)
			}
		}
	}
	snap(a, b, true)
	snap(b, a, false)
	if dis != nil {
		out = append(out, *dis)
	}
	return out, compared, through
}

func entryDesc(e LogEntry) string {
	return fmt.Sprintf("term %d hash %s", e.Term, short(e.Hash))
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 8 {
		return h[:8] + "…"
	}
	return h
}
