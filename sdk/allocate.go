package sdk

import (
	"strconv"

	"github.com/mqgate/mqgate/sdk/abi"
)

// Queue names one message queue of a topic.
type Queue struct {
	BrokerName string
	QueueID    int32
	Topic      string
}

// String is Java's MessageQueue.toString, "MessageQueue [topic=T, brokerName=b, queueId=0]",
// which Java's consistent-hash strategy hashes.
func (q Queue) String() string {
	return "MessageQueue [topic=" + q.Topic + ", brokerName=" + q.BrokerName + ", queueId=" +
		strconv.Itoa(int(q.QueueID)) + "]"
}

// AllocateRequest is what an allocation strategy decides on, as Java's
// AllocateMessageQueueStrategy.allocate receives it.
type AllocateRequest struct {
	Group string
	// SelfID is this consumer's client id; Self its index in Clients (its first occurrence),
	// or -1 when it is not among them (Java's strategies then answer nothing).
	SelfID string
	Self   int
	// Clients are the client ids of the group's consumers, sorted.
	Clients []string
	// Queues are the topic's queues, sorted by topic, broker name and queue id.
	Queues []Queue
}

// RegisterAllocator makes f the module's allocation strategy. Like a hook's, the strings
// of req are views of the module's input: strings.Clone what you keep past the call. f returns the indices into
// req.Queues of this consumer's queues, each at most once; the host refuses an answer with
// an index out of range or repeated. f must be deterministic: every consumer of the group
// runs it, on every gateway, and their answers must split the queues between them.
func RegisterAllocator(f func(req AllocateRequest) []int) {
	register(abi.KindAllocate)
	reg.allocator = f
}

var allocReq AllocateRequest

func handleAllocate(in []byte, out []byte) []byte {
	d := abi.NewDecoder(in)
	r := &allocReq
	// Views of the input, as for hooks: copying 200 strings per rebalance cost a Go module
	// 200 allocations and tens of microseconds.
	r.Group = d.Str()
	r.SelfID = d.Str()
	r.Self = int(d.I32())
	n := d.Count(abi.StrSize(0))
	r.Clients = r.Clients[:0]
	for range n {
		r.Clients = append(r.Clients, d.Str())
	}
	n = d.Count(2*abi.StrSize(0) + abi.SizeU32)
	r.Queues = r.Queues[:0]
	for range n {
		r.Queues = append(r.Queues, Queue{Topic: d.Str(), BrokerName: d.Str(), QueueID: d.I32()})
	}
	if d.Err() != nil {
		return errorResult(out, "decoding the allocate input: "+d.Err().Error())
	}
	idx := reg.allocator(*r)
	out = append(out, abi.StatusOK)
	out = abi.AppendU32(out, uint32(len(idx)))
	for _, i := range idx {
		out = abi.AppendU32(out, uint32(i)) // -1 becomes out of range, which the host refuses
	}
	return out
}
