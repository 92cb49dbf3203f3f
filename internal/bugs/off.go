//go:build !raftkv_bugs

package bugs

// Built is false: this binary has no bug catalogue compiled in.
const Built = false

// On is always false in the default build, so planted branches compile away.
func On(ID) bool { return false }

// Enable refuses: the catalogue is not compiled in.
func Enable(ids ...ID) error {
	if len(ids) == 0 {
		return nil
	}
	return ErrNotBuilt
}

// Enabled lists the bugs switched on: none in the default build.
func Enabled() []ID { return nil }

// Fire does nothing in the default build.
func Fire(ID) {}

// Fired is always 0 in the default build.
func Fired(ID) int64 { return 0 }

// ResetFired does nothing in the default build.
func ResetFired() {}
