package bench

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// hookBenchNameServer is where the paired hook benchmarks send: ROCKETMQ_NAMESRV's broker
// when it is set, else the dev cluster.
func hookBenchNameServer(b *testing.B) string {
	if ns := os.Getenv("ROCKETMQ_NAMESRV"); ns != "" {
		return ns
	}
	return prodDevClusterAddr(b)
}

// BenchmarkSendHookOverhead is BenchmarkSendWithHook's comparison made in one run, paired:
// a producer without a hook and one with it, on the same dev cluster, send in turns of
// hookSlice messages each (64 senders, 1 KiB messages), and overhead-% is the median of
// the turns' differences in this process's CPU per message. On a shared machine whose
// speed changes by half from one second to the next (a sibling thread busy, say), runs of
// whole variants one after the other differ by more than a hook costs; two turns a
// fraction of a second apart see the same machine. The order of the two turns alternates,
// so that neither always runs first. b.N is the messages each producer sends. The
// -passthrough hooks have nothing to change (both producers send the header already), so
// that the sandbox's share shows without the edit's. With ROCKETMQ_NAMESRV set, the
// producers send to that broker instead of the dev cluster.
//
//	cd bench && go test -run '^$' -bench SendHookOverhead -benchtime 200000x .
func BenchmarkSendHookOverhead(b *testing.B) {
	ns := hookBenchNameServer(b)
	for _, mode := range hookModes {
		for _, hook := range []string{"native", "wasm", "wasm-noruntime", "wasm-c", "wasm-noruntime-passthrough", "wasm-c-passthrough"} {
			b.Run("mode="+mode.name+"/hook="+hook, func(b *testing.B) {
				h, plugin := benchHook(b, hook)
				msg := prodMessage
				if strings.HasSuffix(hook, "-passthrough") { // both producers send the header
					msg = enrichedMessage
				}
				plain := newHookedProducer(b, ns, mode.coalesce, nil)
				defer plain.close()
				hooked := newHookedProducer(b, ns, mode.coalesce, []instance.SendHook{h})
				defer hooked.close()
				topic := prodTopic("HookOverhead", mode.name)
				for _, c := range []*prodMQGate{plain, hooked} { // routes and connections outside the turns
					if err := sendTurn(c, topic, prodSenders, msg); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				t := pairedTurns(b, b.N, hookSlice, 1,
					func(n int) error { return sendTurn(plain, topic, n, msg) },
					func(n int) error { return sendTurn(hooked, topic, n, msg) })
				b.StopTimer()
				b.ReportMetric(t.overhead(), "overhead-%")
				b.ReportMetric(float64(t.plainCPU.Nanoseconds())/float64(b.N), "none-cpu-ns/msg")
				b.ReportMetric(float64(t.hookedCPU.Nanoseconds())/float64(b.N), "hook-cpu-ns/msg")
				// The kernel's part: a hook that changes how sends batch and wake
				// shows there, not in its own code.
				b.ReportMetric(float64(t.plainSys.Nanoseconds())/float64(b.N), "none-sys-ns/msg")
				b.ReportMetric(float64(t.hookedSys.Nanoseconds())/float64(b.N), "hook-sys-ns/msg")
				b.ReportMetric(0, "ns/op")
				if plugin != nil {
					st := plugin.Status()
					if st.Failures != 0 {
						b.Fatalf("hook failures: %d, the last: %s", st.Failures, st.LastError)
					}
					b.ReportMetric(float64(b.N+prodSenders)/float64(max(st.Calls, 1)), "msgs/call")
				}
			})
		}
	}
}

// enrichedMessage is prodMessage with the enricher's header already set: a passthrough
// hook (the enricher not overwriting) looks at every message and changes none, so that
// the sandbox's cost shows without the edit's (a property set, a longer header on the
// wire), which a native hook doing the same work pays too.
func enrichedMessage(topic string) *message.Message {
	m := prodMessage(topic)
	m.Properties.Set("x-gateway", "eu-1")
	return m
}

// turnTotals is what pairedTurns measured: each side's CPU and its kernel part, and each
// turn's hooked CPU over the plain one's, in percent.
type turnTotals struct {
	plainCPU, hookedCPU, plainSys, hookedSys time.Duration
	diffs                                    []float64
}

// overhead is the median of the turns' differences.
func (t *turnTotals) overhead() float64 {
	slices.Sort(t.diffs)
	return t.diffs[len(t.diffs)/2]
}

// pairedTurns has the plain and the hooked side send total messages each, in turns of at
// most turn messages (a multiple of unit), the side going first alternating so that
// neither always does, and measures this process's CPU around each turn.
func pairedTurns(b *testing.B, total, turn, unit int, plain, hooked func(n int) error) turnTotals {
	measure := func(send func(int) error, n int) (cpu, sys time.Duration) {
		cpu0, sys0 := cpuTimes()
		if err := send(n); err != nil {
			b.Fatal(err)
		}
		cpu1, sys1 := cpuTimes()
		return cpu1 - cpu0, sys1 - sys0
	}
	var t turnTotals
	for sent := 0; sent < total; {
		n := min(turn, total-sent)
		n = max(unit, n-n%unit)
		var p, w, ps, ws time.Duration
		if len(t.diffs)%2 == 0 {
			p, ps = measure(plain, n)
			w, ws = measure(hooked, n)
		} else {
			w, ws = measure(hooked, n)
			p, ps = measure(plain, n)
		}
		t.plainCPU, t.hookedCPU = t.plainCPU+p, t.hookedCPU+w
		t.plainSys, t.hookedSys = t.plainSys+ps, t.hookedSys+ws
		t.diffs = append(t.diffs, 100*(float64(w)/float64(p)-1))
		sent += n
	}
	return t
}

// hookSlice is the messages of a turn: ~50 ms of CPU here, many turns to a run.
const hookSlice = 10000

// sendTurn sends n messages of msg from prodSenders goroutines and returns the first
// error.
func sendTurn(c *prodMQGate, topic string, n int, msg func(topic string) *message.Message) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range prodSenders {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.p.Send(context.Background(), msg(topic)); err != nil {
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
