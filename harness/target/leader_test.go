package target

import (
	"cmp"
	"testing"
)

func TestLeaderByVotes(t *testing.T) {
	less := func(a, b string) bool { return cmp.Less(a, b) }
	for _, tc := range []struct {
		reports []LeaderReport[string]
		want    string
	}{
		{nil, ""},
		{[]LeaderReport[string]{{"", 3}, {"", 4}}, ""},
		{[]LeaderReport[string]{{"n1", 3}, {"n1", 3}, {"n2", 3}}, "n1"},
		// A stale leader of an older term loses even with more votes.
		{[]LeaderReport[string]{{"n1", 3}, {"n1", 3}, {"n2", 4}}, "n2"},
		// A tie goes to the first in order.
		{[]LeaderReport[string]{{"n2", 5}, {"n1", 5}}, "n1"},
	} {
		got, ok := LeaderByVotes(tc.reports, less)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%v: %q %v, want %q", tc.reports, got, ok, tc.want)
		}
	}
}
