package nemesis

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/internal/suggest"
)

// Duration is a time.Duration written in YAML as "1.5s".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration as a string such as "1.5s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads "1.5s", "300ms" or 0.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a string like \"1.5s\"", n.Line)
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Spec describes one fault in a scenario. In YAML it is either a bare
// name ("partition-halves") or a mapping with "fault" and parameters; the
// fault "compose" injects all of "of" together.
type Spec struct {
	Fault string `yaml:"fault"`
	// Target selects nodes: "one" (random), "leader", "minority", "all",
	// "majority", or a node id. Each fault has its own default.
	Target string `yaml:"target,omitempty"`
	// Of lists the faults of a "compose".
	Of []Spec `yaml:"of,omitempty"`
	// Clock faults.
	Offset Duration `yaml:"offset,omitempty"`
	Rate   float64  `yaml:"rate,omitempty"`
	Delta  Duration `yaml:"delta,omitempty"`
	Period Duration `yaml:"period,omitempty"`
	// Packet faults.
	Delay  Duration `yaml:"delay,omitempty"`
	Jitter Duration `yaml:"jitter,omitempty"`
	Loss   float64  `yaml:"loss,omitempty"`
	// Direction is which of the target nodes' messages a packet fault
	// acts on: "out" (what they send, the default), "in" (what they
	// receive) or "both". "in" on a leader slows or loses only the answers
	// it waits for, while the others still talk at full speed.
	Direction string `yaml:"direction,omitempty"`
	// Failpoint faults.
	Failpoint string `yaml:"failpoint,omitempty"`
	After     int    `yaml:"after,omitempty"`
	// Every is the period of repeated actions (leader-transfer storms).
	Every Duration `yaml:"every,omitempty"`
	// Spread makes a kill or pause hit its nodes at random moments within
	// this window instead of all at once (default 0: together).
	Spread Duration `yaml:"spread,omitempty"`
	// Action is what leader-flap does to each new leader: crash, isolate
	// or partial (default: a random one each time).
	Action string `yaml:"action,omitempty"`
	// Weight biases the random choice of this fault in a schedule (default 1).
	Weight int `yaml:"weight,omitempty"`
}

// UnmarshalYAML accepts a bare fault name or a mapping whose keys must all
// be known (the strictness of the scenario decoder does not reach custom
// unmarshalers, so it is enforced here).
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = Spec{Fault: n.Value}
		if _, ok := catalog[s.Fault]; !ok {
			return fmt.Errorf("line %d: %w", n.Line, unknownFault(s.Fault))
		}
		return nil
	case yaml.MappingNode:
		if err := checkKnownKeys(n, reflect.TypeFor[Spec]()); err != nil {
			return err
		}
		type plain Spec
		var p plain
		if err := n.Decode(&p); err != nil {
			return err
		}
		*s = Spec(p)
		if s.Fault == "" {
			return fmt.Errorf("line %d: fault spec without \"fault\"", n.Line)
		}
		if _, ok := catalog[s.Fault]; !ok {
			line := n.Line
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "fault" {
					line = n.Content[i+1].Line
				}
			}
			return fmt.Errorf("line %d: %w", line, unknownFault(s.Fault))
		}
		return nil
	default:
		return fmt.Errorf("line %d: a fault is a name or a mapping", n.Line)
	}
}

// checkKnownKeys reports the first key of mapping n that is not a yaml tag
// of struct type t.
func checkKnownKeys(n *yaml.Node, t reflect.Type) error {
	var known []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		known = append(known, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: field %s not found in fault spec%s", k.Line, k.Value, suggest.Hint(k.Value, known))
		}
	}
	return nil
}

// String is a short description: the fault name and its non-default
// parameters.
func (s Spec) String() string {
	if s.Fault == "compose" {
		parts := make([]string, len(s.Of))
		for i, o := range s.Of {
			parts[i] = o.String()
		}
		return strings.Join(parts, "+")
	}
	b := strings.Builder{}
	b.WriteString(s.Fault)
	var ps []string
	add := func(k string, v any, set bool) {
		if set {
			ps = append(ps, fmt.Sprintf("%s=%v", k, v))
		}
	}
	add("target", s.Target, s.Target != "")
	add("offset", s.Offset.D(), s.Offset != 0)
	add("rate", s.Rate, s.Rate != 0)
	add("delta", s.Delta.D(), s.Delta != 0)
	add("period", s.Period.D(), s.Period != 0)
	add("delay", s.Delay.D(), s.Delay != 0)
	add("jitter", s.Jitter.D(), s.Jitter != 0)
	add("loss", s.Loss, s.Loss != 0)
	add("direction", s.Direction, s.Direction != "")
	add("failpoint", s.Failpoint, s.Failpoint != "")
	add("after", s.After, s.After != 0)
	add("every", s.Every.D(), s.Every != 0)
	add("spread", s.Spread.D(), s.Spread != 0)
	add("action", s.Action, s.Action != "")
	if len(ps) > 0 {
		b.WriteString("(" + strings.Join(ps, ",") + ")")
	}
	return b.String()
}
