//go:build raftkv_bugs

package bugs

import (
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
