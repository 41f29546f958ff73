package remoting

// ConsumerListBody is the body of the answer to GET_CONSUMER_LIST_BY_GROUP (38), Java's
// GetConsumerListByGroupResponseBody: the client ids of a group's live consumers, in the
// order the broker lists them (rebalancing sorts them).
type ConsumerListBody struct {
	ConsumerIDs []string `json:"consumerIdList"`
}

// Encode returns the body as Java writes it.
func (b *ConsumerListBody) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("consumerIdList")
	w.strings(b.ConsumerIDs)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (b *ConsumerListBody) Decode(data []byte) error {
	*b = ConsumerListBody{}
	return decodeBody("GetConsumerListByGroupResponseBody", data, b)
}

// ConsumerConnection is the body of the answer to GET_CONSUMER_CONNECTION_LIST (203),
// Java's ConsumerConnection: a group's connected clients and its subscriptions.
type ConsumerConnection struct {
	// Connections keeps the order given (a HashSet of identity-hashed objects in Java).
	Connections      []Connection     `json:"connectionSet"`
	ConsumeFromWhere ConsumeFromWhere `json:"consumeFromWhere"`
	ConsumeType      ConsumeType      `json:"consumeType"`
	MessageModel     MessageModel     `json:"messageModel"`
	// Subscriptions by topic; the broker copies its table into the body's empty
	// ConcurrentHashMap with putAll, whose iteration order Encode follows.
	Subscriptions map[string]SubscriptionData `json:"subscriptionTable"`
}

// Connection is one client connection of a group, Java's Connection.
type Connection struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language"` // the LanguageCode name, "JAVA", "GO", ...
	Version    int32  `json:"version"`
}

// Encode returns the body as Java writes it.
func (c *ConsumerConnection) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("connectionSet")
	w.open('[')
	for _, conn := range c.Connections {
		w.open('{')
		w.optStrField("clientAddr", conn.ClientAddr)
		w.optStrField("clientId", conn.ClientID)
		w.optStrField("language", conn.Language)
		w.intField("version", int64(conn.Version))
		w.close('}')
	}
	w.close(']')
	w.optStrField("consumeFromWhere", string(c.ConsumeFromWhere))
	w.optStrField("consumeType", string(c.ConsumeType))
	w.optStrField("messageModel", string(c.MessageModel))
	w.key("subscriptionTable")
	w.open('{')
	for _, k := range sortedKeys(c.Subscriptions, javaTable{concurrent: true, putAll: true}, false) {
		w.key(k)
		s := c.Subscriptions[k]
		w.subscription(&s)
	}
	w.close('}')
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (c *ConsumerConnection) Decode(data []byte) error {
	*c = ConsumerConnection{}
	return decodeBody("ConsumerConnection", data, c)
}

// CMResult is Java's CMResult enum, by name: the outcome of consuming a message directly.
type CMResult string

// The CMResult values.
const (
	CRSuccess        CMResult = "CR_SUCCESS"
	CRLater          CMResult = "CR_LATER"
	CRRollback       CMResult = "CR_ROLLBACK"
	CRCommit         CMResult = "CR_COMMIT"
	CRThrowException CMResult = "CR_THROW_EXCEPTION"
	CRReturnNull     CMResult = "CR_RETURN_NULL"
)

// ConsumeMessageDirectlyResult is the body of a client's answer to CONSUME_MESSAGE_DIRECTLY
// (309), Java's ConsumeMessageDirectlyResult.
type ConsumeMessageDirectlyResult struct {
	AutoCommit     bool     `json:"autoCommit"` // Java's default is true
	ConsumeResult  CMResult `json:"consumeResult"`
	Order          bool     `json:"order"`
	Remark         string   `json:"remark"`
	SpentTimeMills int64    `json:"spentTimeMills"` // sic
}

// Encode returns the body as Java writes it.
func (r *ConsumeMessageDirectlyResult) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.boolField("autoCommit", r.AutoCommit)
	w.optStrField("consumeResult", string(r.ConsumeResult))
	w.boolField("order", r.Order)
	w.optStrField("remark", r.Remark)
	w.longField("spentTimeMills", r.SpentTimeMills)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (r *ConsumeMessageDirectlyResult) Decode(data []byte) error {
	*r = ConsumeMessageDirectlyResult{}
	return decodeBody("ConsumeMessageDirectlyResult", data, r)
}

// ResetOffsetBody is the body of RESET_CONSUMER_CLIENT_OFFSET (220), Java's
// ResetOffsetBody: the offset each queue of the topic is to be reset to. fastjson writes
// the queues as object keys; the Java broker fills a HashMap, whose order Encode follows.
type ResetOffsetBody struct {
	OffsetTable QueueTable[int64] `json:"offsetTable"`
}

// Encode returns the body as Java writes it; a nil table is Java's null and is omitted.
func (b *ResetOffsetBody) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	if b.OffsetTable != nil {
		w.key("offsetTable")
		queueTable(&w, b.OffsetTable, false, (*jsonWriter).long)
	}
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson (queue keys as objects) or any JSON writer.
func (b *ResetOffsetBody) Decode(data []byte) error {
	*b = ResetOffsetBody{}
	return decodeBody("ResetOffsetBody", data, b)
}

// ConsumerStatusBody is the body of a client's answer to GET_CONSUMER_STATUS_FROM_CLIENT
// (221), Java's GetConsumerStatusBody: the client's offsets of the topic's queues.
type ConsumerStatusBody struct {
	// ConsumerTable maps a client id to its offsets; the broker fills it when it gathers
	// the answers of a group's clients.
	ConsumerTable     map[string]QueueTable[int64] `json:"consumerTable"`
	MessageQueueTable QueueTable[int64]            `json:"messageQueueTable"`
}

// Encode returns the body as Java writes it; both tables are HashMaps in Java.
func (b *ConsumerStatusBody) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("consumerTable")
	w.open('{')
	for _, k := range sortedKeys(b.ConsumerTable, javaTable{}, false) {
		w.key(k)
		queueTable(&w, b.ConsumerTable[k], false, (*jsonWriter).long)
	}
	w.close('}')
	w.key("messageQueueTable")
	queueTable(&w, b.MessageQueueTable, false, (*jsonWriter).long)
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson (queue keys as objects) or any JSON writer.
func (b *ConsumerStatusBody) Decode(data []byte) error {
	*b = ConsumerStatusBody{}
	return decodeBody("GetConsumerStatusBody", data, b)
}
