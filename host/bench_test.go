package host

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/sdk/abi"
)

// Benchmarks beside native Go in one run: go test -run '^$' -bench . -benchmem ./host

// nativeEnricher is the enricher plugin's work as a native hook.
type nativeEnricher struct{ name, value string }

func (h nativeEnricher) BeforeSend(_ context.Context, evs []instance.SendEvent) error {
	for i := range evs {
		evs[i].Message.Properties.Set(h.name, h.value)
	}
	return nil
}

func (nativeEnricher) AfterSend(context.Context, []instance.SendEvent) {}

// nativeTagFilter is the tagfilter plugin's work as a native hook.
type nativeTagFilter struct{ tag string }

func (h nativeTagFilter) BeforeConsume(_ context.Context, _ *instance.ConsumeContext, msgs []*message.Ext, v []instance.ConsumeVerdict) error {
	for i, m := range msgs {
		if m.Tags() != h.tag {
			v[i] = instance.Skip
		}
	}
	return nil
}

func (nativeTagFilter) AfterConsume(context.Context, *instance.ConsumeContext, []*message.Ext, bool) {
}

func BenchmarkSendHook(b *testing.B) {
	r, _ := newRuntime(b)
	body := strings.Repeat("x", 1024)
	hooks := map[string]instance.SendHook{"native": nativeEnricher{"x-gateway", "eu-1"}}
	for name, config := range map[string]string{
		"wasm":             `{"properties": {"x-gateway": "eu-1"}, "overwrite": true}`,
		"wasm-passthrough": `{"properties": {"x-gateway": "eu-1"}}`, // the header is there: no edit
	} {
		p := load(b, r, PluginConfig{Name: name, Kind: KindSend, Config: []byte(config)}, "plugins/enricher")
		hooks[name], _ = NewSendHook(p)
	}
	// A Go hook that does nothing: the floor of any hook written in Go.
	empty := load(b, r, PluginConfig{Name: "go-empty", Kind: KindSend}, "host/testdata/bench/goempty")
	hooks["go-empty"], _ = NewSendHook(empty)
	// The host's share: a hand-written module that answers at once, no Go runtime in it
	// (it also takes the bodies, which the enricher does not).
	raw, err := r.Load(context.Background(), PluginConfig{Name: "raw", Instances: 1}, wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	hooks["host-only"], _ = NewSendHook(raw)
	// The enricher's work in a module without a language runtime (wasmgen.Enricher): what a
	// hook compiled from C or Rust would cost.
	for name, overwrite := range map[string]bool{"no-runtime": true, "no-runtime-passthrough": false} {
		p, err := r.Load(context.Background(), PluginConfig{Name: name, Kind: KindSend, Instances: 1},
			wasmgen.Enricher("x-gateway", "eu-1", overwrite))
		if err != nil {
			b.Fatal(err)
		}
		hooks[name], _ = NewSendHook(p)
	}
	// The same work compiled from C (plugins/cenricher), when clang is installed.
	if plugintest.HaveClang() {
		for name, overwrite := range map[string]bool{"c": true, "c-passthrough": false} {
			h, err := cEnricher(b, r, fmt.Sprintf(`{"name": "x-gateway", "value": "eu-1", "overwrite": %v}`, overwrite))
			if err != nil {
				b.Fatal(err)
			}
			hooks[name] = h
		}
	}
	for _, size := range []int{1, 32} {
		bodies := strings.Split(strings.Repeat(body+",", size), ",")[:size]
		for _, name := range []string{"native", "wasm", "wasm-passthrough", "go-empty", "no-runtime", "no-runtime-passthrough", "c", "c-passthrough", "host-only"} {
			h := hooks[name]
			if h == nil {
				continue
			}
			b.Run(map[int]string{1: "single", 32: "batch32"}[size]+"/"+name, func(b *testing.B) {
				evs := sendEvents("TagA", bodies...)
				ctx := context.Background()
				_ = h.BeforeSend(ctx, evs)
				b.ReportAllocs()
				b.SetBytes(int64(1024 * size))
				for b.Loop() {
					if err := h.BeforeSend(ctx, evs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/msg")
			})
		}
	}
}

// BenchmarkSendHookCold is BenchmarkSendHook's call with the caches cold: before each
// call the benchmark reads through coldBytes of other memory, as the send path's own
// work does between two hook calls in a gateway (a coalesced batch's call comes ~40 us of
// network, scheduler and encoding after the last). ns/msg is the call's time alone. It
// shows why a hook costs more on the whole send path (BenchmarkSendHookOverhead in bench/)
// than here warm: a call touches the host's state, wazero's and the module's memory and
// code, a Go guest's runtime most of all.
//
//	go test -run '^$' -bench SendHookCold ./host
func BenchmarkSendHookCold(b *testing.B) {
	r, _ := newRuntime(b)
	body := strings.Repeat("x", 1024)
	hooks := map[string]instance.SendHook{"native": nativeEnricher{"x-gateway", "eu-1"}}
	p := load(b, r, PluginConfig{Name: "wasm", Kind: KindSend, Config: []byte(`{"properties": {"x-gateway": "eu-1"}, "overwrite": true}`)}, "plugins/enricher")
	hooks["wasm"], _ = NewSendHook(p)
	q, err := r.Load(context.Background(), PluginConfig{Name: "no-runtime", Kind: KindSend, Instances: 1}, wasmgen.Enricher("x-gateway", "eu-1", true))
	if err != nil {
		b.Fatal(err)
	}
	hooks["no-runtime"], _ = NewSendHook(q)
	if plugintest.HaveClang() {
		if hooks["c"], err = cEnricher(b, r, `{"name": "x-gateway", "value": "eu-1", "overwrite": true}`); err != nil {
			b.Fatal(err)
		}
	}
	other := make([]byte, coldBytes)
	for i := range other {
		other[i] = byte(i)
	}
	for _, size := range []int{1, 8} {
		for _, name := range []string{"native", "wasm", "no-runtime", "c"} {
			h := hooks[name]
			if h == nil {
				continue
			}
			b.Run(fmt.Sprintf("batch%d/%s", size, name), func(b *testing.B) {
				evs := sendEvents("TagA", strings.Split(strings.Repeat(body+",", size), ",")[:size]...)
				ctx := context.Background()
				var calls time.Duration
				var sum byte
				for b.Loop() {
					for j := 0; j < len(other); j += 64 {
						sum += other[j]
					}
					t0 := time.Now()
					if err := h.BeforeSend(ctx, evs); err != nil {
						b.Fatal(err)
					}
					calls += time.Since(t0)
				}
				coldSink = sum
				b.ReportMetric(float64(calls.Nanoseconds())/float64(b.N*size), "ns/msg")
				b.ReportMetric(0, "ns/op") // mostly the reading of other memory
			})
		}
	}
}

// coldBytes is what BenchmarkSendHookCold reads between calls: twice this machine's L2.
const coldBytes = 8 << 20

var coldSink byte

func BenchmarkConsumeHook(b *testing.B) {
	r, _ := newRuntime(b)
	p := load(b, r, PluginConfig{Kind: KindConsume, Config: []byte(`{"tags": ["TagA"]}`)}, "plugins/tagfilter")
	wasm, _ := NewConsumeHook(p)
	body := strings.Repeat("y", 1024)
	msgs := consumed(strings.Split(strings.Repeat("TagA,"+body+",TagB,"+body+",", 16), ",")[:64]...)
	for name, h := range map[string]instance.ConsumeHook{"native": nativeTagFilter{"TagA"}, "wasm": wasm} {
		b.Run("batch32/"+name, func(b *testing.B) {
			verdicts := make([]instance.ConsumeVerdict, len(msgs))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				clear(verdicts)
				if err := h.BeforeConsume(ctx, consumeCtx, msgs, verdicts); err != nil {
					b.Fatal(err)
				}
			}
			if verdicts[1] != instance.Skip {
				b.Fatal("TagB not skipped")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
		})
	}
}

func BenchmarkAllocate(b *testing.B) {
	r, _ := newRuntime(b)
	clients, qs := clientIDs(100), queues(64)
	for i := range qs { // half the brokers in room1, for the machine-room strategy
		if i%2 == 0 {
			qs[i].BrokerName = "room1@" + qs[i].BrokerName
		}
	}
	self := clients[37]
	configured := []allocate.Queue{allocate.Queue(qs[3]), allocate.Queue(qs[9])}
	cases := []struct {
		name, pkg, config string
		native            func() []int
	}{
		{"averagely", "plugins/averagely", "", func() []int { return allocate.Averagely(self, clients, len(qs)) }},
		{"circle", "plugins/circle", "", func() []int { return allocate.AveragelyByCircle(self, clients, len(qs)) }},
		{"consistenthash", "plugins/consistenthash", "", func() []int {
			return allocate.ConsistentHash(self, clients, queueNames(qs), allocate.DefaultVirtualNodes)
		}},
		{"byconfig", "plugins/byconfig", `{"queues": [{"topic":"TopicTest","brokerName":"` + qs[3].BrokerName + `","queueId":3},
			{"topic":"TopicTest","brokerName":"` + qs[9].BrokerName + `","queueId":9}]}`,
			func() []int { return allocate.ByConfig(configured, asQueues(qs)) }},
		{"machineroom", "plugins/machineroom", `{"rooms": ["room1"]}`, func() []int {
			return allocate.ByMachineRoom(self, clients, brokerNames(qs), []string{"room1"})
		}},
	}
	for _, c := range cases {
		p := load(b, r, PluginConfig{Name: c.name, Kind: KindAllocate, Policy: Fail, Config: []byte(c.config)}, c.pkg)
		s, _ := NewAllocateStrategy(p, nil)
		b.Run(c.name+"/native", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.native()
			}
		})
		b.Run(c.name+"/wasm", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Allocate("group", self, clients, qs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkACL(b *testing.B) {
	r, _ := newRuntime(b)
	p := load(b, r, PluginConfig{Kind: KindRPC, Policy: Fail, Config: []byte(aclConfig)}, "plugins/acl")
	wasm, _ := NewRPCHook(p)
	frame := recorded.Find(b, recorded.MustLoad(b), "438-acl-json-req310.bin")
	c, err := remoting.DecodeFrame(frame.Bytes, 0)
	if err != nil {
		b.Fatal(err)
	}
	c.Ext.Delete("Signature")
	c.Ext.Delete("AccessKey")
	fields := append(remoting.ExtFields(nil), c.Ext...)
	for name, h := range map[string]instance.RPCHook{"native": instance.NewACLHook("RocketMQ", "12345678", ""), "wasm": wasm} {
		b.Run(name, func(b *testing.B) {
			req := *c
			req.Ext = make(remoting.ExtFields, 0, len(fields)+3)
			b.ReportAllocs()
			for b.Loop() {
				req.Ext = append(req.Ext[:0], fields...)
				if err := h.BeforeRequest("127.0.0.1:10911", &req); err != nil {
					b.Fatal(err)
				}
			}
			if got := req.Ext.Get("Signature"); got != "mRGptRze+VBxgyHOOHJKsM8TVwo=" {
				b.Fatalf("signature %s", got)
			}
		})
	}
}

// The consistent-hash strategy at the largest ring the gateway allows (1000 virtual nodes,
// allocate.MaxVirtualNodes) with many clients: a ring is clients × nodes MD5 sums. "same"
// rebalances a steady group, "joined" has a client join before every call, "new" has a
// group of clients never seen before at every call.
func BenchmarkAllocateConsistentHashLargest(b *testing.B) {
	r, _ := newRuntime(b)
	p := load(b, r, PluginConfig{Kind: KindAllocate, Policy: Fail, Config: []byte(`{"virtualNodes": 1000}`), Deadline: time.Minute}, "plugins/consistenthash")
	wasm, _ := NewAllocateStrategy(p, nil)
	strategies := map[string]instance.AllocateStrategy{"native": consumer.ConsistentHash(allocate.MaxVirtualNodes), "wasm": wasm}
	for _, size := range []struct{ clients, queues int }{{50, 64}, {300, 128}} {
		clients, qs := clientIDs(size.clients), queues(size.queues)
		self := clients[size.clients/3]
		for _, change := range []string{"same", "joined", "new"} {
			for _, name := range []string{"native", "wasm"} {
				b.Run(fmt.Sprintf("clients=%d/queues=%d/%s/%s", size.clients, size.queues, change, name), func(b *testing.B) {
					cs := slices.Clone(clients)
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						switch change {
						case "joined":
							cs[len(cs)-1] = fmt.Sprintf("10.9.%d.%d@%d", i/250%250, i%250, i)
						case "new":
							for j := range cs {
								if j != size.clients/3 {
									cs[j] = fmt.Sprintf("%s#%d", clients[j], i)
								}
							}
						}
						if _, err := strategies[name].Allocate("group", self, cs, qs); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
