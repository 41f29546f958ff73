package host

import (
	"testing"
	"unsafe"
)

// TestCallFieldsLeadTheirStructs keeps what a call reads at the head of the plugin, the
// version and the instance: between two hook calls on the send path the caches forget
// them, and a field moved behind a pointer or to a far line is one more wait per call
// (BenchmarkSendHookCold).
func TestCallFieldsLeadTheirStructs(t *testing.T) {
	const line = 64
	var p Plugin
	var v version
	var g guest
	for _, f := range []struct {
		name       string
		end, bound uintptr
	}{
		{"Plugin.consecutive", unsafe.Offsetof(p.consecutive) + unsafe.Sizeof(p.consecutive), line},
		{"version.pool.fast", unsafe.Offsetof(v.pool) + unsafe.Offsetof(v.pool.fast) + unsafe.Sizeof(v.pool.fast), line},
		{"version.inputLimit", unsafe.Offsetof(v.inputLimit) + unsafe.Sizeof(v.inputLimit), 2 * line},
		{"guest.logLimit", unsafe.Offsetof(g.logLimit) + unsafe.Sizeof(g.logLimit), 4 * line},
		{"guest.edit.bytes", unsafe.Offsetof(g.edit) + unsafe.Offsetof(g.edit.bytes), 6 * line},
	} {
		if f.end > f.bound {
			t.Errorf("%s ends at byte %d, past %d", f.name, f.end, f.bound)
		}
	}
}
