package remoting

// OffsetWrapper is one queue of a ConsumeStats, Java's OffsetWrapper: the queue's max
// offset on the broker, the group's committed offset, and the store time of the last
// message the group consumed (0 when it consumed none).
type OffsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	LastTimestamp  int64 `json:"lastTimestamp"`
}

// Lag is what the group has still to consume of the queue (mqadmin's "Diff").
func (o OffsetWrapper) Lag() int64 { return o.BrokerOffset - o.ConsumerOffset }

// ConsumeStats is the body of the answer to GET_CONSUME_STATS (208), Java's ConsumeStats:
// a group's progress per queue on one broker, and the group's consume rate there
// (messages per second the broker served it).
type ConsumeStats struct {
	ConsumeTps  float64                   `json:"consumeTps"`
	OffsetTable QueueTable[OffsetWrapper] `json:"offsetTable"`
}

// TotalLag is the sum of the queues' lags (Java's computeTotalDiff).
func (s *ConsumeStats) TotalLag() int64 {
	var n int64
	for _, o := range s.OffsetTable {
		n += o.Lag()
	}
	return n
}

// Encode returns the body as Java writes it: consumeTps as a Java double, the queues as
// object keys in the order of the broker's HashMap. A nil table is written empty, as
// Java initialises it.
func (s *ConsumeStats) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("consumeTps")
	w.double(s.ConsumeTps)
	w.key("offsetTable")
	queueTable(&w, s.OffsetTable, false, func(w *jsonWriter, o OffsetWrapper) {
		w.open('{')
		w.longField("brokerOffset", o.BrokerOffset)
		w.longField("consumerOffset", o.ConsumerOffset)
		w.longField("lastTimestamp", o.LastTimestamp)
		w.close('}')
	})
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson (queue keys as objects) or any JSON writer.
func (s *ConsumeStats) Decode(data []byte) error {
	*s = ConsumeStats{}
	return decodeBody("ConsumeStats", data, s)
}

// TopicList is the body of a NameServer's answer to GET_ALL_TOPIC_LIST_FROM_NAMESERVER
// (206) and GET_TOPICS_BY_CLUSTER (224), Java's TopicList. The topics keep the order
// given (a HashSet's in Java; nobody depends on it); BrokerAddr is null in those answers.
type TopicList struct {
	Topics     []string `json:"topicList"`
	BrokerAddr string   `json:"brokerAddr"`
}

// Encode returns the body as Java writes it: brokerAddr is omitted when null (empty).
func (l *TopicList) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.optStrField("brokerAddr", l.BrokerAddr)
	w.key("topicList")
	w.strings(l.Topics)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (l *TopicList) Decode(data []byte) error {
	*l = TopicList{}
	return decodeBody("TopicList", data, l)
}
