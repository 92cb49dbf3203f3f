package bugs

import (
	"errors"
	"strings"
	"testing"
)

func TestCatalogue(t *testing.T) {
	seen := map[ID]bool{}
	for _, b := range Catalogue {
		if seen[b.ID] {
			t.Errorf("%s listed twice", b.ID)
		}
		seen[b.ID] = true
		if b.Rule == "" || b.Where == "" || b.Family == "" {
			t.Errorf("%s: rule, where and family must be set: %+v", b.ID, b)
		}
	}
	if len(Catalogue) < 14 {
		t.Errorf("%d bugs in the catalogue, want at least 14", len(Catalogue))
	}
	if _, err := Parse([]string{"commit-old-term", " "}); err != nil {
		t.Error(err)
	}
	if _, err := Parse([]string{"no-such-bug"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := Parse([]string{"commit-old-trm"}); err == nil || !strings.Contains(err.Error(), `did you mean "commit-old-term"?`) {
		t.Errorf("a typo gets no suggestion: %v", err)
	}
}

// The default build has no catalogue: nothing can be switched on.
func TestEnableWithoutCatalogue(t *testing.T) {
	if Built {
		t.Skip("built with -tags raftkv_bugs")
	}
	if err := Enable(CommitOldTerm); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Enable = %v, want ErrNotBuilt", err)
	}
	if On(CommitOldTerm) || Enabled() != nil {
		t.Error("a bug is on in the default build")
	}
}
