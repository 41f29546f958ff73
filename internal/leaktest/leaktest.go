package leaktest

import (
	"runtime"
	"testing"
	"time"

	np "github.com/cloudwego/netpoll"
)

// Check records the number of goroutines and returns a function that fails t unless that
// number comes back within 10 s, printing every goroutine's stack. cloudwego/netpoll's
// pollers are started first: they are process-wide and live forever.
//
//	defer leaktest.Check(t)()
func Check(t testing.TB) func() {
	t.Helper()
	np.Initialize()
	runtime.GC()
	base := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf)
			}
			time.Sleep(time.Millisecond) // poll interval
		}
	}
}
