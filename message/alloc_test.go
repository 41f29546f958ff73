//go:build !race

package message

// Allocation counts differ under the race detector.

import "testing"

// Grow(n) leaves room for n pairs more: setting them does not allocate.
func TestPropertiesGrow(t *testing.T) {
	var p Properties
	p.Set("TAGS", "a")
	if n := testing.AllocsPerRun(100, func() {
		q := Properties{list: p.list[:1:1]}
		q.Grow(2)
		q.Set("traceparent", "x")
		q.Set("UNIQ_KEY", "y")
		if q.Len() != 3 || q.Get("TAGS") != "a" || q.Get("UNIQ_KEY") != "y" {
			t.Fatalf("after Grow: %s", q.Encode())
		}
	}); n != 1 {
		t.Errorf("%v allocations growing by 2 and setting 2 pairs, want the growth's 1", n)
	}
}
