package leb128

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
)

// Values from the LEB128 examples of the DWARF and WebAssembly specifications, and the
// edges of each width.
func TestAppend(t *testing.T) {
	for _, c := range []struct {
		v    uint32
		want string
	}{{0, "00"}, {2, "02"}, {127, "7f"}, {128, "8001"}, {624485, "e58e26"}, {math.MaxUint32, "ffffffff0f"}} {
		if got := hex.EncodeToString(AppendU32(nil, c.v)); got != c.want {
			t.Errorf("AppendU32(%d) = %s, want %s", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    int64
		want string
	}{{0, "00"}, {2, "02"}, {-2, "7e"}, {63, "3f"}, {64, "c000"}, {-64, "40"}, {-65, "bf7f"}, {-123456, "c0bb78"},
		{math.MaxInt32, "ffffffff07"}, {math.MinInt32, "8080808078"}, {math.MinInt64, "8080808080808080807f"}} {
		if got := hex.EncodeToString(AppendS64(nil, c.v)); got != c.want {
			t.Errorf("AppendS64(%d) = %s, want %s", c.v, got, c.want)
		}
	}
	if got := AppendU32([]byte{0xAA}, 1); !bytes.Equal(got, []byte{0xAA, 1}) {
		t.Errorf("AppendU32 does not append: %x", got)
	}
}
