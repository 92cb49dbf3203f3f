package suggest

import (
	"fmt"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Closest returns the option nearest to word, or "" when none is close
// enough to be a likely typo: at most a third of the word's length in
// edits (at least 2), or an option that contains word or is contained in
// it (a dropped prefix such as "isolate-leader").
func Closest(word string, options []string) string {
	if word == "" {
		return ""
	}
	limit := max(2, len(word)/3)
	best, bestDist := "", limit+1
	for _, o := range options {
		if o == word {
			return o
		}
		d := levenshtein.ComputeDistance(strings.ToLower(word), strings.ToLower(o))
		if d > limit && len(word) >= 4 && (strings.Contains(o, word) || strings.Contains(word, o) && len(o) >= 4) {
			d = limit
		}
		if d < bestDist || d == bestDist && o < best {
			best, bestDist = o, d
		}
	}
	if bestDist > limit {
		return ""
	}
	return best
}

// Hint is " (did you mean "x"?)" for the closest option, or "".
func Hint(word string, options []string) string {
	if c := Closest(word, options); c != "" && c != word {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}
