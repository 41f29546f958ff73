package host

import (
	"fmt"
	"slices"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/sdk/abi"
)

// AllocateStrategy is an allocation strategy plugin as an instance.AllocateStrategy.
//
// Inputs Java's strategies refuse with an exception (no client id, no queues, no clients)
// are refused before the plugin is called, with allocate's errors. An answer with an index
// out of range or repeated is a failed call. A failed call answers what the fallback
// answers under the Fallback and Skip policies, and the error under Fail (the consumer then
// keeps its current queues, as Java's rebalance does when a strategy throws).
type AllocateStrategy struct {
	p        *Plugin
	fallback instance.AllocateStrategy
}

var _ instance.AllocateStrategy = (*AllocateStrategy)(nil)

// NewAllocateStrategy adapts p, an allocation plugin; fallback is the built-in strategy of
// the Fallback policy, Java's default (averagely) when nil.
func NewAllocateStrategy(p *Plugin, fallback instance.AllocateStrategy) (*AllocateStrategy, error) {
	if k := p.Kind(); k != KindAllocate {
		return nil, fmt.Errorf("plugin %q is a %v plugin, not an allocation strategy", p.name, k)
	}
	if fallback == nil {
		fallback = averagely{}
	}
	return &AllocateStrategy{p: p, fallback: fallback}, nil
}

// Name returns the plugin's name.
func (s *AllocateStrategy) Name() string { return s.p.name }

// Allocate implements instance.AllocateStrategy.
func (s *AllocateStrategy) Allocate(group, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	return s.allocate(group, self, clients, queues, nil)
}

func (s *AllocateStrategy) allocate(group, self string, clients []string, queues []instance.MessageQueue, r *report) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	idx, err := s.call(group, self, clients, queues, r)
	if err == nil {
		return idx, nil
	}
	if s.p.outcome(err, r) != nil {
		return nil, err
	}
	return s.fallback.Allocate(group, self, clients, queues)
}

func (s *AllocateStrategy) call(group, self string, clients []string, queues []instance.MessageQueue, r *report) ([]int, *CallError) {
	var c call
	if err := s.p.begin(&c, abi.EntryAllocate); err != nil {
		return nil, err
	}
	r.served(&c)
	size := abi.StrSize(len(group)) + abi.StrSize(len(self)) + 3*abi.SizeU32
	for _, cl := range clients {
		size += abi.StrSize(len(cl))
	}
	for _, q := range queues {
		size += abi.StrSize(len(q.Topic)) + abi.StrSize(len(q.BrokerName)) + abi.SizeU32
	}
	buf, err := c.input(size)
	if err != nil {
		return nil, err
	}
	e := abi.Encoder{Buf: buf}
	e.Str(group)
	e.Str(self)
	e.I32(int32(slices.Index(clients, self)))
	e.U32(uint32(len(clients)))
	for _, cl := range clients {
		e.Str(cl)
	}
	e.U32(uint32(len(queues)))
	for _, q := range queues {
		e.Str(q.Topic)
		e.Str(q.BrokerName)
		e.I32(q.QueueID)
	}
	out, err := c.run(size)
	if err != nil {
		return nil, err
	}
	d := abi.NewDecoder(out)
	n := d.Count(abi.SizeU32)
	if d.Err() != nil || n > len(queues) {
		return nil, c.fail(failure{kind: FailBadResult, detail: fmt.Sprintf("%d indices for %d queues", n, len(queues))})
	}
	seen := slices.Grow(c.g.scratch[:0], len(queues))[:len(queues)]
	clear(seen)
	c.g.scratch = seen
	idx := make([]int, n)
	for i := range idx {
		q := d.U32()
		if q >= uint32(len(queues)) {
			return nil, c.fail(failure{kind: FailBadResult, detail: fmt.Sprintf("queue index %d out of range: %d queues", int32(q), len(queues))})
		}
		if seen[q] != 0 {
			return nil, c.fail(failure{kind: FailBadResult, detail: fmt.Sprintf("queue index %d given twice", q)})
		}
		seen[q] = 1
		idx[i] = int(q)
	}
	c.end()
	return idx, nil
}

// averagely is Java's default strategy, the fallback when none is given.
type averagely struct{}

func (averagely) Name() string { return allocate.NameAveragely }

func (averagely) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	return allocate.Averagely(self, clients, len(queues)), nil
}
