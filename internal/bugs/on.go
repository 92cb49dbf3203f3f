//go:build raftkv_bugs

package bugs

import (
	"slices"
	"sync/atomic"
)

// Built is true: this binary was built with -tags raftkv_bugs.
const Built = true

var enabled atomic.Pointer[map[ID]bool]

// On reports whether bug id is switched on in this process.
func On(id ID) bool {
	m := enabled.Load()
	return m != nil && (*m)[id]
}

// Enable switches the given bugs on for the whole process and every other
// bug off (no ids: all off). Unknown names are refused.
func Enable(ids ...ID) error {
	m := map[ID]bool{}
	for _, id := range ids {
		if _, ok := Lookup(id); !ok {
			return ErrUnknown
		}
		m[id] = true
	}
	enabled.Store(&m)
	return nil
}

// Enabled lists the bugs switched on.
func Enabled() []ID {
	m := enabled.Load()
	if m == nil {
		return nil
	}
	var out []ID
	for _, b := range Catalogue {
		if (*m)[b.ID] {
			out = append(out, b.ID)
		}
	}
	return out
}

// fired counts, per catalogue entry (by its position), how often the bug's
// code path actually behaved differently from the correct one.
var fired [len(catalogueIDs)]atomic.Int64

// Fire records that bug id just took its wrong branch: the planted code
// ran and did something the correct code would not have done. A mutation
// run that escapes with a count of zero never reached the bug (the
// exploration's fault); one with a positive count reached it without the
// checker seeing a consequence (the checking's, or a bug that needs
// another condition to do harm).
func Fire(id ID) {
	if i := slices.Index(catalogueIDs[:], id); i >= 0 {
		fired[i].Add(1)
	}
}

// Fired returns how often bug id fired since the last ResetFired.
func Fired(id ID) int64 {
	if i := slices.Index(catalogueIDs[:], id); i >= 0 {
		return fired[i].Load()
	}
	return 0
}

// ResetFired sets every firing count back to zero.
func ResetFired() {
	for i := range fired {
		fired[i].Store(0)
	}
}
