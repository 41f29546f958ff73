package gateway

import (
	"context"
	"sync/atomic"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The instance and the producer take their hooks once, at construction; plugins come and
// go at run time (uploads, deletes). The level of indirection between them is here: the
// producer gets one send hook, sendChain, and the instance one RPC hook, rpcChain, each of
// which runs, in order, the hooks of the registry's current pluginSet. A change of
// plugins builds a new set and stores it atomically; a version swap of a plugin happens
// below the set, inside its host.Plugin.
//
// Order: the [[plugin]]s of gateway.toml in the file's order, then the plugins uploaded
// under new names in the order of their first upload. A plugin keeps its place across
// new versions, activations and rollbacks, and across restarts (the store records the
// order); a deleted plugin uploaded again goes last.
//
// A set is retired with reference counts: a call takes a reference on the current set
// for as long as it runs the set's hooks, and a plugin the new set dropped is closed only
// once the old set's count is back to zero, so that no call ever reaches a closed plugin.
// (Calls already inside a plugin would finish anyway: host.Plugin.Close lets them.)

// pluginSet is an immutable snapshot of the running plugins.
type pluginSet struct {
	refs atomic.Int64

	all     []*plugEntry // every plugin, in order
	byName  map[string]*plugEntry
	send    []*plugEntry // the send hooks, in order
	rpc     []*plugEntry
	consume []*plugEntry
}

// newPluginSet builds the set of entries, given in order.
func newPluginSet(all []*plugEntry) *pluginSet {
	s := &pluginSet{all: all, byName: make(map[string]*plugEntry, len(all))}
	for _, e := range all {
		s.byName[e.name] = e
		switch e.slot {
		case host.KindSend:
			s.send = append(s.send, e)
		case host.KindRPC:
			s.rpc = append(s.rpc, e)
		case host.KindConsume:
			s.consume = append(s.consume, e)
		}
	}
	return s
}

// hookSource holds the current set.
type hookSource struct {
	set atomic.Pointer[pluginSet]
}

// acquire returns the current set with a reference taken; release it. A set is current
// when the reference is taken: whoever replaces it waits for the count to drain.
func (h *hookSource) acquire() *pluginSet {
	for {
		s := h.set.Load()
		s.refs.Add(1)
		if h.set.Load() == s {
			return s
		}
		s.refs.Add(-1) // replaced meanwhile: its replacer may be waiting
	}
}

func (s *pluginSet) release() { s.refs.Add(-1) }

// chainName is the name the producer and the instance give the chains in errors; the
// plugin at fault is named inside (a rejection's reason starts with its name, a failed
// call's error names it).
const chainName = "plugins"

// sendChain is the producer's send hook: the send plugins of the current set, in order.
// It allocates nothing per call (unless a plugin rejects a message, whose reason then
// gets the plugin's name).
//
// Hooks added between a message's BeforeSend and its AfterSend see only the AfterSend,
// and hooks removed meanwhile only the BeforeSend.
type sendChain struct{ src *hookSource }

var _ instance.SendHook = sendChain{}

func (c sendChain) Name() string { return chainName }

// BeforeSend implements instance.SendHook: each plugin's BeforeSend in order, the first
// error ending the chain (the producer fails the request with it).
func (c sendChain) BeforeSend(ctx context.Context, events []instance.SendEvent) error {
	if len(c.src.set.Load().send) == 0 {
		return nil
	}
	s := c.src.acquire()
	defer s.release()
	// Rejections are told apart by a bitset of the events rejected so far, on the stack
	// for up to 256 events.
	var small [4]uint64
	seen := small[:]
	if len(events) > 64*len(small) {
		seen = make([]uint64, (len(events)+63)/64)
	}
	for j := range events {
		if events[j].Reject != "" {
			seen[j/64] |= 1 << (j % 64)
		}
	}
	for _, e := range s.send {
		if err := e.send.BeforeSend(ctx, events); err != nil {
			return err
		}
		for j := range events {
			if events[j].Reject != "" && seen[j/64]&(1<<(j%64)) == 0 {
				seen[j/64] |= 1 << (j % 64)
				events[j].Reject = e.name + ": " + events[j].Reject
			}
		}
	}
	return nil
}

// AfterSend implements instance.SendHook.
func (c sendChain) AfterSend(ctx context.Context, events []instance.SendEvent) {
	if len(c.src.set.Load().send) == 0 {
		return
	}
	s := c.src.acquire()
	defer s.release()
	for _, e := range s.send {
		e.send.AfterSend(ctx, events)
	}
}

// rpcChain is the instance's RPC hook: the RPC plugins of the current set, in order.
type rpcChain struct{ src *hookSource }

var _ instance.RPCHook = rpcChain{}

func (c rpcChain) Name() string { return chainName }

// BeforeRequest implements instance.RPCHook; the first error fails the request.
func (c rpcChain) BeforeRequest(addr string, req *remoting.Command) error {
	if len(c.src.set.Load().rpc) == 0 {
		return nil
	}
	s := c.src.acquire()
	defer s.release()
	for _, e := range s.rpc {
		if err := e.rpc.BeforeRequest(addr, req); err != nil {
			return err
		}
	}
	return nil
}

// AfterResponse implements instance.RPCHook.
func (c rpcChain) AfterResponse(addr string, req, resp *remoting.Command) error {
	if len(c.src.set.Load().rpc) == 0 {
		return nil
	}
	s := c.src.acquire()
	defer s.release()
	for _, e := range s.rpc {
		if err := e.rpc.AfterResponse(addr, req, resp); err != nil {
			return err
		}
	}
	return nil
}

// consumeChain is a consumer's consume hook: the consume plugins of the current set, in
// order.
type consumeChain struct{ src *hookSource }

var _ instance.ConsumeHook = consumeChain{}

func (c consumeChain) Name() string { return chainName }

// BeforeConsume implements instance.ConsumeHook; the first error ends the chain.
func (c consumeChain) BeforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) error {
	if len(c.src.set.Load().consume) == 0 {
		return nil
	}
	s := c.src.acquire()
	defer s.release()
	for _, e := range s.consume {
		if err := e.consume.BeforeConsume(ctx, cc, msgs, verdicts); err != nil {
			return err
		}
	}
	return nil
}

// AfterConsume implements instance.ConsumeHook.
func (c consumeChain) AfterConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	if len(c.src.set.Load().consume) == 0 {
		return
	}
	s := c.src.acquire()
	defer s.release()
	for _, e := range s.consume {
		e.consume.AfterConsume(ctx, cc, msgs, success)
	}
}

// namedConsumeHook is the consume plugin of one name, whatever version runs: it does
// nothing while no consume plugin of that name is loaded.
type namedConsumeHook struct {
	src  *hookSource
	name string
}

var _ instance.ConsumeHook = namedConsumeHook{}

func (h namedConsumeHook) Name() string { return h.name }

// BeforeConsume implements instance.ConsumeHook.
func (h namedConsumeHook) BeforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) error {
	s := h.src.acquire()
	defer s.release()
	if e := s.byName[h.name]; e != nil && e.consume != nil {
		return e.consume.BeforeConsume(ctx, cc, msgs, verdicts)
	}
	return nil
}

// AfterConsume implements instance.ConsumeHook.
func (h namedConsumeHook) AfterConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	s := h.src.acquire()
	defer s.release()
	if e := s.byName[h.name]; e != nil && e.consume != nil {
		e.consume.AfterConsume(ctx, cc, msgs, success)
	}
}

// namedStrategy is the allocation plugin of one name, whatever version runs, with a
// native fallback: the fallback answers while no allocation plugin of that name is
// loaded, and when the plugin's call fails under the fallback (or skip) policy.
type namedStrategy struct {
	src      *hookSource
	name     string
	fallback instance.AllocateStrategy
	obs      *host.Observer // nil: telemetry off
}

var _ instance.AllocateStrategy = (*namedStrategy)(nil)

// Name implements instance.AllocateStrategy: the plugin's name.
func (s *namedStrategy) Name() string { return s.name }

// Allocate implements instance.AllocateStrategy.
func (s *namedStrategy) Allocate(group, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	set := s.src.acquire()
	defer set.release()
	e := set.byName[s.name]
	if e == nil || e.slot != host.KindAllocate {
		return s.fallback.Allocate(group, self, clients, queues)
	}
	a, err := host.NewAllocateStrategy(e.plugin, s.fallback)
	if err != nil {
		return nil, err
	}
	return s.obs.AllocateStrategy(a).Allocate(group, self, clients, queues)
}
