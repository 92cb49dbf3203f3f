package suggest

import (
	"testing"

	"github.com/spf13/cobra"
)

func TestClosest(t *testing.T) {
	faults := []string{"partition-isolate-leader", "partition-halves", "kill", "pause", "clock-skew"}
	for _, tc := range []struct{ word, want string }{
		{"partition-isolate-leadr", "partition-isolate-leader"},
		{"partiton-halves", "partition-halves"},
		{"kil", "kill"},
		{"isolate-leader", "partition-isolate-leader"},
		{"clockskew", "clock-skew"},
		{"kill", "kill"},
		{"bogus", ""},
		{"", ""},
		{"x", ""},
	} {
		if got := Closest(tc.word, faults); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if h := Hint("kil", faults); h != ` (did you mean "kill"?)` {
		t.Errorf("Hint: %q", h)
	}
	if h := Hint("kill", faults); h != "" {
		t.Errorf("Hint of an exact name: %q", h)
	}
}

func TestFlagError(t *testing.T) {
	root := &cobra.Command{Use: "tool", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().String("endpoints", "", "")
	run := &cobra.Command{Use: "run", RunE: func(*cobra.Command, []string) error { return nil }}
	run.Flags().Int("seed", 0, "")
	root.AddCommand(run)
	root.SetFlagErrorFunc(FlagError)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--sed", "1"}, `unknown flag: --sed (did you mean "seed"?)`},
		{[]string{"run", "--endpoint", "x"}, `unknown flag: --endpoint (did you mean "endpoints"?)`},
		{[]string{"run", "--zzzzzz"}, `unknown flag: --zzzzzz (tool run --help lists the flags)`},
	} {
		root.SetArgs(tc.args)
		err := root.Execute()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: got %v, want %s", tc.args, err, tc.want)
		}
	}
}
