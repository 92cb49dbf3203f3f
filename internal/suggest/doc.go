// Package suggest finds the known name closest to a mistyped one, for
// "did you mean" hints in error messages (unknown flags, fault names,
// scenario fields). It only suggests names within a small edit distance,
// so a hint is never a wild guess.
package suggest
