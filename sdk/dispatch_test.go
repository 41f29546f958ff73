package sdk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/sdk/abi"
)

// enc builds an input the way the host lays it out, with append for brevity.
type enc []byte

func (e enc) u32(v uint32) enc { return abi.AppendU32(e, v) }
func (e enc) i32(v int32) enc  { return abi.AppendI32(e, v) }
func (e enc) str(s string) enc { return abi.AppendStr(e, s) }
func (e enc) strs(s ...string) enc {
	for _, v := range s {
		e = e.str(v)
	}
	return e
}

func mustInit(t *testing.T, config string) uint32 {
	t.Helper()
	d := abi.NewDecoder(Dispatch(abi.EntryInit, []byte(config)))
	if st := d.U8(); st != abi.StatusOK {
		t.Fatalf("init failed: %s", d.Str())
	}
	return d.U32()
}

func TestAllocateThroughTheABI(t *testing.T) {
	Reset()
	var got AllocateRequest
	RegisterAllocator(func(req AllocateRequest) []int {
		got = req
		return []int{2, 0, -1}
	})
	mustInit(t, "")
	in := enc{}.strs("g", "c1").i32(1).u32(2).strs("c0", "c1").
		u32(2).strs("T", "b").i32(0).strs("T", "b").i32(1)
	d := abi.NewDecoder(Dispatch(abi.EntryAllocate, in))
	if d.U8() != abi.StatusOK || d.U32() != 3 || d.U32() != 2 || d.U32() != 0 || d.U32() != 0xffffffff || d.Err() != nil {
		t.Fatal("unexpected allocate output")
	}
	want := AllocateRequest{Group: "g", SelfID: "c1", Self: 1, Clients: []string{"c0", "c1"},
		Queues: []Queue{{Topic: "T", BrokerName: "b"}, {Topic: "T", BrokerName: "b", QueueID: 1}}}
	if got.Group != want.Group || got.SelfID != want.SelfID || got.Self != 1 ||
		!slices.Equal(got.Clients, want.Clients) || !slices.Equal(got.Queues, want.Queues) {
		t.Fatalf("request %+v", got)
	}
}

// sendInput lays out a before_send input of messages with these properties and bodies.
func sendInput(msgs ...[2]string) []byte {
	var w builder
	w.reserve(8)
	w.put32(0, uint32(len(msgs)))
	w.put32(4, sendRecordSize)
	recs := w.reserve(sendRecordSize * len(msgs))
	for i, m := range msgs {
		rec := recs + uint32(i*sendRecordSize)
		w.ref(rec+sendGroup, "pg")
		w.ref(rec+sendTopic, "T")
		w.ref(rec+sendBrokerName, "broker-a")
		w.ref(rec+sendBrokerAddr, "10.0.0.1:10911")
		w.put32(rec+sendQueueID, 3)
		w.ref(rec+sendBody, m[1])
		var kv []string
		for k, v := range encodedProps(m[0]) {
			kv = append(kv, k, v)
		}
		w.props(rec+sendProps, PropertiesOf(kv...))
	}
	return w.b
}

// encodedProps reads name 0x01 value pairs joined by 0x02.
func encodedProps(s string) map[string]string {
	m := map[string]string{}
	for _, pair := range strings.Split(s, "\x02") {
		if k, v, ok := strings.Cut(pair, "\x01"); ok {
			m[k] = v
		}
	}
	return m
}

func props(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(2)
		}
		b.WriteString(kv[i] + "\x01" + kv[i+1])
	}
	return b.String()
}

func TestSendHookEditsAndRejects(t *testing.T) {
	Reset()
	RegisterSendHook(SendHook{Before: func(m *SendMessage) error {
		if string(m.Body()) == "bad" {
			m.Reject("bad body")
			return nil
		}
		m.SetProperty("h", m.Property("TAGS")+"!")
		m.DeleteProperty("KEYS")
		return nil
	}})
	if flags := mustInit(t, ""); flags != 0 {
		t.Fatalf("flags %x without After", flags)
	}
	p := props("TAGS", "a", "KEYS", "k")
	d := abi.NewDecoder(Dispatch(abi.EntryBeforeSend, sendInput([2]string{p, "ok"}, [2]string{p, "bad"})))
	if d.U8() != abi.StatusOK {
		t.Fatal(d.Str())
	}
	type edit struct {
		i    uint32
		op   Op
		a, b string
	}
	var got []edit
	for range d.U32() {
		e := edit{i: d.U32(), op: Op(d.U8())}
		switch e.op {
		case abi.OpSetProperty:
			e.a, e.b = d.Str(), d.Str()
		default:
			e.a = d.Str()
		}
		got = append(got, e)
	}
	want := []edit{{0, abi.OpSetProperty, "h", "a!"}, {0, abi.OpDeleteProperty, "KEYS", ""}, {1, abi.OpReject, "bad body", ""}}
	if d.Err() != nil || !slices.Equal(got, want) {
		t.Fatalf("edits %v, want %v (err %v)", got, want, d.Err())
	}
}

type Op = abi.Op

func TestHookErrorsAndPanicsBecomeErrorResults(t *testing.T) {
	Reset()
	RegisterSendHook(SendHook{Before: func(m *SendMessage) error {
		if len(m.Body()) == 0 {
			var p *SendMessage
			_ = p.QueueID() // nil dereference
		}
		return errors.New("refused: " + string(m.Body()))
	}})
	mustInit(t, "")
	for body, want := range map[string]string{
		"x": "refused: x",
		"":  "plugin panicked: runtime error: invalid memory address or nil pointer dereference",
	} {
		d := abi.NewDecoder(Dispatch(abi.EntryBeforeSend, sendInput([2]string{"", body})))
		if st, msg := d.U8(), d.Str(); st != abi.StatusError || msg != want {
			t.Errorf("body %q: status %d %q, want %q", body, st, msg, want)
		}
	}
}

func TestTruncatedInputIsAnErrorNotAPanic(t *testing.T) {
	Reset()
	RegisterSendHook(SendHook{Before: func(m *SendMessage) error {
		_ = m.Topic() + m.Property("a") + string(m.Body())
		return nil
	}})
	in := sendInput([2]string{"a\x01b", "body"})
	for n := range len(in) {
		d := abi.NewDecoder(Dispatch(abi.EntryBeforeSend, in[:n]))
		if st := d.U8(); st != abi.StatusError && n > 0 {
			t.Fatalf("input cut at %d: status %d", n, st)
		}
	}
}

func TestConsumeHookVerdictsAndBody(t *testing.T) {
	Reset()
	var seen []string
	RegisterConsumeHook(ConsumeHook{
		Before: func(c *ConsumeContext, m *ConsumedMessage) error {
			switch m.Tags() {
			case "skip":
				m.Skip()
			case "retry":
				m.Retry()
			case "rewrite":
				buf := []byte("new body")
				m.SetBody(buf)
				copy(buf, "XXXXXXXX") // SetBody copied it
			}
			return nil
		},
		After: func(c *ConsumeContext, m *ConsumedMessage, success bool) {
			seen = append(seen, c.Group+"/"+m.Tags()+"/"+map[bool]string{true: "ok", false: "failed"}[success])
		},
	})
	if flags := mustInit(t, ""); flags != abi.FlagAfter {
		t.Fatalf("flags %x", flags)
	}
	input := func(after bool, tags ...string) []byte {
		var w builder
		w.reserve(consumeRecords)
		recs := w.reserve(recSize * len(tags)) // the records follow the header: reserve them first
		w.ref(consumeGroup, "cg")
		w.ref(consumeTopic, "T")
		w.ref(consumeBrokerName, "b")
		if after {
			w.b[consumeSuccess] = 1
		}
		w.put32(consumeCount, uint32(len(tags)))
		w.put32(consumeRecordSize, recSize)
		for i, tag := range tags {
			rec := recs + uint32(i*recSize)
			w.put64(rec+recQueueOffset, uint64(i))
			w.ref(rec+recBody, "body")
			w.props(rec+recProps, PropertiesOf("TAGS", tag))
		}
		return w.b
	}
	d := abi.NewDecoder(Dispatch(abi.EntryBeforeConsume, input(false, "keep", "skip", "retry", "rewrite")))
	if st := d.U8(); st != abi.StatusOK {
		t.Fatalf("status %d: %s", st, d.Str())
	}
	if n := d.U32(); n != 4 {
		t.Fatalf("%d verdicts", n)
	}
	var verdicts []uint8
	for range 4 {
		verdicts = append(verdicts, d.U8())
	}
	if !slices.Equal(verdicts, []uint8{0, 1, 2, 0}) {
		t.Fatalf("verdicts %v", verdicts)
	}
	if n, i, op, body := d.U32(), d.U32(), d.U8(), d.Str(); n != 1 || i != 3 || Op(op) != abi.OpSetBody || body != "new body" || d.Remaining() != 0 {
		t.Fatalf("edit %d %d %d %q", n, i, op, body)
	}
	d = abi.NewDecoder(Dispatch(abi.EntryAfterConsume, input(true, "a", "b")))
	if d.U8() != abi.StatusOK || strings.Join(seen, ",") != "cg/a/ok,cg/b/ok" {
		t.Fatalf("after: %v", seen)
	}
}

func TestRPCHookSeesFieldsAndBody(t *testing.T) {
	Reset()
	RegisterRPCHook(RPCHook{
		BeforeRequest: func(r *Request) error {
			v, _ := r.Field("b")
			r.SetField("Seen", r.Addr+"|"+v+"|"+string(r.Body))
			return nil
		},
		AfterResponse: func(r *Response) error {
			if r.Code != 0 {
				return errors.New(r.Remark)
			}
			return nil
		},
	})
	mustInit(t, "")
	in := enc{}.str("h:1").i32(310).i32(0).u32(2).strs("a", "pg", "b", "T").str("body")
	d := abi.NewDecoder(Dispatch(abi.EntryBeforeRequest, in))
	if d.U8() != abi.StatusOK || d.U32() != 1 || d.Str() != "Seen" || d.Str() != "h:1|T|body" {
		t.Fatal("unexpected before_request output")
	}
	in = enc{}.str("h:1").i32(310).i32(1).str("system error").u32(0).u32(0)
	d = abi.NewDecoder(Dispatch(abi.EntryAfterResponse, in))
	if d.U8() != abi.StatusError || d.Str() != "system error" {
		t.Fatal("after_response error not reported")
	}
}

func TestInitRefusesWhatIsNotThere(t *testing.T) {
	Reset()
	d := abi.NewDecoder(Dispatch(abi.EntryInit, nil))
	if d.U8() != abi.StatusError || !strings.Contains(d.Str(), "registered no plugin") {
		t.Fatal("init without registration must fail")
	}
	RegisterAllocator(func(AllocateRequest) []int { return nil })
	Configure(func(c []byte) error { return errors.New("bad config " + string(c)) })
	d = abi.NewDecoder(Dispatch(abi.EntryInit, []byte("{}")))
	if d.U8() != abi.StatusError || d.Str() != "config: bad config {}" {
		t.Fatal("config error not reported")
	}
	d = abi.NewDecoder(Dispatch(abi.EntryBeforeSend, nil))
	if d.U8() != abi.StatusError || !strings.Contains(d.Str(), "does not implement mqgate_before_send") {
		t.Fatal("wrong entry point not refused")
	}
}

func TestRegisteringTwoKindsPanics(t *testing.T) {
	Reset()
	RegisterAllocator(func(AllocateRequest) []int { return nil })
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "one plugin kind") {
			t.Fatalf("recovered %v", r)
		}
		Reset()
	}()
	RegisterSendHook(SendHook{})
}

func TestProperties(t *testing.T) {
	p := PropertiesOf("a", "1", "b", "", "a", "2", "c", "v\x01w")
	var got []string
	for k, v := range p.All() {
		got = append(got, k+"="+v)
	}
	if want := []string{"a=1", "a=2", "c=v\x01w"}; !slices.Equal(got, want) {
		t.Fatalf("pairs %q, want %q", got, want)
	}
	if p.Get("a") != "2" {
		t.Fatal("the last value of a repeated name wins")
	}
	if _, ok := p.Lookup("b"); ok {
		t.Fatal("a pair with an empty value is left out")
	}
	if p.Get("missing") != "" || p.Len() != 3 {
		t.Fatal("Get of a missing name")
	}
}

func TestMessagesBuiltForTests(t *testing.T) {
	m := NewSendMessage("T", PropertiesOf("TAGS", "a"), []byte("body"))
	m.SetProperty("x", "1")
	m.SetProperty("x", "2")
	m.DeleteProperty("TAGS")
	if m.Topic() != "T" || string(m.Body()) != "body" || m.Property("x") != "2" || m.Tags() != "" || len(m.Edits()) != 3 {
		t.Fatalf("topic %q body %q x %q tags %q edits %v", m.Topic(), m.Body(), m.Property("x"), m.Tags(), m.Edits())
	}
	c := NewConsumedMessage(PropertiesOf("TAGS", "a"), []byte("b"))
	c.Retry()
	c.SetBody([]byte("new"))
	if c.Verdict() != Retry || c.Tags() != "a" || string(c.Edits()[0].Body) != "new" {
		t.Fatalf("verdict %v edits %v", c.Verdict(), c.Edits())
	}
}

func TestDispatchAllocatesNothingPerMessage(t *testing.T) {
	Reset()
	RegisterSendHook(SendHook{Before: func(m *SendMessage) error {
		m.SetProperty("x-gw", "1")
		return nil
	}})
	mustInit(t, "")
	var msgs [][2]string
	for range 32 {
		msgs = append(msgs, [2]string{props("TAGS", "a"), strings.Repeat("x", 1024)})
	}
	in := sendInput(msgs...)
	Dispatch(abi.EntryBeforeSend, in)
	if n := testing.AllocsPerRun(100, func() { Dispatch(abi.EntryBeforeSend, in) }); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}

// Of a key a request carries twice (its typed header's, and an extFields entry an earlier
// hook set), Field returns the last: the one the receiver keeps, and the one aclsign
// signs. It returned the header's, which the request does not go with.
func TestRequestFieldIsTheLastOfARepeatedKey(t *testing.T) {
	Reset()
	var got []string
	RegisterRPCHook(RPCHook{BeforeRequest: func(r *Request) error {
		for _, k := range []string{"topic", "x", "y"} {
			v, ok := r.Field(k)
			got = append(got, fmt.Sprintf("%s %v", v, ok))
		}
		r.SetField("x", "2")
		v, _ := r.Field("x")
		got = append(got, v)
		return nil
	}})
	mustInit(t, "")
	in := enc{}.str("h:1").i32(10).i32(0).u32(3).strs("topic", "A", "x", "1", "topic", "B").str("")
	if d := abi.NewDecoder(Dispatch(abi.EntryBeforeRequest, in)); d.U8() != abi.StatusOK {
		t.Fatal(d.Str())
	}
	if want := []string{"B true", "1 true", " false", "2"}; !slices.Equal(got, want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
}
