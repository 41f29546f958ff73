package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/sdk/abi"
	"github.com/mqgate/mqgate/telemetry"
)

func consumed(tagsAndBodies ...string) []*message.Ext {
	var msgs []*message.Ext
	for i := 0; i+1 < len(tagsAndBodies); i += 2 {
		m := &message.Ext{Message: message.Message{Topic: "TopicTest", Body: []byte(tagsAndBodies[i+1])}, QueueOffset: int64(i / 2)}
		m.SetTags(tagsAndBodies[i])
		msgs = append(msgs, m)
	}
	return msgs
}

var consumeCtx = &instance.ConsumeContext{ConsumerGroup: "cg", Queue: instance.MessageQueue{Topic: "TopicTest", BrokerName: "broker-a"}, Model: "CLUSTERING"}

func TestTagFilterSkipsOtherTags(t *testing.T) {
	r, _ := newRuntime(t)
	// A list, or a RocketMQ subscription expression as a subscription writes it.
	for i, config := range []string{`{"tags": ["paid", "refunded"]}`, `{"tags": ["paid || refunded "]}`} {
		p := load(t, r, PluginConfig{Name: fmt.Sprint("tagfilter", i), Kind: KindConsume, Config: []byte(config)}, "plugins/tagfilter")
		h, err := NewConsumeHook(p)
		if err != nil {
			t.Fatal(err)
		}
		msgs := consumed("paid", "1", "created", "2", "", "3", "refunded", "4")
		verdicts := make([]instance.ConsumeVerdict, len(msgs))
		if err := h.BeforeConsume(context.Background(), consumeCtx, msgs, verdicts); err != nil {
			t.Fatal(err)
		}
		want := []instance.ConsumeVerdict{instance.Deliver, instance.Skip, instance.Skip, instance.Deliver}
		if !slices.Equal(verdicts, want) {
			t.Fatalf("%s: verdicts %v, want %v", config, verdicts, want)
		}
	}
}

// The host checks and interns a property edit repeated from message to message once;
// edits that differ, in a name or a value, still reach their own messages, and a bad one
// after good ones refuses the whole answer.
func TestRepeatedAndDistinctEditsInABatch(t *testing.T) {
	r, _ := newRuntime(t)
	_, h := behaviors(t, r, PluginConfig{Policy: Fail})
	evs := sendEvents("", "tag", "tag", "tag", "tag", "tag")
	for i, tag := range []string{"A", "A", "B", "A", "B"} {
		evs[i].Message.SetTags(tag)
	}
	if err := h.BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"A", "A", "B", "A", "B"} {
		if got := evs[i].Message.Properties.Get("seen"); got != want {
			t.Errorf("message %d: seen %q, want %q", i, got, want)
		}
	}
	evs = sendEvents("", "tag", "tag", "tag")
	evs[0].Message.SetTags("A")
	evs[1].Message.SetTags("A")
	evs[2].Message.SetTags("A\x02")
	if err := h.BeforeSend(context.Background(), evs); !errors.Is(err, ErrBadResult) {
		t.Fatalf("a bad edit after good ones: %v", err)
	}
	for i, ev := range evs {
		if got := ev.Message.Properties.Get("seen"); got != "" {
			t.Errorf("message %d changed by a refused answer: seen %q", i, got)
		}
	}
}

// An instance remembers the last edit it answered, checked, from call to call: a later
// answer gets its own edit whether it repeats that one or differs in a byte, a length or
// a separator.
func TestRepeatedEditsAcrossCalls(t *testing.T) {
	r, _ := newRuntime(t)
	_, h := behaviors(t, r, PluginConfig{Policy: Fail, Instances: 1})
	for _, tag := range []string{"A", "A", "AB", "B", "B", "A", "A\x02", "A"} {
		evs := sendEvents(tag, "tag")
		err := h.BeforeSend(context.Background(), evs)
		if strings.Contains(tag, "\x02") {
			if !errors.Is(err, ErrBadResult) || evs[0].Message.Properties.Get("seen") != "" {
				t.Fatalf("tag %q: %v, seen %q", tag, err, evs[0].Message.Properties.Get("seen"))
			}
			continue
		}
		if err != nil {
			t.Fatalf("tag %q: %v", tag, err)
		}
		if got := evs[0].Message.Properties.Get("seen"); got != tag {
			t.Fatalf("tag %q: seen %q", tag, got)
		}
	}
}

func TestEnricherAddsAHeaderToEveryMessage(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindSend, Config: []byte(`{"properties": {"x-gateway": "eu-1", "x-team": "billing"}}`)}, "plugins/enricher")
	h, err := NewSendHook(p)
	if err != nil {
		t.Fatal(err)
	}
	evs := sendEvents("TagA", "a", "b", "c")
	evs[1].Message.Properties.Set("x-team", "search") // kept: overwrite is off
	if err := h.BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		team := map[bool]string{true: "search", false: "billing"}[i == 1]
		if p := ev.Message.Properties; p.Get("x-gateway") != "eu-1" || p.Get("x-team") != team || p.Get("TAGS") != "TagA" {
			t.Fatalf("message %d: %s", i, p.Encode())
		}
	}
}

func TestRedactorRewritesBodies(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindConsume, Config: []byte(`{"fields": ["password", "card"]}`)}, "plugins/redactor")
	h, _ := NewConsumeHook(p)
	msgs := consumed("", `{"user":"ann","password":"hunter2"}`, "", `not json`, "", `{"pay":{"card":{"n":"4111"}}}`,
		"", "\xEF\xBB\xBF{\"card\":\"4111\"}", // a byte order mark, which Jackson and fastjson skip
		"", "{\"password\":\"a\"}\n{\"card\":\"b\"}\n") // JSON Lines
	verdicts := make([]instance.ConsumeVerdict, len(msgs))
	if err := h.BeforeConsume(context.Background(), consumeCtx, msgs, verdicts); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"user":"ann","password":"***"}`, `not json`, `{"pay":{"card":"***"}}`, "\xEF\xBB\xBF{\"card\":\"***\"}",
		"{\"password\":\"***\"}\n{\"card\":\"***\"}\n"}
	for i, m := range msgs {
		if string(m.Body) != want[i] || verdicts[i] != instance.Deliver {
			t.Fatalf("message %d: %s (%v), want %s", i, m.Body, verdicts[i], want[i])
		}
	}
}

func TestAfterSendSeesOutcomes(t *testing.T) {
	r, logs := newRuntime(t)
	_, h := behaviors(t, r, PluginConfig{})
	evs := sendEvents("TagA", "ok", "ok")
	evs[0].Result = &instance.SendResult{Status: instance.SendOK, MsgID: "ID0", QueueOffset: 42}
	evs[1].Err = errors.New("broker busy")
	h.AfterSend(context.Background(), evs)
	for _, want := range []string{"after: sent TopicTest ID0 offset 42", "after: failed TopicTest: broker busy"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestAfterHooksAreNotCalledWhenNotRegistered(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindSend, Config: []byte(`{"properties": {"x": "1"}}`)}, "plugins/enricher")
	h, _ := NewSendHook(p)
	h.AfterSend(context.Background(), sendEvents("", "a"))
	if st := p.Status(); st.Calls != 0 {
		t.Fatalf("%d calls for an After the module does not have", st.Calls)
	}
}

// A batch too large for an eighth of the plugin's memory is split into several calls;
// every message is still seen.
func TestSendBatchLargerThanTheMemoryIsSplit(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindSend, MemoryLimit: 16 << 20, Policy: Fail, Config: []byte(`{"properties": {"x": "1"}}`)}, "plugins/enricher")
	h, _ := NewSendHook(p)
	bodies := make([]string, 12)
	for i := range bodies {
		bodies[i] = strings.Repeat("b", 512<<10)
	}
	evs := sendEvents("", bodies...)
	if err := h.BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Message.Properties.Get("x") != "1" {
			t.Fatalf("message %d not enriched", i)
		}
	}
	if st := p.Status(); st.Calls != 1 {
		t.Fatalf("%d calls", st.Calls)
	}
}

func TestCanceledContextIsNotCalled(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindSend, Config: []byte(`{"properties": {"x": "1"}}`)}, "plugins/enricher")
	h, _ := NewSendHook(p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.BeforeSend(ctx, sendEvents("", "a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("BeforeSend = %v", err)
	}
}

func TestAdaptersRefuseOtherKinds(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindAllocate}, "plugins/averagely")
	if _, err := NewSendHook(p); err == nil {
		t.Error("NewSendHook accepted an allocation strategy")
	}
	if _, err := NewConsumeHook(p); err == nil {
		t.Error("NewConsumeHook accepted an allocation strategy")
	}
	if _, err := NewRPCHook(p); err == nil {
		t.Error("NewRPCHook accepted an allocation strategy")
	}
}

// The hot path allocates nothing on the host: a send hook that adds a header, single and
// in batches, and a consume hook over a pulled batch.
func TestHookCallsAllocateNothing(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under coverage or the race detector")
	}
	r, _ := newRuntime(t)
	ep := load(t, r, PluginConfig{Kind: KindSend, Config: []byte(`{"properties": {"x-gateway": "eu-1"}, "overwrite": true}`)}, "plugins/enricher")
	send, _ := NewSendHook(ep)
	single := sendEvents("TagA", strings.Repeat("x", 1024))
	batch := sendEvents("TagA", strings.Split(strings.Repeat(strings.Repeat("x", 1024)+",", 32), ",")[:32]...)
	tp := load(t, r, PluginConfig{Kind: KindConsume, Config: []byte(`{"tags": ["TagA"]}`)}, "plugins/tagfilter")
	consume, _ := NewConsumeHook(tp)
	msgs := consumed(strings.Split(strings.Repeat("TagA,body,TagB,body,", 16), ",")[:64]...)
	verdicts := make([]instance.ConsumeVerdict, len(msgs))
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	observed := NewObserver(tel.Instruments()).SendHook(send) // metrics, and no span outside a trace
	for name, f := range map[string]func(){
		"send single":   func() { _ = send.BeforeSend(ctx, single) },
		"send observed": func() { _ = observed.BeforeSend(ctx, single) },
		"send batch 32": func() { _ = send.BeforeSend(ctx, batch) },
		"consume 32": func() {
			clear(verdicts)
			_ = consume.BeforeConsume(ctx, consumeCtx, msgs, verdicts)
		},
	} {
		f() // warm up: buffers grow once
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

// onceThenTrap returns a module of kind k, of 8 MiB of memory, whose first call answers out
// (status byte included, placed at answerAt by a data segment) and whose later calls trap.
func onceThenTrap(k abi.Kind, out []byte) []byte {
	var code []byte
	code = append(code, 0x23, 0x00, 0x45, 0x04, 0x40) // global.get 0; i32.eqz; if
	code = append(code, wasmgen.I32Const(1)...)
	code = append(code, 0x24, 0x00) // global.set 0
	code = append(code, wasmgen.Result(answerAt, uint32(len(out)))...)
	code = append(code, 0x0F, 0x0B, wasmgen.Unreachable) // return; end; unreachable
	m := wasmgen.Plugin{Version: 1, Kind: k, Entry: code}.Module()
	m.Memory = &wasmgen.Limits{Min: 128, Max: 128}
	m.Globals = [][]byte{{wasmgen.I32, 0x01, 0x41, 0x00, 0x0B}} // mutable i32 = 0
	m.Data = []wasmgen.Segment{{Offset: answerAt, Bytes: out}}
	return m.Bytes()
}

// A batch split into several calls is edited only when every call succeeded: the first
// call's edits are not applied when the second traps, so a batch retried or sent after the
// failure carries no edit twice.
func TestSplitBatchIsUnchangedWhenALaterCallFails(t *testing.T) {
	r, _ := newRuntime(t)
	cfg := func(name string) PluginConfig {
		return PluginConfig{Name: name, Instances: 1, MaxInstances: 1, Policy: Fail, MemoryLimit: 8 << 20}
	}
	big := strings.Repeat("b", 700<<10) // two do not fit one call's eighth of 8 MiB

	sendAnswer := append([]byte{abi.StatusOK}, editAnswer(setEdit(0, "x", "1"), oneStrEdit(0, abi.OpReject, "no"))...)
	p, err := r.Load(context.Background(), cfg("send"), onceThenTrap(abi.KindSend, sendAnswer))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := NewSendHook(p)
	evs := sendEvents("", big, big)
	if err := sh.BeforeSend(context.Background(), evs); !errors.Is(err, ErrTrap) {
		t.Fatalf("BeforeSend = %v", err)
	}
	if evs[0].Message.Properties.Get("x") != "" || evs[0].Reject != "" {
		t.Fatalf("the failed call edited message 0: x=%q, rejected %q", evs[0].Message.Properties.Get("x"), evs[0].Reject)
	}

	consumeAnswer := append([]byte{abi.StatusOK}, abi.AppendU32(nil, 1)...)
	consumeAnswer = append(consumeAnswer, abi.VerdictRetry)
	consumeAnswer = append(consumeAnswer, editAnswer(oneStrEdit(0, abi.OpSetBody, "REWRITTEN"))...)
	p, err = r.Load(context.Background(), cfg("consume"), onceThenTrap(abi.KindConsume, consumeAnswer))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := NewConsumeHook(p)
	msgs := consumed("A", big, "B", big)
	verdicts := make([]instance.ConsumeVerdict, 2)
	if err := ch.BeforeConsume(context.Background(), &instance.ConsumeContext{ConsumerGroup: "g"}, msgs, verdicts); !errors.Is(err, ErrTrap) {
		t.Fatalf("BeforeConsume = %v", err)
	}
	if string(msgs[0].Body) != big || verdicts[0] != instance.Deliver {
		t.Fatalf("the failed call edited message 0: body %.20q, verdict %v", msgs[0].Body, verdicts[0])
	}
}

// When every call of a split batch succeeds, each message gets the edits of its call.
func TestSplitBatchGetsTheEditsOfEveryCall(t *testing.T) {
	r, _ := newRuntime(t)
	answer := append([]byte{abi.StatusOK}, abi.AppendU32(nil, 1)...)
	answer = append(answer, abi.VerdictSkip)
	answer = append(answer, editAnswer(oneStrEdit(0, abi.OpSetBody, "REWRITTEN"), setEdit(0, "x", "1"))...)
	p, err := r.Load(context.Background(), PluginConfig{Name: "split", Instances: 1, Policy: Fail, MemoryLimit: 8 << 20},
		rawAnswer(abi.KindConsume, answer))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewConsumeHook(p)
	big := strings.Repeat("b", 700<<10)
	msgs := consumed("A", big, "B", big, "C", big)
	verdicts := make([]instance.ConsumeVerdict, 3)
	if err := h.BeforeConsume(context.Background(), &instance.ConsumeContext{ConsumerGroup: "g"}, msgs, verdicts); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if string(m.Body) != "REWRITTEN" || m.Properties.Get("x") != "1" || verdicts[i] != instance.Skip {
			t.Fatalf("message %d: body %.20q, x=%q, verdict %v", i, m.Body, m.Properties.Get("x"), verdicts[i])
		}
	}
}
