package consumer

import (
	"fmt"
	"slices"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/plugins/allocate"
)

// The native allocation strategies: instance.AllocateStrategy adapters over package
// plugins/allocate, which holds the five Java strategies in plain Go (the same source as
// the built-in WebAssembly plugins). Each answers, as indices into the sorted queues,
// exactly what its Java class answers for the same inputs; the inputs Java refuses with
// an exception (no queues, no consumers, an empty client id) are errors, which make the
// rebalance keep the queues as they were.

// Averagely is AllocateMessageQueueAveragely: consecutive ranges, the first ones a queue
// longer.
func Averagely() instance.AllocateStrategy { return averagely{} }

// AveragelyByCircle is AllocateMessageQueueAveragelyByCircle: queue i to consumer i mod n.
func AveragelyByCircle() instance.AllocateStrategy { return byCircle{} }

// ConsistentHash is AllocateMessageQueueConsistentHash with virtualNodes virtual nodes per
// consumer (Java's default constructor: 10, allocate.DefaultVirtualNodes) and Java's MD5
// hash; a non-positive count allocates nothing, as Java's refuses it.
func ConsistentHash(virtualNodes int) instance.AllocateStrategy {
	return consistentHash{nodes: virtualNodes}
}

// ByConfig is AllocateMessageQueueByConfig: these queues, whatever the other consumers
// do. Queues the topic does not have are left out.
func ByConfig(queues []instance.MessageQueue) instance.AllocateStrategy {
	qs := make([]allocate.Queue, len(queues))
	for i, q := range queues {
		qs[i] = allocate.Queue(q)
	}
	return byConfig{queues: qs}
}

// ByMachineRoom is AllocateMessageQueueByMachineRoom: the queues of brokers named
// "room@name" whose room is one of rooms, split averagely among the consumers.
func ByMachineRoom(rooms []string) instance.AllocateStrategy {
	return byMachineRoom{rooms: slices.Clone(rooms)}
}

type averagely struct{}

func (averagely) Name() string { return allocate.NameAveragely }

func (averagely) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	return allocate.Averagely(self, clients, len(queues)), nil
}

type byCircle struct{}

func (byCircle) Name() string { return allocate.NameAveragelyByCircle }

func (byCircle) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	return allocate.AveragelyByCircle(self, clients, len(queues)), nil
}

type consistentHash struct{ nodes int }

func (consistentHash) Name() string { return allocate.NameConsistentHash }

func (s consistentHash) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	if s.nodes < 0 {
		return nil, fmt.Errorf("allocate: virtual node count %d is negative", s.nodes)
	}
	names := make([]string, len(queues))
	for i, q := range queues {
		names[i] = q.String()
	}
	return allocate.ConsistentHash(self, clients, names, s.nodes), nil
}

type byConfig struct{ queues []allocate.Queue }

func (byConfig) Name() string { return allocate.NameByConfig }

func (s byConfig) Allocate(_, _ string, _ []string, queues []instance.MessageQueue) ([]int, error) {
	all := make([]allocate.Queue, len(queues))
	for i, q := range queues {
		all[i] = allocate.Queue(q)
	}
	return allocate.ByConfig(s.queues, all), nil
}

type byMachineRoom struct{ rooms []string }

func (byMachineRoom) Name() string { return allocate.NameByMachineRoom }

func (s byMachineRoom) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	names := make([]string, len(queues))
	for i, q := range queues {
		names[i] = q.BrokerName
	}
	return allocate.ByMachineRoom(self, clients, names, s.rooms), nil
}

// allocateQueues runs strategy and turns its indices into queues, refusing an answer
// that does not name distinct queues of the list; a panicking strategy is an error too.
func allocateQueues(strategy instance.AllocateStrategy, group, self string, clients []string,
	queues []instance.MessageQueue) (mine []instance.MessageQueue, err error) {
	defer func() {
		if r := recover(); r != nil {
			mine, err = nil, fmt.Errorf("%w %s panicked: %v", ErrStrategy, strategy.Name(), r)
		}
	}()
	idx, err := strategy.Allocate(group, self, clients, queues)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrStrategy, strategy.Name(), err)
	}
	seen := make(map[int]bool, len(idx))
	mine = make([]instance.MessageQueue, 0, len(idx))
	for _, i := range idx {
		if i < 0 || i >= len(queues) {
			return nil, fmt.Errorf("%w %s: index %d out of %d queues", ErrStrategy, strategy.Name(), i, len(queues))
		}
		if seen[i] {
			return nil, fmt.Errorf("%w %s: index %d answered twice", ErrStrategy, strategy.Name(), i)
		}
		seen[i] = true
		mine = append(mine, queues[i])
	}
	return mine, nil
}
