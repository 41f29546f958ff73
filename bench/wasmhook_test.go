package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
)

// The WASM hook benchmark (issue 7): the whole send path, producer.Send to the producer
// benchmarks' dev cluster in a child process (its CPU is not counted), 64 concurrent
// senders of 1 KiB messages, without a send hook, with the enricher's work as a native
// hook, and with the enricher plugin (plugins/enricher) as a WebAssembly send hook in the
// host's sandbox, configured to set one property on every message, and with the same work
// in a module without a language runtime (wasmgen.Enricher, written straight in
// WebAssembly: the sandbox's share without the Go guest's), and compiled from C
// (plugins/cenricher, with clang; skipped without it). mode=single sends one
// message per request (Coalesce off); mode=coalesce is the gateway's setting, one hook
// call per coalesced batch. cpu-ns/msg is this process's CPU per message (getrusage).
//
//	cd bench && go test -run '^$' -bench SendWithHook -count 6 . | tee hook.txt
//	benchstat -col /hook hook.txt

// enricherConfig sets x-gateway on every message (overwrite: an edit per message, the
// plugin's dearest case).
const enricherConfig = `{"properties": {"x-gateway": "eu-1"}, "overwrite": true}`

// cEnricherConfig is the same for plugins/cenricher, the enricher written in C.
const cEnricherConfig = `{"name": "x-gateway", "value": "eu-1", "overwrite": true}`

// cEnricherPassthrough is cEnricherConfig not overwriting a header already there.
const cEnricherPassthrough = `{"name": "x-gateway", "value": "eu-1", "overwrite": false}`

// nativeEnricher is the enricher's work as a native hook.
type nativeEnricher struct{}

func (nativeEnricher) BeforeSend(_ context.Context, evs []instance.SendEvent) error {
	for i := range evs {
		evs[i].Message.Properties.Set("x-gateway", "eu-1")
	}
	return nil
}

func (nativeEnricher) AfterSend(context.Context, []instance.SendEvent) {}

// wasmInstances is the enricher's pool: the gateway's default bound (4 x GOMAXPROCS on 2
// cores), created at load, so that the pool's growth (an instance takes ~4 ms to create)
// is not timed, as it would not be in a gateway that has served a while.
const wasmInstances = 8

// wasmEnricher loads the enricher into a runtime as the gateway does, closed with the
// benchmark. The policy is the gateway's default for hooks, skip: a call that fails (no
// instance free within the 10 ms deadline, say) sends the message without the hook, and
// is reported as hook-failures.
func wasmEnricher(b *testing.B, wasm []byte, config string) (instance.SendHook, *host.Plugin) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(ctx) })
	p, err := rt.Load(ctx, host.PluginConfig{Name: "enricher", Kind: host.KindSend, Policy: host.Skip,
		Instances: wasmInstances, MaxInstances: wasmInstances, Config: []byte(config)}, wasm)
	if err != nil {
		b.Fatal(err)
	}
	h, err := host.NewSendHook(p)
	if err != nil {
		b.Fatal(err)
	}
	return h, p
}

// hookModes are the send modes the hook benchmarks run: one request per message, and
// the gateway's setting, coalesced.
var hookModes = []struct {
	name     string
	coalesce bool
}{{"single", false}, {"coalesce", true}}

// benchHook returns the send hook a benchmark variant names (nil for "none") and its
// plugin when it is a WASM one.
func benchHook(b *testing.B, name string) (instance.SendHook, *host.Plugin) {
	switch name {
	case "none":
		return nil, nil
	case "native":
		return nativeEnricher{}, nil
	}
	wasm, config := benchWasm(b, name)
	return wasmEnricher(b, wasm, config)
}

func BenchmarkSendWithHook(b *testing.B) {
	ns := prodDevClusterAddr(b)
	for _, mode := range hookModes {
		for _, hook := range []string{"none", "native", "wasm", "wasm-noruntime", "wasm-c"} {
			b.Run("mode="+mode.name+"/hook="+hook, func(b *testing.B) {
				var hooks []instance.SendHook
				h, plugin := benchHook(b, hook)
				if h != nil {
					hooks = append(hooks, h)
				}
				c := newHookedProducer(b, ns, mode.coalesce, hooks)
				defer c.close()
				topic := prodTopic("Hook", mode.name)
				prodRunSenders(b, prodSenders, 1, func(ctx context.Context) error {
					_, err := c.p.Send(ctx, prodMessage(topic))
					return err
				})
				if plugin != nil {
					st := plugin.Status()
					b.ReportMetric(float64(st.Failures), "hook-failures")
					// Messages per hook call: 1 single, the mean coalesced batch otherwise.
					b.ReportMetric(float64(b.N)/float64(max(st.Calls, 1)), "msgs/call")
					if st.Failures != 0 {
						b.Logf("hook failures: %d, the last: %s", st.Failures, st.LastError)
					}
				}
				if hook != "none" {
					m := prodMessage(topic)
					if _, err := c.p.Send(context.Background(), m); err != nil || m.Properties.Get("x-gateway") != "eu-1" {
						b.Fatalf("the hook did not run: %v, x-gateway %q", err, m.Properties.Get("x-gateway"))
					}
				}
			})
		}
	}
}

// newHookedProducer is newProdMQGate with send hooks.
func newHookedProducer(b *testing.B, ns string, coalesce bool, hooks []instance.SendHook) *prodMQGate {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, err := instance.New(instance.Config{NameServers: []string{ns}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := inst.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	p, err := producer.New(inst, producer.Config{Group: fmt.Sprintf("bench_hook_pg_%d", prodSeq.Add(1)), Logger: quiet,
		Coalesce: producer.CoalesceConfig{Enabled: coalesce}, Hooks: hooks})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &prodMQGate{inst, p}
}
