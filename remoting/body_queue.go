package remoting

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// MessageQueue names one queue of a topic on one broker, Java's MessageQueue. It is
// comparable, so it keys Go maps as it keys Java's.
type MessageQueue struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Topic      string `json:"topic"`
}

// Compare orders queues as Java's MessageQueue.compareTo: by topic, broker name, then
// queue id.
func (q MessageQueue) Compare(o MessageQueue) int {
	if c := javaCompare(q.Topic, o.Topic); c != 0 {
		return c
	}
	if c := javaCompare(q.BrokerName, o.BrokerName); c != 0 {
		return c
	}
	return int(q.QueueID) - int(o.QueueID)
}

// String returns Java's MessageQueue.toString, which the consistent-hash allocation
// strategy hashes: "MessageQueue [topic=T, brokerName=b, queueId=0]".
func (q MessageQueue) String() string {
	return "MessageQueue [topic=" + q.Topic + ", brokerName=" + q.BrokerName + ", queueId=" +
		strconv.Itoa(int(q.QueueID)) + "]"
}

// javaHash is Java's MessageQueue.hashCode.
func (q MessageQueue) javaHash() uint32 {
	h := uint32(1)
	h = 31*h + javaStringHash(q.BrokerName)
	h = 31*h + uint32(q.QueueID)
	return 31*h + javaStringHash(q.Topic)
}

func (w *jsonWriter) messageQueue(q MessageQueue) {
	w.open('{')
	w.strField("brokerName", q.BrokerName)
	w.intField("queueId", int64(q.QueueID))
	w.strField("topic", q.Topic)
	w.close('}')
}

func (w *jsonWriter) messageQueues(qs []MessageQueue) {
	w.open('[')
	for _, q := range qs {
		w.messageQueue(q)
	}
	w.close(']')
}

// QueueTable is a Map<MessageQueue, V> property of a body. fastjson writes such a key as
// the queue's JSON object, `{{"brokerName":"b","queueId":0,"topic":"T"}:v}`, which is not
// JSON; the Decode methods of the bodies accept it, and also the key as a string holding
// that object, which is the form a standard JSON writer would produce.
type QueueTable[V any] map[MessageQueue]V

// UnmarshalJSON reads the string-keyed form; Decode methods turn fastjson's object keys
// into it first.
func (t *QueueTable[V]) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*t = nil
		return nil
	}
	m := make(QueueTable[V], len(raw))
	for k, v := range raw {
		var q MessageQueue
		if err := json.Unmarshal([]byte(k), &q); err != nil {
			return fmt.Errorf("message queue key %q: %w", k, err)
		}
		var val V
		if err := json.Unmarshal(v, &val); err != nil {
			return fmt.Errorf("value of %s: %w", q, err)
		}
		m[q] = val
	}
	*t = m
	return nil
}

// sortedQueues returns the keys of t as Java iterates them: a TreeMap in compareTo order,
// else a HashMap of default capacity, by bucket then compareTo.
func sortedQueues[V any](t QueueTable[V], tree bool) []MessageQueue {
	keys := make([]MessageQueue, 0, len(t))
	for q := range t {
		keys = append(keys, q)
	}
	if tree {
		slices.SortFunc(keys, MessageQueue.Compare)
		return keys
	}
	size := javaTable{}.size(len(keys))
	bucket := func(q MessageQueue) uint32 {
		h := q.javaHash()
		return (h ^ h>>16) & (size - 1)
	}
	slices.SortFunc(keys, func(a, b MessageQueue) int {
		if ba, bb := bucket(a), bucket(b); ba != bb {
			return int(ba) - int(bb)
		}
		return a.Compare(b)
	})
	return keys
}

// queueTable writes t with fastjson's object keys (in the standard style, as a string
// holding the object, as WriteNonStringKeyAsString does).
func queueTable[V any](w *jsonWriter, t QueueTable[V], tree bool, value func(*jsonWriter, V)) {
	w.open('{')
	for _, q := range sortedQueues(t, tree) {
		if w.style == styleStandard {
			inner := jsonWriter{style: styleDefault}
			inner.messageQueue(q)
			w.key(string(inner.b))
		} else {
			w.messageQueue(q)
			w.b = append(w.b, ':')
		}
		value(w, t[q])
	}
	w.close('}')
}

// LockBatchRequestBody is the body of LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42), Java's
// LockBatchRequestBody and UnlockBatchRequestBody: an orderly consumer locking (or
// releasing) queues on a broker. MQSet is written in the order given (Java's is its
// HashSet's iteration order, which nobody depends on), so a decoded body re-encodes to
// the same bytes.
type LockBatchRequestBody struct {
	ClientID      string         `json:"clientId"`
	ConsumerGroup string         `json:"consumerGroup"`
	MQSet         []MessageQueue `json:"mqSet"`
}

// Encode returns the body as Java writes it.
func (b *LockBatchRequestBody) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.optStrField("clientId", b.ClientID)
	w.optStrField("consumerGroup", b.ConsumerGroup)
	w.key("mqSet")
	w.messageQueues(b.MQSet)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (b *LockBatchRequestBody) Decode(data []byte) error {
	*b = LockBatchRequestBody{}
	return decodeBody("LockBatchRequestBody", data, b)
}

// LockBatchResponseBody is the body of the answer to LOCK_BATCH_MQ, Java's
// LockBatchResponseBody: the queues now locked by the requesting client.
type LockBatchResponseBody struct {
	LockOKMQSet []MessageQueue `json:"lockOKMQSet"`
}

// Encode returns the body as Java writes it.
func (b *LockBatchResponseBody) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("lockOKMQSet")
	w.messageQueues(b.LockOKMQSet)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (b *LockBatchResponseBody) Decode(data []byte) error {
	*b = LockBatchResponseBody{}
	return decodeBody("LockBatchResponseBody", data, b)
}
