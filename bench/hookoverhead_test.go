package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
)

// BenchmarkSendHookOverhead is BenchmarkSendWithHook's comparison made in one run, paired:
// a producer without a hook and one with it, on the same dev cluster, send in turns of
// hookSlice messages each (64 senders, 1 KiB messages), and overhead-% is the median of
// the turns' differences in this process's CPU per message. On a shared machine whose
// speed changes by half from one second to the next (a sibling thread busy, say), runs of
// whole variants one after the other differ by more than a hook costs; two turns a
// fraction of a second apart see the same machine. The order of the two turns alternates,
// so that neither always runs first. b.N is the messages each producer sends.
//
//	cd bench && go test -run '^$' -bench SendHookOverhead -benchtime 200000x .
func BenchmarkSendHookOverhead(b *testing.B) {
	ns := prodDevClusterAddr(b)
	for _, mode := range hookModes {
		for _, hook := range []string{"native", "wasm", "wasm-noruntime", "wasm-c"} {
			b.Run("mode="+mode.name+"/hook="+hook, func(b *testing.B) {
				h, plugin := benchHook(b, hook)
				plain := newHookedProducer(b, ns, mode.coalesce, nil)
				defer plain.close()
				hooked := newHookedProducer(b, ns, mode.coalesce, []instance.SendHook{h})
				defer hooked.close()
				topic := prodTopic("HookOverhead", mode.name)
				for _, c := range []*prodMQGate{plain, hooked} { // routes and connections outside the turns
					if err := sendTurn(c, topic, prodSenders); err != nil {
						b.Fatal(err)
					}
				}
				var plainCPU, hookedCPU time.Duration
				var diffs []float64
				b.ResetTimer()
				for sent := 0; sent < b.N; {
					n := min(hookSlice, b.N-sent)
					turn := func(c *prodMQGate) time.Duration {
						cpu0 := cpuClock()
						if err := sendTurn(c, topic, n); err != nil {
							b.Fatal(err)
						}
						return cpuClock() - cpu0
					}
					var p, w time.Duration
					if len(diffs)%2 == 0 {
						p, w = turn(plain), turn(hooked)
					} else {
						w, p = turn(hooked), turn(plain)
					}
					plainCPU, hookedCPU = plainCPU+p, hookedCPU+w
					diffs = append(diffs, 100*(float64(w)/float64(p)-1))
					sent += n
				}
				b.StopTimer()
				slices.Sort(diffs)
				b.ReportMetric(diffs[len(diffs)/2], "overhead-%")
				b.ReportMetric(float64(plainCPU.Nanoseconds())/float64(b.N), "none-cpu-ns/msg")
				b.ReportMetric(float64(hookedCPU.Nanoseconds())/float64(b.N), "hook-cpu-ns/msg")
				b.ReportMetric(0, "ns/op")
				if plugin != nil {
					st := plugin.Status()
					if st.Failures != 0 {
						b.Fatalf("hook failures: %d, the last: %s", st.Failures, st.LastError)
					}
				}
			})
		}
	}
}

// hookSlice is the messages of a turn: ~50 ms of CPU here, many turns to a run.
const hookSlice = 10000

// sendTurn sends n messages from prodSenders goroutines and returns the first error.
func sendTurn(c *prodMQGate, topic string, n int) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range prodSenders {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.p.Send(context.Background(), prodMessage(topic)); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return nil
}
