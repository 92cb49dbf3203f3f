package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/cluster/process"
	"github.com/raftkv/raftkv/harness/docker"
	"github.com/raftkv/raftkv/harness/sim"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/internal/suggest"
	"github.com/raftkv/raftkv/nemesis"
)

// ErrScenario wraps every scenario parse or validation error.
var ErrScenario = errors.New("harness: scenario")

// Duration is a YAML duration ("1.5s").
type Duration = nemesis.Duration

// NodeFlags are the node flags a scenario sets.
type NodeFlags struct {
	ElectionTimeout   Duration `yaml:"election_timeout,omitempty"`
	HeartbeatInterval Duration `yaml:"heartbeat_interval,omitempty"`
	SnapshotEvery     uint64   `yaml:"snapshot_every,omitempty"`
	// Extra flags passed verbatim to each node.
	Extra []string `yaml:"extra,omitempty"`

	// Sim backend only: the bytes of one append message and the appends
	// in flight per follower (0: 1 MiB and 256), and pre-vote and
	// check-quorum (on unless false; check-quorum stays on with lease
	// reads). A sim scenario that leaves them unset draws them per seed.
	MaxAppendBytes uint64 `yaml:"max_append_bytes,omitempty"`
	MaxInflight    int    `yaml:"max_inflight,omitempty"`
	PreVote        *bool  `yaml:"pre_vote,omitempty"`
	CheckQuorum    *bool  `yaml:"check_quorum,omitempty"`
}

// Scenario is one test: a cluster, a workload, faults and an expectation.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Backend is the cluster backend: "process" (default) or "fake".
	Backend string `yaml:"backend,omitempty"`
	// Target is the store under test: "raftkv" (default) or another
	// registered target ("etcd"); other targets run on the process
	// backend only.
	Target string `yaml:"target,omitempty"`
	Nodes  int    `yaml:"nodes,omitempty"`
	// Duration is how long the workload and the nemesis run.
	Duration Duration `yaml:"duration"`
	// Clients is the number of concurrent clients.
	Clients int `yaml:"clients,omitempty"`
	// Rate is total operations per second (0: as fast as possible).
	Rate             float64      `yaml:"rate,omitempty"`
	Keys             int          `yaml:"keys,omitempty"`
	MaxClientsPerKey int          `yaml:"max_clients_per_key,omitempty"`
	Mix              workload.Mix `yaml:"mix,omitempty"`
	// ReadMode is the nodes' --read-mode, and what the clients' gets ask for.
	ReadMode       string   `yaml:"read_mode,omitempty"`
	RequestTimeout Duration `yaml:"request_timeout,omitempty"`
	// WriteAttempts bounds how many times a client sends a write whose
	// outcome stays unknown, with the same client and request id (default
	// 1: never retry): still one operation in the history.
	WriteAttempts int              `yaml:"write_attempts,omitempty"`
	Node          NodeFlags        `yaml:"node,omitempty"`
	Nemesis       nemesis.Schedule `yaml:"nemesis,omitempty"`
	// Recovery is how long the clients keep going after the final heal,
	// before the final reads.
	Recovery Duration `yaml:"recovery,omitempty"`
	// FinalReadTimeout bounds the final reads of every key.
	FinalReadTimeout Duration `yaml:"final_read_timeout,omitempty"`
	// CheckTimeout bounds the linearizability search.
	CheckTimeout Duration `yaml:"check_timeout,omitempty"`
	// Expect is the verdict the scenario expects: valid (default), invalid
	// or unknown.
	Expect string `yaml:"expect,omitempty"`
	// Seed fixes the seed (0: chosen at run time and written to the
	// resolved scenario).
	Seed int64 `yaml:"seed,omitempty"`
	// Swarm (sim backend only) makes each seed draw its own configuration
	// from its random source — cluster size, timings, snapshot interval,
	// workload shape, timeouts, retries and which fault families are on,
	// with their weights and timings — over this scenario's (see
	// harness/sim/swarm.go); sim.json records the draw.
	Swarm bool `yaml:"swarm,omitempty"`
	// Secure runs the cluster secured (docs/security.md): the harness
	// makes a development CA, a certificate per node and a token per role
	// in the run's secrets/ directory; the nodes run with mutual TLS
	// between them, TLS on the API and tokens, and every client of the
	// harness speaks https and sends the token its calls need. Targets
	// with target.CapSecure, on the backends in SecureBackends.
	Secure bool `yaml:"secure,omitempty"`
	// ServerTimeout (sim backend only) is the nodes' own request timeout
	// (default 5s, as the node's --request-timeout).
	ServerTimeout Duration `yaml:"server_timeout,omitempty"`
	// Network (sim backend only) fixes the simulated network's baseline
	// latency, jitter, spikes, loss, duplication, API delay and fsync cost,
	// which each seed otherwise draws (sim.NetParams).
	Network *sim.NetParams `yaml:"network,omitempty"`

	// Path is the file the scenario came from.
	Path string `yaml:"-"`
}

// ParseScenario decodes one scenario strictly: unknown fields, a second
// document or a wrong type are errors with line numbers. name is used in
// messages and as the default scenario name.
func ParseScenario(data []byte, name string) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: empty file", ErrScenario, name)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrScenario, name, withFieldHints(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%w: %s: line %d: more than one document", ErrScenario, name, extra.Line)
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	sc.Path = name
	sc.applyDefaults()
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrScenario, name, err)
	}
	return &sc, nil
}

// unknownField matches the strict decoder's message for an unknown key.
var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// withFieldHints adds "did you mean" to the decoder's unknown-field
// messages, from the yaml names of the struct type the message names.
func withFieldHints(err error) error {
	fields := yamlFields(reflect.TypeFor[Scenario](), map[string][]string{})
	msg := unknownField.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := unknownField.FindStringSubmatch(m)
		return m + suggest.Hint(sub[1], fields[sub[2]])
	})
	return errors.New(msg)
}

// yamlFields maps each struct type reachable from t (by its Go name, as
// the decoder prints it) to its fields' yaml names.
func yamlFields(t reflect.Type, into map[string][]string) map[string][]string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return into
	}
	if _, seen := into[t.String()]; seen {
		return into
	}
	into[t.String()] = nil
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[t.String()] = append(into[t.String()], name)
		yamlFields(f.Type, into)
	}
	return into
}

// LoadScenario reads and parses a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	return ParseScenario(data, path)
}

func (s *Scenario) applyDefaults() {
	if s.Backend == "" {
		s.Backend = "process"
	}
	if s.Target == "" {
		s.Target = target.Default
	}
	if s.Nodes == 0 {
		s.Nodes = 3
	}
	if s.Clients == 0 {
		s.Clients = 6
	}
	if s.Keys == 0 {
		s.Keys = 8
	}
	if s.MaxClientsPerKey == 0 {
		s.MaxClientsPerKey = 3
	}
	if s.Mix == (workload.Mix{}) {
		s.Mix = workload.DefaultMix
	}
	if s.ReadMode == "" {
		s.ReadMode = "linearizable"
		if t, err := target.Lookup(s.Target); err == nil {
			s.ReadMode = t.ReadModes()[0]
		}
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = Duration(time.Second)
	}
	if s.Recovery == 0 {
		s.Recovery = Duration(3 * time.Second)
	}
	if s.FinalReadTimeout == 0 {
		s.FinalReadTimeout = Duration(15 * time.Second)
	}
	if s.CheckTimeout == 0 {
		s.CheckTimeout = Duration(60 * time.Second)
	}
	if s.Expect == "" {
		s.Expect = "valid"
	}
}

// Validate checks the scenario's values.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Duration <= 0 {
		bad("duration must be > 0")
	}
	if s.Nodes < 1 {
		bad("nodes must be >= 1")
	}
	if s.Clients < 1 || s.Keys < 1 || s.MaxClientsPerKey < 0 || s.Rate < 0 {
		bad("clients and keys must be >= 1, rate and max_clients_per_key >= 0")
	}
	if !contains(cluster.Backends(), s.Backend) {
		bad("backend %q unknown (have %v)", s.Backend, cluster.Backends())
	}
	if t, err := target.Lookup(s.Target); err != nil {
		bad("%v%s", err, suggest.Hint(s.Target, target.Names()))
	} else {
		if !contains(t.ReadModes(), s.ReadMode) {
			bad("read_mode %q: target %s has %s", s.ReadMode, t.Name(), strings.Join(t.ReadModes(), "|"))
		}
		if t.Name() != target.Default && !contains(TargetBackends, s.Backend) {
			bad("target %s runs on the %s backends only (backend %q starts raftkv)", t.Name(), strings.Join(TargetBackends, " and "), s.Backend)
		}
		t = OnBackend(s.Backend, t)
		if s.WriteAttempts > 1 && !target.Has(t, target.CapSessions) {
			bad("write_attempts %d: target %s has no sessions, so a write sent again may apply twice", s.WriteAttempts, t.Name())
		}
		if err := s.Nemesis.CheckTarget(t); err != nil {
			errs = append(errs, err)
		}
		if s.Secure {
			if err := CheckSecure(s.Backend, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	switch s.Expect {
	case "valid", "invalid", "unknown":
	default:
		bad("expect %q (valid|invalid|unknown)", s.Expect)
	}
	if s.Mix.Get < 0 || s.Mix.Put < 0 || s.Mix.Delete < 0 || s.Mix.Cas < 0 {
		bad("mix weights must be >= 0")
	}
	if s.Recovery < 0 || s.RequestTimeout < 0 || s.CheckTimeout < 0 || s.FinalReadTimeout < 0 {
		bad("durations must be >= 0")
	}
	if err := s.Nemesis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := s.checkSimOnly(); err != nil {
		errs = append(errs, err)
	}
	if s.ServerTimeout < 0 {
		bad("server_timeout must be >= 0")
	}
	if s.Network != nil {
		if err := s.Network.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SecureBackends are the backends that can run a cluster secured. The sim
// backend cannot: its nodes exchange messages in memory and its clients
// call them directly, with no network to secure, so `secure` would change
// nothing there and is refused rather than ignored; the fake backend's
// nodes speak plain http.
var SecureBackends = []string{"process", "docker"}

// TargetBackends are the backends that run a target other than raftkv:
// they start its binary (process) or an image built from it (docker); the
// simulation runs raftkv's own code only.
var TargetBackends = []string{process.Name, docker.Name}

// OnBackend is t as it runs on backend: with the faults the backend makes
// itself for any store (docker.On), so that the one rule that refuses a
// fault a target cannot take (nemesis.CheckTarget) sees them.
func OnBackend(backend string, t target.Target) target.Target {
	if backend == docker.Name {
		return docker.On(t)
	}
	return t
}

// CheckSecure says why a scenario with `secure: true` cannot run on
// backend with target t (nil: it can).
func CheckSecure(backend string, t target.Target) error {
	if !target.Has(t, target.CapSecure) {
		return fmt.Errorf("secure: target %s cannot run secured (it has no TLS and token setup in the harness; only targets with the %q capability can)", t.Name(), target.CapSecure)
	}
	if !contains(SecureBackends, backend) {
		return fmt.Errorf("secure: backend %s cannot run secured (have %s)", backend, strings.Join(SecureBackends, ", "))
	}
	return nil
}

// checkSimOnly refuses the fields only the simulation reads on another
// backend, which would ignore them.
func (s *Scenario) checkSimOnly() error {
	if s.Backend == sim.Name {
		return nil
	}
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"node.max_append_bytes", s.Node.MaxAppendBytes != 0}, {"node.max_inflight", s.Node.MaxInflight != 0},
		{"node.pre_vote", s.Node.PreVote != nil}, {"node.check_quorum", s.Node.CheckQuorum != nil},
		{"server_timeout", s.ServerTimeout != 0}, {"network", s.Network != nil},
	} {
		if f.on {
			set = append(set, f.name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%s: sim backend only (backend %q would ignore it)", strings.Join(set, ", "), s.Backend)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Marshal writes the scenario as YAML.
func (s *Scenario) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrScenario, err)
	}
	return b.Bytes(), enc.Close()
}

// Faults lists the names of the scenario's faults (for summaries).
func (s *Scenario) Faults() []string {
	var out []string
	for _, f := range s.Nemesis.Specs() {
		out = append(out, f.String())
	}
	return out
}
