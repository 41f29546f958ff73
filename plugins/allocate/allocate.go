package allocate

import (
	"errors"
	"slices"
	"strconv"
)

// Strategy names, as the Java classes' getName returns them.
const (
	NameAveragely         = "AVG"
	NameAveragelyByCircle = "AVG_BY_CIRCLE"
	NameConsistentHash    = "CONSISTENT_HASH"
	NameByConfig          = "CONFIG"
	NameByMachineRoom     = "MACHINE_ROOM"
)

// The inputs for which Java's AbstractAllocateMessageQueueStrategy.check throws.
var (
	ErrEmptyClientID = errors.New("allocate: currentCID is empty")
	ErrNoQueues      = errors.New("allocate: mqAll is null or mqAll empty")
	ErrNoClients     = errors.New("allocate: cidAll is null or cidAll empty")
)

// Check reports the inputs Java's strategies refuse with an exception (all but ByConfig,
// which checks nothing). A client id missing from clients is not an error: the strategy
// answers an empty share.
func Check(self string, clients []string, nQueues int) error {
	switch {
	case self == "":
		return ErrEmptyClientID
	case nQueues <= 0:
		return ErrNoQueues
	case len(clients) == 0:
		return ErrNoClients
	}
	return nil
}

// valid is Java's check: false where it throws or logs "[BUG] ... not in cidAll".
func valid(self string, clients []string, nQueues int) bool {
	return Check(self, clients, nQueues) == nil && slices.Contains(clients, self)
}

// Averagely is AllocateMessageQueueAveragely: the queues are cut into len(clients)
// consecutive ranges, the first nQueues%len(clients) of them one queue longer, and the
// client at position i (its first occurrence in clients) takes the i-th range.
func Averagely(self string, clients []string, nQueues int) []int {
	if !valid(self, clients, nQueues) {
		return nil
	}
	index := slices.Index(clients, self)
	n := len(clients)
	mod := nQueues % n
	avg := nQueues / n
	if nQueues <= n {
		avg = 1
	} else if mod > 0 && index < mod {
		avg++
	}
	start := index*avg + mod
	if mod > 0 && index < mod {
		start = index * avg
	}
	size := min(avg, nQueues-start)
	if size <= 0 {
		return nil
	}
	out := make([]int, 0, size)
	for i := range size {
		out = append(out, (start+i)%nQueues)
	}
	return out
}

// AveragelyByCircle is AllocateMessageQueueAveragelyByCircle: queue i goes to the client
// at position i % len(clients).
func AveragelyByCircle(self string, clients []string, nQueues int) []int {
	if !valid(self, clients, nQueues) {
		return nil
	}
	index := slices.Index(clients, self)
	var out []int
	for i := index; i < nQueues; i += len(clients) {
		out = append(out, i)
	}
	return out
}

// Queue names a message queue for ByConfig. Its fields are those of the gateway's
// remoting.MessageQueue, in the same order, so one converts to the other.
type Queue struct {
	BrokerName string
	QueueID    int32
	Topic      string
}

// String is Java's MessageQueue.toString, what ConsistentHash hashes.
func (q Queue) String() string {
	return "MessageQueue [topic=" + q.Topic + ", brokerName=" + q.BrokerName + ", queueId=" +
		strconv.Itoa(int(q.QueueID)) + "]"
}

// ByConfig is AllocateMessageQueueByConfig: the configured queues, whoever asks. Java
// returns the configured list itself; as indices, a configured queue absent from queues
// cannot be named and is left out (Java would pull it anyway), and a queue configured
// twice counts once (Java's rebalance puts the answer into a set). The order is the
// configured order.
func ByConfig(configured, queues []Queue) []int {
	var out []int
	for _, c := range configured {
		i := slices.Index(queues, c)
		if i >= 0 && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

// ByMachineRoom is AllocateMessageQueueByMachineRoom: of the queues whose broker name
// splits on "@" (as Java's String.split, which drops trailing empty parts) into exactly two
// parts, the first a room in rooms, client i takes the i-th run of
// len(matching)/len(clients) queues, plus the queue at position i of the remainder after
// all runs. brokerNames holds the broker name of each queue, in queue order.
func ByMachineRoom(self string, clients []string, brokerNames []string, rooms []string) []int {
	if !valid(self, clients, len(brokerNames)) {
		return nil
	}
	index := slices.Index(clients, self)
	var matching []int
	for i, b := range brokerNames {
		if room, ok := machineRoom(b); ok && slices.Contains(rooms, room) {
			matching = append(matching, i)
		}
	}
	per := len(matching) / len(clients)
	rem := len(matching) % len(clients)
	out := make([]int, 0, per+1)
	out = append(out, matching[per*index:per*index+per]...)
	if rem > index {
		out = append(out, matching[index+per*len(clients)])
	}
	return out
}

// machineRoom is the part before "@" of a broker name when Java's
// brokerName.split("@") has length 2.
func machineRoom(brokerName string) (string, bool) {
	parts := 1
	first := -1
	for i := 0; i < len(brokerName); i++ {
		if brokerName[i] == '@' {
			if first < 0 {
				first = i
			}
			parts++
		}
	}
	// String.split drops trailing empty strings: "a@b@" and "a@b@@" are two parts.
	end := len(brokerName)
	for end > 0 && brokerName[end-1] == '@' {
		end--
		parts--
	}
	if end == 0 {
		return "", false // "", "@", "@@": no parts left (or [""] for "")
	}
	if parts != 2 {
		return "", false
	}
	return brokerName[:first], true
}
