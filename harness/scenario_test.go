package harness

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/nemesis"
)

func TestParseScenarioDefaultsAndFaults(t *testing.T) {
	src := `
name: p
duration: 5s
nemesis:
  interval: 1s
  jitter: 200ms
  faults:
    - partition-halves
    - fault: clock-rate
      target: leader
      rate: 0.5
    - fault: compose
      of: [partition-isolate-leader, {fault: clock-strobe, delta: 300ms}]
`
	sc, err := ParseScenario([]byte(src), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Backend != "process" || sc.Nodes != 3 || sc.ReadMode != "linearizable" || sc.Expect != "valid" {
		t.Errorf("defaults not applied: %+v", sc)
	}
	if sc.Duration.D() != 5*time.Second || sc.Nemesis.Jitter.D() != 200*time.Millisecond {
		t.Errorf("durations: %v %v", sc.Duration.D(), sc.Nemesis.Jitter.D())
	}
	fs := sc.Nemesis.Faults
	if len(fs) != 3 || fs[0].Fault != "partition-halves" || fs[1].Rate != 0.5 || fs[1].Target != "leader" {
		t.Fatalf("faults: %+v", fs)
	}
	if fs[2].Fault != "compose" || len(fs[2].Of) != 2 || fs[2].Of[1].Delta.D() != 300*time.Millisecond {
		t.Fatalf("compose: %+v", fs[2])
	}
	// The resolved form parses back to the same scenario.
	b, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sc2, err := ParseScenario(b, "resolved.yaml")
	if err != nil {
		t.Fatalf("resolved scenario does not parse: %v\n%s", err, b)
	}
	if sc2.Nemesis.Faults[2].String() != fs[2].String() || sc2.Duration != sc.Duration {
		t.Errorf("round trip changed the scenario:\n%s", b)
	}
}

func TestParseScenarioStrictErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown top-level field", "name: x\nduration: 1s\nclinets: 3\n", `line 3: field clinets not found in type harness.Scenario (did you mean "clients"?)`},
		{"unknown nested field", "duration: 1s\nnode:\n  election_timeot: 1s\n", `line 3: field election_timeot not found in type harness.NodeFlags (did you mean "election_timeout"?)`},
		{"unknown fault field", "duration: 1s\nnemesis:\n  faults:\n    - fault: clock-rate\n      rat: 2\n", `line 5: field rat not found in fault spec (did you mean "rate"?)`},
		{"unknown fault", "duration: 1s\nnemesis:\n  faults: [partition-thirds]\n", `line 3: nemesis: unknown fault: "partition-thirds"`},
		{"misspelt fault", "duration: 1s\nnemesis:\n  faults:\n    - kill-one\n    - partition-isolate-leadr\n", `line 5: nemesis: unknown fault: "partition-isolate-leadr" (did you mean "partition-isolate-leader"?)`},
		{"misspelt fault in a mapping", "duration: 1s\nnemesis:\n  faults:\n    - target: one\n      fault: kil-one\n", `line 5: nemesis: unknown fault: "kil-one" (did you mean "kill-one"?)`},
		{"bad duration", "duration: fast\n", "line 1"},
		{"wrong type", "duration: 1s\nnodes: three\n", "line 2"},
		{"missing duration", "name: x\n", "duration must be > 0"},
		{"bad expect", "duration: 1s\nexpect: fine\n", "expect \"fine\""},
		{"bad read mode", "duration: 1s\nread_mode: eventual\n", "read_mode"},
		{"bad backend", "duration: 1s\nbackend: k8s\n", "backend \"k8s\" unknown"},
		{"two documents", "duration: 1s\n---\nduration: 2s\n", "more than one document"},
		{"empty", "", "empty file"},
		{"bad mode", "duration: 1s\nnemesis:\n  mode: chaos\n", "mode \"chaos\""},
		{"unknown store target", "duration: 1s\ntarget: mongo\n", `target: unknown target "mongo" (have `},
		{"bad target", "duration: 1s\nnemesis:\n  faults: [{fault: kill-one, target: everyone}]\n", "target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(c.src), "s.yaml")
			if err == nil {
				t.Fatalf("no error for %q", c.src)
			}
			if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestScenarioFilesParse(t *testing.T) {
	for _, dir := range []string{"scenarios/ci", "scenarios/suite", "scenarios/demo", "scenarios/sim", "testdata"} {
		files, err := globYAML(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			sc, err := LoadScenario(f)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			for _, fs := range sc.Nemesis.Faults {
				if err := nemesis.Validate(fs); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		}
	}
}

// TestScenarioTargetEtcd: a scenario for etcd takes the process faults and
// etcd's read modes; what needs raftkv (its in-node fault API, its read
// modes, sessions, another backend) is refused naming the fault or field
// and the target.
func TestScenarioTargetEtcd(t *testing.T) {
	sc, err := ParseScenario([]byte("duration: 1s\ntarget: etcd\nnemesis:\n  faults: [kill-leader, pause-one, {fault: leader-flap, action: crash}]\n"), "e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Target != "etcd" || sc.ReadMode != "linearizable" {
		t.Fatalf("target %q read mode %q", sc.Target, sc.ReadMode)
	}
	if _, err := ParseScenario([]byte("duration: 1s\ntarget: etcd\nread_mode: serializable\n"), "e.yaml"); err != nil {
		t.Fatalf("serializable reads on etcd: %v", err)
	}
	for _, c := range []struct{ src, want string }{
		{"nemesis:\n  faults: [kill-one, {fault: clock-rate, rate: 0.5}]\n", "fault clock-rate(rate=0.5) needs a node clock fault API (clock), which target etcd does not offer"},
		{"nemesis:\n  faults: [partition-halves]\n", "fault partition-halves needs raftkv's in-node network rules"},
		{"nemesis:\n  faults: [{fault: compose, of: [pause-one, {fault: failpoint}]}]\n", "target etcd"},
		{"nemesis:\n  faults: [membership-churn]\n", "fault membership-churn"},
		{"read_mode: lease\n", `read_mode "lease": target etcd has linearizable|serializable`},
		{"backend: sim\n", "target etcd runs on the process and docker backends only"},
		{"backend: docker\nnemesis:\n  faults: [partition-halves, packet-loss, kill-one]\n", ""},
		{"backend: docker\nnemesis:\n  faults: [{fault: clock-rate, rate: 0.5}]\n", "target etcd does not offer"},
		{"write_attempts: 3\n", "target etcd has no sessions"},
		{"read_mode: serializable\n", ""},
	} {
		_, err := ParseScenario([]byte("duration: 1s\ntarget: etcd\n"+c.src), "e.yaml")
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.src, err, c.want)
		}
	}
	if _, err := ParseScenario([]byte("duration: 1s\ntarget: etcd\nread_mode: serializable\n"), "e.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseScenario([]byte("duration: 1s\nread_mode: serializable\n"), "r.yaml"); err == nil || !strings.Contains(err.Error(), "target raftkv has linearizable|lease|stale") {
		t.Errorf("serializable on raftkv: %v", err)
	}
}

// TestScenarioSecure: `secure: true` runs raftkv on a backend that can
// secure it, and is refused, saying why, for a target without TLS and
// tokens in the harness and for backends where it would change nothing.
func TestScenarioSecure(t *testing.T) {
	sc, err := ParseScenario([]byte("duration: 1s\nsecure: true\n"), "s.yaml")
	if err != nil || !sc.Secure {
		t.Fatalf("secure raftkv on the process backend: %+v, %v", sc, err)
	}
	for _, c := range []struct{ src, want string }{
		{"target: etcd\n", "secure: target etcd cannot run secured"},
		{"backend: sim\n", "secure: backend sim cannot run secured"},
		{"backend: fake\n", "secure: backend fake cannot run secured"},
	} {
		_, err := ParseScenario([]byte("duration: 1s\nsecure: true\n"+c.src), "s.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.src, err, c.want)
		}
	}
	// --backend overrides the scenario's after it was parsed: the run
	// refuses it too, before starting anything.
	r := &Runner{Opts: RunOptions{Store: t.TempDir(), Backend: "sim"}}
	out := r.Run(context.Background(), sc)
	if out.Err == nil || !strings.Contains(out.Err.Error(), "secure: backend sim cannot run secured") {
		t.Errorf("secure run with --backend sim: %v", out.Err)
	}
}

// The fields only the simulation reads (its network, the nodes' own
// timeout, the raft knobs) parse on the sim backend, round-trip through
// the resolved scenario, and are refused on another backend, which would
// ignore them.
func TestSimOnlyFields(t *testing.T) {
	src := `
backend: sim
duration: 2s
server_timeout: 250ms
network: {latency: 300us, jitter: 100us, spike_rate: 0.01, spike: 1.5s, loss: 0.001, dup: 0, api: 150us, fsync: 400us}
node: {heartbeat_interval: 20ms, election_timeout: 200ms, max_append_bytes: 100, max_inflight: 2, pre_vote: false, check_quorum: true}
nemesis:
  steps:
    - {at: 500ms, hold: 1s, fault: partition-isolate-leader}
`
	sc, err := ParseScenario([]byte(src), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Network == nil || sc.Network.Spike != 1500*time.Millisecond || sc.ServerTimeout.D() != 250*time.Millisecond ||
		sc.Node.MaxInflight != 2 || sc.Node.PreVote == nil || *sc.Node.PreVote || sc.Node.CheckQuorum == nil || !*sc.Node.CheckQuorum {
		t.Fatalf("parsed %+v", sc)
	}
	if got := sc.Faults(); len(got) != 1 || got[0] != "partition-isolate-leader" {
		t.Errorf("faults of the steps: %v", got)
	}
	b, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sc2, err := ParseScenario(b, "resolved.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	sc2.Path = sc.Path
	if !reflect.DeepEqual(sc, sc2) {
		t.Errorf("round trip:\n%s", b)
	}
	process := strings.Replace(src, "backend: sim", "backend: process", 1)
	if _, err := ParseScenario([]byte(process), "p.yaml"); err == nil ||
		!strings.Contains(err.Error(), "node.max_append_bytes, node.max_inflight, node.pre_vote, node.check_quorum, server_timeout, network: sim backend only") {
		t.Errorf("on the process backend: %v", err)
	}
	bad := strings.Replace(src, "loss: 0.001", "loss: 2", 1)
	if _, err := ParseScenario([]byte(bad), "b.yaml"); err == nil || !strings.Contains(err.Error(), "probability 2") {
		t.Errorf("loss 2: %v", err)
	}
}

// Every workload field of a scenario reaches the real workload (process
// and docker backends): write_attempts once did not, so retries with the
// same session ran only in the simulation.
func TestWorkloadConfigFromScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`name: w
backend: process
nodes: 3
duration: 5s
clients: 7
rate: 55
keys: 4
max_clients_per_key: 2
mix: {get: 1, put: 2, delete: 3, cas: 4, edge: 5}
read_mode: lease
request_timeout: 750ms
write_attempts: 3
seed: 42
expect: valid
`), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := workloadConfig(sc)
	want := workload.Config{Concurrency: 7, Rate: 55, Keys: 4, MaxClientsPerKey: 2,
		Mix: workload.Mix{Get: 1, Put: 2, Delete: 3, Cas: 4, Edge: 5}, RequestTimeout: 750 * time.Millisecond,
		ReadMode: "lease", WriteAttempts: 3, Seed: 42}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("workload config\n got %+v\nwant %+v", got, want)
	}
}
