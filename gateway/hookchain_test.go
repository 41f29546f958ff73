package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// tagHook appends its name to the property "trail" of every message, and to the request's
// extField "trail"; it rejects the messages whose body is its reject word.
type tagHook struct {
	name   string
	reject string
	fail   error
	after  atomic.Int64
}

func (h *tagHook) BeforeSend(_ context.Context, evs []instance.SendEvent) error {
	if h.fail != nil {
		return h.fail
	}
	for i := range evs {
		m := evs[i].Message
		m.Properties.Set("trail", m.Properties.Get("trail")+h.name)
		if h.reject != "" && string(m.Body) == h.reject {
			evs[i].Reject = "no " + h.reject
		}
	}
	return nil
}

func (h *tagHook) AfterSend(context.Context, []instance.SendEvent) { h.after.Add(1) }

func (h *tagHook) BeforeRequest(_ string, req *remoting.Command) error {
	req.Ext.Set("trail", req.Ext.Get("trail")+h.name)
	return nil
}

func (h *tagHook) AfterResponse(string, *remoting.Command, *remoting.Command) error { return nil }

// fakeEntry is a registry entry of a native hook, in the given slot.
func fakeEntry(name string, slot host.Kind, order int64, h *tagHook) *plugEntry {
	e := &plugEntry{name: name, slot: slot, version: 1, order: order}
	switch slot {
	case host.KindSend:
		e.send = h
	case host.KindRPC:
		e.rpc = h
	}
	return e
}

func fakeRegistry(entries ...*plugEntry) *registry {
	r := newRegistry(&Config{}, discard)
	r.src.set.Store(newPluginSet(sortEntries(entries)))
	return r
}

func events(bodies ...string) []instance.SendEvent {
	evs := make([]instance.SendEvent, len(bodies))
	for i, b := range bodies {
		evs[i] = instance.SendEvent{Message: &message.Message{Topic: "T", Body: []byte(b)}}
	}
	return evs
}

func TestChainRunsHooksInOrder(t *testing.T) {
	fileA := fakeEntry("a", host.KindSend, 0, &tagHook{name: "a"})
	fileA.file, fileA.fileIndex = &PluginConfig{}, 1
	fileB := fakeEntry("b", host.KindSend, 0, &tagHook{name: "b"})
	fileB.file, fileB.fileIndex = &PluginConfig{}, 0
	up1 := fakeEntry("u1", host.KindSend, 7, &tagHook{name: "1"})
	up2 := fakeEntry("u2", host.KindSend, 3, &tagHook{name: "2"})
	rpc := fakeEntry("r", host.KindRPC, 1, &tagHook{name: "r"})
	r := fakeRegistry(up1, rpc, fileA, up2, fileB)

	evs := events("x")
	if err := r.sendHook().BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	// The file's plugins in the file's order, then the uploaded ones by first upload.
	if got := evs[0].Message.Properties.Get("trail"); got != "ba21" {
		t.Fatalf("trail %q, want ba21", got)
	}
	req := &remoting.Command{}
	if err := r.rpcHook().BeforeRequest("addr", req); err != nil || req.Ext.Get("trail") != "r" {
		t.Fatalf("rpc chain: %v, trail %q", err, req.Ext.Get("trail"))
	}
}

func TestChainNamesTheRejectingPluginAndStopsAtAnError(t *testing.T) {
	a := &tagHook{name: "a", reject: "bad"}
	b := &tagHook{name: "b", reject: "worse"}
	r := fakeRegistry(fakeEntry("first", host.KindSend, 1, a), fakeEntry("second", host.KindSend, 2, b))
	evs := events("ok", "bad", "worse")
	evs[0].Reject = "rejected before the chain"
	if err := r.sendHook().BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	want := []string{"rejected before the chain", "first: no bad", "second: no worse"}
	for i, ev := range evs {
		if ev.Reject != want[i] {
			t.Errorf("event %d: reject %q, want %q", i, ev.Reject, want[i])
		}
	}
	boom := errors.New("boom")
	c := &tagHook{name: "c"}
	r = fakeRegistry(fakeEntry("x", host.KindSend, 1, &tagHook{name: "x", fail: boom}), fakeEntry("c", host.KindSend, 2, c))
	evs = events("m")
	if err := r.sendHook().BeforeSend(context.Background(), evs); !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if evs[0].Message.Properties.Get("trail") != "" {
		t.Error("a hook after the failing one ran")
	}
	r.sendHook().AfterSend(context.Background(), evs)
	if c.after.Load() != 1 {
		t.Error("AfterSend did not reach every hook")
	}
}

// countHook counts its calls and allocates nothing.
type countHook struct{ before, after atomic.Int64 }

func (h *countHook) BeforeSend(context.Context, []instance.SendEvent) error {
	h.before.Add(1)
	return nil
}
func (h *countHook) AfterSend(context.Context, []instance.SendEvent) { h.after.Add(1) }
func (h *countHook) BeforeRequest(string, *remoting.Command) error   { h.before.Add(1); return nil }
func (h *countHook) AfterResponse(string, *remoting.Command, *remoting.Command) error {
	h.after.Add(1)
	return nil
}

func TestChainAllocatesNothing(t *testing.T) {
	h := &countHook{}
	r := fakeRegistry(&plugEntry{name: "a", slot: host.KindSend, send: h, version: 1},
		&plugEntry{name: "b", slot: host.KindSend, send: h, version: 1, order: 1},
		&plugEntry{name: "r", slot: host.KindRPC, rpc: h, version: 1, order: 2})
	empty := fakeRegistry()
	ctx := context.Background()
	evs := events(strings.Repeat("m", 32), "n")
	big := events(make([]string, 300)...) // past the bitset on the stack
	req := &remoting.Command{}
	for _, tc := range []struct {
		name  string
		f     func()
		allow float64
	}{
		{"send chain of two", func() { _ = r.sendHook().BeforeSend(ctx, evs); r.sendHook().AfterSend(ctx, evs) }, 0},
		{"rpc chain of one", func() { _ = r.rpcHook().BeforeRequest("a", req); _ = r.rpcHook().AfterResponse("a", req, req) }, 0},
		{"empty send chain", func() { _ = empty.sendHook().BeforeSend(ctx, evs); empty.sendHook().AfterSend(ctx, evs) }, 0},
		{"empty rpc chain", func() { _ = empty.rpcHook().BeforeRequest("a", req); _ = empty.rpcHook().AfterResponse("a", req, req) }, 0},
		{"a batch of 300", func() { _ = r.sendHook().BeforeSend(ctx, big) }, 1},
	} {
		if n := testing.AllocsPerRun(1000, tc.f); n > tc.allow {
			t.Errorf("%s: %v allocations per call, want at most %v", tc.name, n, tc.allow)
		}
	}
	if h.before.Load() == 0 || h.after.Load() == 0 {
		t.Fatal("the hooks were not called")
	}
}

// TestChainFollowsChangesUnderLoad adds and removes hooks while goroutines send through
// the chain: every call sees one whole set (the hooks in order), and a hook removed is
// retired only once no call holds a set that has it.
func TestChainFollowsChangesUnderLoad(t *testing.T) {
	a := fakeEntry("a", host.KindSend, 1, &tagHook{name: "a"})
	r := fakeRegistry(a)
	chain := r.sendHook()
	var (
		stop  atomic.Bool
		calls atomic.Int64
		wg    sync.WaitGroup
		bad   atomic.Value
	)
	valid := map[string]bool{"a": true, "ab": true, "b": true, "": true}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				evs := events("m")
				if err := chain.BeforeSend(context.Background(), evs); err != nil {
					bad.Store(err.Error())
					return
				}
				if tr := evs[0].Message.Properties.Get("trail"); !valid[tr] {
					bad.Store("trail " + tr)
				}
				calls.Add(1)
			}
		}()
	}
	waitCalls := func(n int64) {
		t.Helper()
		target := calls.Load() + n
		waitFor(t, 10*time.Second, "calls", func() bool { return calls.Load() >= target })
	}
	ctx := context.Background()
	for range 20 {
		waitCalls(50)
		r.mu.Lock()
		r.replace(ctx, "b", fakeEntry("b", host.KindSend, 2, &tagHook{name: "b"}))
		r.mu.Unlock()
		waitCalls(50)
		r.mu.Lock()
		r.replace(ctx, "a", nil)
		r.mu.Unlock()
		waitCalls(50)
		r.mu.Lock()
		r.replace(ctx, "a", a)
		r.replace(ctx, "b", nil)
		r.mu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if n := r.src.set.Load().refs.Load(); n != 0 {
		t.Fatalf("%d references left on the current set", n)
	}
}

// TestNamedLookupsFallBack: a strategy or consume hook named before its plugin exists
// answers natively (averagely; every message delivered).
func TestNamedLookupsFallBack(t *testing.T) {
	r := fakeRegistry()
	s := r.allocationStrategy("circle", nil)
	clients := []string{"c1", "c2"}
	qs := []instance.MessageQueue{{Topic: "T", BrokerName: "b", QueueID: 0}, {Topic: "T", BrokerName: "b", QueueID: 1}}
	got, err := s.Allocate("g", "c2", clients, qs)
	if err != nil || len(got) != 1 || got[0] != 1 || s.Name() != "circle" {
		t.Fatalf("fallback allocation %v %v", got, err)
	}
	verdicts := []instance.ConsumeVerdict{instance.Deliver}
	if err := r.consumeHook("filter").BeforeConsume(context.Background(), &instance.ConsumeContext{}, []*message.Ext{{}}, verdicts); err != nil || verdicts[0] != instance.Deliver {
		t.Fatalf("named consume hook without a plugin: %v %v", err, verdicts)
	}
	if err := r.consumeHooks().BeforeConsume(context.Background(), &instance.ConsumeContext{}, []*message.Ext{{}}, verdicts); err != nil {
		t.Fatal(err)
	}
}
