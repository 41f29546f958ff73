package broker

import (
	"strconv"

	"github.com/mqgate/mqgate/remoting"
)

// JSON bodies of admin answers the remoting package has no type for, written as fastjson
// writes them: keys in alphabetical order, and a Map<MessageQueue, V> with the queue's
// object as the key, `{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}`, which Java
// reads (and which is not standard JSON).

// topicOffset is Java's TopicOffset, a queue of TopicStatsTable.
type topicOffset struct {
	queue                        remoting.MessageQueue
	minOffset, maxOffset, lastTs int64
}

// encodeTopicStats is TopicStatsTable.encode.
func encodeTopicStats(offsets []topicOffset) []byte {
	b := []byte(`{"offsetTable":{`)
	for i, o := range offsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQueueKey(b, o.queue)
		b = append(b, `{"lastUpdateTimestamp":`...)
		b = strconv.AppendInt(b, o.lastTs, 10)
		b = append(b, `,"maxOffset":`...)
		b = strconv.AppendInt(b, o.maxOffset, 10)
		b = append(b, `,"minOffset":`...)
		b = strconv.AppendInt(b, o.minOffset, 10)
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// offsetWrapper is Java's OffsetWrapper, a queue of ConsumeStats.
type offsetWrapper struct {
	queue                        remoting.MessageQueue
	brokerOffset, consumerOffset int64
	lastTimestamp                int64
}

// queueProgress is group's OffsetWrapper of a queue, as getConsumeStats and
// fetchAllConsumeStatsInBroker fill it: the broker's max offset, the group's committed
// one, and the store time of the last message consumed.
func (b *Broker) queueProgress(group, topic string, queueID int32) offsetWrapper {
	o := offsetWrapper{queue: remoting.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: queueID},
		brokerOffset: max(b.store.MaxOffset(topic, queueID), 0), consumerOffset: max(b.offsets.query(group, topic, queueID), 0)}
	if o.consumerOffset > 0 {
		if ts := b.store.StoreTimestamp(topic, queueID, o.consumerOffset-1); ts > 0 {
			o.lastTimestamp = ts
		}
	}
	return o
}

// encodeConsumeStats is ConsumeStats.encode; the broker keeps no consumption rates, so
// consumeTps is 0.0.
func encodeConsumeStats(offsets []offsetWrapper) []byte {
	b := []byte(`{"consumeTps":0.0,"offsetTable":{`)
	for i, o := range offsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQueueKey(b, o.queue)
		b = append(b, `{"brokerOffset":`...)
		b = strconv.AppendInt(b, o.brokerOffset, 10)
		b = append(b, `,"consumerOffset":`...)
		b = strconv.AppendInt(b, o.consumerOffset, 10)
		b = append(b, `,"lastTimestamp":`...)
		b = strconv.AppendInt(b, o.lastTimestamp, 10)
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// encodeGroupList is GroupList.encode.
func encodeGroupList(groups []string) []byte {
	b := []byte(`{"groupList":[`)
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, jsonString(g)...)
	}
	return append(b, "]}"...)
}

// encodeProducerConnection is ProducerConnection.encode.
func encodeProducerConnection(conns []remoting.Connection) []byte {
	b := []byte(`{"connectionSet":[`)
	for i, c := range conns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"clientAddr":`...)
		b = append(b, jsonString(c.ClientAddr)...)
		b = append(b, `,"clientId":`...)
		b = append(b, jsonString(c.ClientID)...)
		b = append(b, `,"language":`...)
		b = append(b, jsonString(c.Language)...)
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(c.Version), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendQueueKey writes a MessageQueue map key as fastjson does, colon included.
func appendQueueKey(b []byte, q remoting.MessageQueue) []byte {
	b = append(b, `{"brokerName":`...)
	b = append(b, jsonString(q.BrokerName)...)
	b = append(b, `,"queueId":`...)
	b = strconv.AppendInt(b, int64(q.QueueID), 10)
	b = append(b, `,"topic":`...)
	b = append(b, jsonString(q.Topic)...)
	return append(b, "}:"...)
}

// jsonString quotes s as fastjson does by default: quote, backslash and control
// characters escaped, everything else as it is.
func jsonString(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
