package histories

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// SingleRegisterKey is the key given to every operation of a Jepsen
// single-register history (values not wrapped in independent [key value]
// tuples).
const SingleRegisterKey = "r"

// Jepsen's names for raftkv's operations (cas and delete keep theirs).
var (
	toJepsenF   = map[string]string{OpGet: "read", OpPut: "write", OpCas: "cas", OpDelete: "delete"}
	fromJepsenF = map[string]string{"read": OpGet, "write": OpPut, "cas": OpCas, "delete": OpDelete}
)

// WriteEDN writes events as a Jepsen history.edn: one map per line, e.g.
//
//	{:index 0, :type :invoke, :f :write, :value ["k" "v"], :process 3, :time 1200}
//
// Keys use Jepsen's independent [key value] tuples; a read's value is
// [key nil] on invocation and [key value-or-nil] on completion; cas values
// are [key [expected new]]; a delete is :f :delete with [key nil] (and
// :found when known). Nemesis events are {:type :info, :process :nemesis}
// with :f :start-NAME / :stop-NAME (or NAME for a point event), their
// nodes as :value and an explicit :phase so that ReadEDN gets them back.
// Extra raftkv fields (:node, :error, :detail) are plain keys Jepsen
// ignores. :time is in nanoseconds, as in Jepsen.
func WriteEDN(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "{:index %d, ", i)
		if e.Kind == KindNemesis {
			name := e.F
			switch e.Type {
			case Start:
				name = "start-" + e.F
			case Stop:
				name = "stop-" + e.F
			}
			fmt.Fprintf(&b, ":type :info, :f %s, :value ", ednName(name))
			if len(e.Nodes) > 0 {
				b.WriteByte('[')
				for j, n := range e.Nodes {
					if j > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(ednString(n))
				}
				b.WriteByte(']')
			} else {
				b.WriteString("nil")
			}
			fmt.Fprintf(&b, ", :process :nemesis, :time %d, :phase :%s", e.Time, e.Type)
			if e.Detail != "" {
				fmt.Fprintf(&b, ", :detail %s", ednString(e.Detail))
			}
		} else {
			f, ok := toJepsenF[e.F]
			if !ok {
				f = e.F
			}
			fmt.Fprintf(&b, ":type :%s, :f %s, :value [%s ", e.Type, ednName(f), ednString(e.Key))
			if e.F == OpCas && (e.Expected != nil || e.Value != nil) {
				fmt.Fprintf(&b, "[%s %s]", ednOptString(e.Expected), ednOptString(e.Value))
			} else {
				b.WriteString(ednOptString(e.Value))
			}
			fmt.Fprintf(&b, "], :process %d, :time %d", e.Process, e.Time)
			if e.F != OpGet && e.Found != nil {
				fmt.Fprintf(&b, ", :found %t", *e.Found)
			}
			if e.Node != "" {
				fmt.Fprintf(&b, ", :node %s", ednString(e.Node))
			}
			if e.Error != "" {
				fmt.Fprintf(&b, ", :error %s", ednString(e.Error))
			}
		}
		b.WriteString("}\n")
		if _, err := bw.WriteString(b.String()); err != nil {
			return fmt.Errorf("histories: write edn: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("histories: write edn: %w", err)
	}
	return nil
}

// ednName writes name as a keyword when it is a valid one, else as a string.
func ednName(name string) string {
	if name == "" {
		return `""`
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.*+!?<>=/", c)) {
			return ednString(name)
		}
	}
	if c := name[0]; c >= '0' && c <= '9' {
		return ednString(name)
	}
	return ":" + name
}

func ednOptString(s *string) string {
	if s == nil {
		return "nil"
	}
	return ednString(*s)
}

// ednString quotes s with EDN's escapes (control characters as \uXXXX).
func ednString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ReadEDN imports a Jepsen register history (history.edn: one op map per
// line, or a single vector or list of op maps as in Knossos' test data; records
// such as #jepsen.history.Op{...} are read as maps).
//
// Operations :read, :write, :cas (value [old new]) and :delete become get,
// put, cas and delete. When any read or write carries a [key value] vector
// (or a cas carries [key [old new]]) the history is taken as Jepsen
// `independent` tuples and keys are the tuples' first elements; otherwise it
// is a single register and every operation gets SingleRegisterKey. Values
// and keys that are integers or keywords become their text. A nil read is
// a missing key. :process numbers are kept; :process :nemesis entries
// become nemesis events: :start-X/:stop-X start and stop fault X, :start
// and :stop fault "nemesis", :kill and :pause start faults "kill" and
// "pause", :resume stops "pause", and any other f is a point event (Type
// Info); an explicit :phase (written by WriteEDN) wins. :time is
// nanoseconds; when a history has no :time at all, positions are used.
func ReadEDN(r io.Reader) ([]Event, error) {
	forms, err := ReadEDNForms(r)
	if err != nil {
		return nil, err
	}
	if len(forms) == 1 {
		switch v := forms[0].(type) {
		case Vector:
			forms = []any(v)
		case List:
			forms = []any(v)
		}
	}
	maps := make([]Map, len(forms))
	hasTime := false
	for i, f := range forms {
		if t, ok := f.(Tagged); ok {
			f = t.Value
		}
		m, ok := f.(Map)
		if !ok {
			return nil, fmt.Errorf("%w: op %d is %s, not a map", ErrEDN, i, FormatEDN(f))
		}
		maps[i] = m
		if _, ok := m.Get("time"); ok {
			hasTime = true
		}
	}
	independent := isIndependent(maps)
	events := make([]Event, 0, len(maps))
	pendingKey := make(map[int]string)
	var lastTime int64
	for i, m := range maps {
		e, err := ednOp(m, independent, pendingKey)
		if err != nil {
			return nil, fmt.Errorf("%w: op %d: %w", ErrEDN, i, err)
		}
		if hasTime {
			if tv, ok := m.Get("time"); ok {
				t, ok := ednInt(tv)
				if !ok {
					return nil, fmt.Errorf("%w: op %d: :time %s is not an integer", ErrEDN, i, FormatEDN(tv))
				}
				lastTime = t
			}
			e.Time = lastTime
		} else {
			e.Time = int64(i)
		}
		events = append(events, e)
	}
	return events, nil
}

func isIndependent(maps []Map) bool {
	for _, m := range maps {
		if p, _ := m.Get("process"); p == Keyword("nemesis") {
			continue
		}
		f, _ := m.Get("f")
		v, _ := m.Get("value")
		vec, isVec := v.(Vector)
		switch ednText(f) {
		case "read", "write", "delete":
			if isVec {
				return true
			}
		case "cas":
			if isVec && len(vec) == 2 {
				if _, inner := vec[1].(Vector); inner {
					return true
				}
			}
		}
	}
	return false
}

func ednOp(m Map, independent bool, pendingKey map[int]string) (Event, error) {
	pv, ok := m.Get("process")
	if !ok {
		return Event{}, fmt.Errorf("no :process")
	}
	fv, _ := m.Get("f")
	f := ednText(fv)
	tv, _ := m.Get("type")
	typ := Type(ednText(tv))
	value, _ := m.Get("value")
	if pv == Keyword("nemesis") {
		return ednNemesis(m, f, value), nil
	}
	proc, ok := ednInt(pv)
	if !ok {
		return Event{}, fmt.Errorf(":process %s is neither an integer nor :nemesis", FormatEDN(pv))
	}
	switch typ {
	case Invoke, OK, Fail, Info:
	default:
		return Event{}, fmt.Errorf(":type %s is not :invoke, :ok, :fail or :info", FormatEDN(tv))
	}
	op, ok := fromJepsenF[f]
	if !ok {
		return Event{}, fmt.Errorf("unsupported :f %s (register histories only)", FormatEDN(fv))
	}
	e := Event{Kind: KindOp, Type: typ, Process: int(proc), F: op}
	key := SingleRegisterKey
	if independent {
		switch vec, ok := value.(Vector); {
		case ok && len(vec) == 2:
			key = ednText(vec[0])
			value = vec[1]
		case value == nil && typ != Invoke && pendingKey[e.Process] != "":
			key = pendingKey[e.Process]
		default:
			return Event{}, fmt.Errorf("independent :value %s is not a [key value] tuple", FormatEDN(value))
		}
	}
	e.Key = key
	if typ == Invoke {
		pendingKey[e.Process] = key
	} else {
		delete(pendingKey, e.Process)
	}
	switch op {
	case OpGet:
		if typ == OK {
			e.Value = ednOptText(value)
			e.Found = Bool(value != nil)
		} else {
			e.Value = ednOptText(value)
		}
	case OpPut, OpDelete:
		e.Value = ednOptText(value)
	case OpCas:
		if value != nil {
			vec, ok := value.(Vector)
			if !ok || len(vec) != 2 {
				return Event{}, fmt.Errorf("cas :value %s is not [old new]", FormatEDN(value))
			}
			e.Expected = ednOptText(vec[0])
			e.Value = ednOptText(vec[1])
		}
	}
	if fv, ok := m.Get("found"); ok {
		if b, ok := fv.(bool); ok {
			e.Found = Bool(b)
		}
	}
	if nv, ok := m.Get("node"); ok && nv != nil {
		e.Node = ednText(nv)
	}
	if ev, ok := m.Get("error"); ok && ev != nil {
		e.Error = ednText(ev)
	}
	return e, nil
}

func ednNemesis(m Map, f string, value any) Event {
	e := Event{Kind: KindNemesis, Type: Info, F: f}
	switch {
	case strings.HasPrefix(f, "start-"):
		e.Type, e.F = Start, strings.TrimPrefix(f, "start-")
	case strings.HasPrefix(f, "stop-"):
		e.Type, e.F = Stop, strings.TrimPrefix(f, "stop-")
	case f == "start":
		e.Type, e.F = Start, "nemesis"
	case f == "stop":
		e.Type, e.F = Stop, "nemesis"
	case f == "kill" || f == "pause":
		e.Type = Start
	case f == "resume":
		e.Type, e.F = Stop, "pause"
	}
	if ph, ok := m.Get("phase"); ok {
		e.Type, e.F = Type(ednText(ph)), f
		switch e.Type {
		case Start:
			e.F = strings.TrimPrefix(f, "start-")
		case Stop:
			e.F = strings.TrimPrefix(f, "stop-")
		case Info:
		default:
			e.Type = Info
		}
	}
	nodes, isNodes := ednNodes(value)
	if isNodes {
		e.Nodes = nodes
	} else if value != nil {
		e.Detail = FormatEDN(value)
	}
	if d, ok := m.Get("detail"); ok && d != nil {
		e.Detail = ednText(d)
	}
	return e
}

// ednNodes reads a nemesis value that is a plain collection of node names.
func ednNodes(v any) ([]string, bool) {
	var items []any
	switch c := v.(type) {
	case Vector:
		items = c
	case Set:
		items = c
	case List:
		items = c
	default:
		return nil, false
	}
	if len(items) == 0 {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case Keyword:
			out = append(out, string(x))
		default:
			return nil, false
		}
	}
	return out, true
}

func ednInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case *big.Int:
		return 0, false
	}
	return 0, false
}

func ednOptText(v any) *string {
	if v == nil {
		return nil
	}
	return Str(ednText(v))
}

// ednText is the text of a scalar: a string itself, a keyword its name, a
// number its decimal form; anything else its EDN form.
func ednText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case Keyword:
		return string(x)
	case Symbol:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return FormatEDN(v)
}

// FormatEDN prints an EDN value read by ParseEDN back as EDN text (maps in
// source order, sets sorted by their text).
func FormatEDN(v any) string {
	var b strings.Builder
	formatEDN(&b, v)
	return b.String()
}

func formatEDN(b *strings.Builder, v any) {
	seq := func(open, close string, items []any) {
		b.WriteString(open)
		for i, it := range items {
			if i > 0 {
				b.WriteByte(' ')
			}
			formatEDN(b, it)
		}
		b.WriteString(close)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("nil")
	case string:
		b.WriteString(ednString(x))
	case Keyword:
		b.WriteString(":" + string(x))
	case Char:
		b.WriteString(`\` + string(rune(x)))
	case Vector:
		seq("[", "]", x)
	case List:
		seq("(", ")", x)
	case Set:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = FormatEDN(it)
		}
		sort.Strings(parts)
		b.WriteString("#{" + strings.Join(parts, " ") + "}")
	case Map:
		b.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			formatEDN(b, e.Key)
			b.WriteByte(' ')
			formatEDN(b, e.Value)
		}
		b.WriteByte('}')
	case Tagged:
		b.WriteString("#" + x.Tag + " ")
		formatEDN(b, x.Value)
	default:
		b.WriteString(ednText(x))
	}
}
