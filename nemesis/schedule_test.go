package nemesis_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/nemesis"
)

const stepsYAML = `
steps:
  - {at: 1.2s, hold: 300ms, fault: partition-isolate-leader}
  - at: 2s
    hold: 1s
    fault: compose
    of: [{fault: clock-rate, target: leader, rate: 0.05}, kill-one]
  - {at: 4s, hold: 0s, fault: kill-one, spread: 10ms}
  - {at: 5s, hold: 2s, fault: partition-majorities-ring}
`

// A schedule with steps is its own plan: every step, whatever the seed,
// less those that do not apply or end after the duration.
func TestPlanOfFixedSteps(t *testing.T) {
	var s nemesis.Schedule
	if err := yaml.Unmarshal([]byte(stepsYAML), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []nemesis.Step{
		{At: 1200 * time.Millisecond, Hold: 300 * time.Millisecond, Spec: nemesis.Spec{Fault: "partition-isolate-leader"}},
		{At: 2 * time.Second, Hold: time.Second, Spec: nemesis.Spec{Fault: "compose", Of: []nemesis.Spec{
			{Fault: "clock-rate", Target: "leader", Rate: 0.05}, {Fault: "kill-one"}}}},
		{At: 4 * time.Second, Spec: nemesis.Spec{Fault: "kill-one", Spread: nemesis.Duration(10 * time.Millisecond)}},
		{At: 5 * time.Second, Hold: 2 * time.Second, Spec: nemesis.Spec{Fault: "partition-majorities-ring"}},
	}
	if !reflect.DeepEqual(s.Steps, want) {
		t.Fatalf("parsed %+v\nwant %+v", s.Steps, want)
	}
	for _, seed := range []int64{1, 2, 99} {
		if got := s.Plan(seed, time.Minute, nil); !reflect.DeepEqual(got, want) {
			t.Errorf("seed %d planned %v", seed, got)
		}
	}
	// The last step ends at 7s: a 6.9s run drops it.
	if got := s.Plan(1, 6900*time.Millisecond, nil); !reflect.DeepEqual(got, want[:3]) {
		t.Errorf("6.9s planned %v", got)
	}
	noRing := func(sp nemesis.Spec) bool { return sp.Fault != "partition-majorities-ring" }
	if got := s.Plan(1, time.Minute, noRing); !reflect.DeepEqual(got, want[:3]) {
		t.Errorf("without the ring planned %v", got)
	}
	if got := s.Plan(1, time.Second, nil); got != nil {
		t.Errorf("1s planned %v", got)
	}
	if got := s.Specs(); len(got) != 4 || got[1].Fault != "compose" {
		t.Errorf("specs %v", got)
	}

	// Written back, the steps read the same.
	b, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back nemesis.Schedule
	if err := yaml.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip:\n%s\nread %+v", b, back.Steps)
	}
	if !strings.Contains(string(b), "- {at: 1.2s, hold: 300ms, fault: partition-isolate-leader}\n") {
		t.Errorf("written as\n%s", b)
	}
}

func TestFixedStepsValidation(t *testing.T) {
	for _, c := range []struct{ yaml, err string }{
		{"steps: [{at: 1s, hold: 1s, fault: kill-one}]\nfaults: [kill-one]", "either steps"},
		{"steps: [{at: 1s, hold: 1s, fault: kill-one}]\ninterval: 1s", "either steps"},
		{"steps: [{at: -1s, hold: 1s, fault: kill-one}]", "negative at"},
		{"steps: [{at: 1s, hold: -1s, fault: kill-one}]", "negative at"},
		{"steps: [{at: 1s, hold: 1s, fault: kill-one, weight: 2}]", "weight"},
		{"steps: [{at: 1s, hold: 1s, fault: kill-one, target: nobody}]", "target"},
		{"steps: [{at: 1s, hold: 1s, fault: kill-one}, {at: 1500ms, hold: 1s, fault: kill-one}]", "step 2 (kill-one) at 1.5s starts before step 1 ends at 2s"},
	} {
		var s nemesis.Schedule
		if err := yaml.Unmarshal([]byte(c.yaml), &s); err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		err := s.Validate()
		if err == nil || !errors.Is(err, nemesis.ErrBadSpec) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.err)
		}
	}
	for _, c := range []struct{ yaml, err string }{
		{"steps: [kill-one]", "a step is a mapping"},
		{"steps: [{at: 1s, fault: kill-one}]", `needs both "at" and "hold"`},
		{"steps: [{at: 1s, hold: 1s, fault: kil-one}]", "kil-one"},
		{"steps: [{at: 1s, hold: 1s, fault: kill-one, sprea: 1ms}]", "field sprea not found"},
		{"steps: [{at: soon, hold: 1s, fault: kill-one}]", "soon"},
	} {
		var s nemesis.Schedule
		if err := yaml.Unmarshal([]byte(c.yaml), &s); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.err)
		}
	}
}
