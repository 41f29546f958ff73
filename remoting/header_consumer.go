package remoting

// UnregisterClientRequest is the header of UNREGISTER_CLIENT (35), Java's
// UnregisterClientRequestHeader: sent once per producer or consumer group at shutdown.
// Its response header has no fields: EmptyHeader.
type UnregisterClientRequest struct {
	ClientID      string
	ProducerGroup string // null unless a producer unregisters
	ConsumerGroup string // null unless a consumer unregisters
}

var unregisterClientKeys = [...]string{"clientID", "producerGroup", "consumerGroup"}

// EncodeFields writes the fields in declaration order, skipping empty groups.
func (h *UnregisterClientRequest) EncodeFields(w *FieldWriter) {
	w.String("clientID", h.ClientID)
	if h.ProducerGroup != "" {
		w.String("producerGroup", h.ProducerGroup)
	}
	if h.ConsumerGroup != "" {
		w.String("consumerGroup", h.ConsumerGroup)
	}
}

// DecodeFields reads h from ext; clientID is required.
func (h *UnregisterClientRequest) DecodeFields(ext ExtFields) error {
	*h = UnregisterClientRequest{}
	d := fieldDecoder{header: "UnregisterClientRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "clientID":
			h.ClientID = d.str(0, f)
		case "producerGroup":
			h.ProducerGroup = d.str(1, f)
		case "consumerGroup":
			h.ConsumerGroup = d.str(2, f)
		}
	}
	return d.finish(1, unregisterClientKeys[:])
}

// ConsumerListRequest is the header of GET_CONSUMER_LIST_BY_GROUP (38), Java's
// GetConsumerListByGroupRequestHeader. The answer is a ConsumerListBody with EmptyHeader.
type ConsumerListRequest struct {
	ConsumerGroup string
}

// EncodeFields writes consumerGroup.
func (h *ConsumerListRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
}

// DecodeFields reads h from ext; consumerGroup is required.
func (h *ConsumerListRequest) DecodeFields(ext ExtFields) (err error) {
	h.ConsumerGroup, err = decodeGroup("GetConsumerListByGroupRequestHeader", ext)
	return err
}

// NotifyConsumerIDsChangedRequest is the header of NOTIFY_CONSUMER_IDS_CHANGED (40), sent
// oneway by the broker to every consumer of a group when one joins or leaves; Java's
// NotifyConsumerIdsChangedRequestHeader.
type NotifyConsumerIDsChangedRequest struct {
	ConsumerGroup string
}

// EncodeFields writes consumerGroup.
func (h *NotifyConsumerIDsChangedRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
}

// DecodeFields reads h from ext; consumerGroup is required.
func (h *NotifyConsumerIDsChangedRequest) DecodeFields(ext ExtFields) (err error) {
	h.ConsumerGroup, err = decodeGroup("NotifyConsumerIdsChangedRequestHeader", ext)
	return err
}

// ConsumerConnectionListRequest is the header of GET_CONSUMER_CONNECTION_LIST (203),
// Java's GetConsumerConnectionListRequestHeader; the answer is a ConsumerConnection body.
type ConsumerConnectionListRequest struct {
	ConsumerGroup string
}

// EncodeFields writes consumerGroup.
func (h *ConsumerConnectionListRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
}

// DecodeFields reads h from ext; consumerGroup is required.
func (h *ConsumerConnectionListRequest) DecodeFields(ext ExtFields) (err error) {
	h.ConsumerGroup, err = decodeGroup("GetConsumerConnectionListRequestHeader", ext)
	return err
}

var consumerGroupKeys = [...]string{"consumerGroup"}

func decodeGroup(header string, ext ExtFields) (string, error) {
	d := fieldDecoder{header: header}
	var group string
	for i := range ext {
		if ext[i].Key == "consumerGroup" {
			group = d.str(0, &ext[i])
		}
	}
	return group, d.finish(1, consumerGroupKeys[:])
}

// ConsumerRunningInfoRequest is the header of GET_CONSUMER_RUNNING_INFO (307), Java's
// GetConsumerRunningInfoRequestHeader: an admin asks the broker, which forwards it to the
// client; the client answers with a ConsumerRunningInfo body.
type ConsumerRunningInfoRequest struct {
	ConsumerGroup string
	ClientID      string
	JstackEnable  bool // include a thread dump in the answer
}

var consumerRunningInfoKeys = [...]string{"consumerGroup", "clientId", "jstackEnable"}

// EncodeFields writes the fields in declaration order.
func (h *ConsumerRunningInfoRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	w.String("clientId", h.ClientID)
	w.Bool("jstackEnable", h.JstackEnable)
}

// DecodeFields reads h from ext; consumerGroup and clientId are required.
func (h *ConsumerRunningInfoRequest) DecodeFields(ext ExtFields) error {
	*h = ConsumerRunningInfoRequest{}
	d := fieldDecoder{header: "GetConsumerRunningInfoRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "clientId":
			h.ClientID = d.str(1, f)
		case "jstackEnable":
			h.JstackEnable = d.bool(2, f)
		}
	}
	return d.finish(1<<2-1, consumerRunningInfoKeys[:])
}

// ConsumerStatusRequest is the header of GET_CONSUMER_STATUS_FROM_CLIENT (221), Java's
// GetConsumerStatusRequestHeader: the broker asks a client for its offsets of one topic;
// the client answers with a ConsumerStatusBody.
type ConsumerStatusRequest struct {
	Topic      string
	Group      string
	ClientAddr string // nullable
}

var consumerStatusKeys = [...]string{"topic", "group", "clientAddr"}

// EncodeFields writes the fields in declaration order, skipping an empty clientAddr.
func (h *ConsumerStatusRequest) EncodeFields(w *FieldWriter) {
	w.String("topic", h.Topic)
	w.String("group", h.Group)
	if h.ClientAddr != "" {
		w.String("clientAddr", h.ClientAddr)
	}
}

// DecodeFields reads h from ext; topic and group are required.
func (h *ConsumerStatusRequest) DecodeFields(ext ExtFields) error {
	*h = ConsumerStatusRequest{}
	d := fieldDecoder{header: "GetConsumerStatusRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "topic":
			h.Topic = d.str(0, f)
		case "group":
			h.Group = d.str(1, f)
		case "clientAddr":
			h.ClientAddr = d.str(2, f)
		}
	}
	return d.finish(1<<2-1, consumerStatusKeys[:])
}

// ConsumeMessageDirectlyRequest is the header of CONSUME_MESSAGE_DIRECTLY (309), Java's
// ConsumeMessageDirectlyResultRequestHeader: an admin has a client consume one message
// (the body, a stored message) and report a ConsumeMessageDirectlyResult.
type ConsumeMessageDirectlyRequest struct {
	ConsumerGroup string
	ClientID      string // nullable
	MsgID         string // nullable
	BrokerName    string // nullable
}

var consumeDirectlyKeys = [...]string{"consumerGroup", "clientId", "msgId", "brokerName"}

// EncodeFields writes the fields in declaration order, skipping empty nullable ones.
func (h *ConsumeMessageDirectlyRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	if h.ClientID != "" {
		w.String("clientId", h.ClientID)
	}
	if h.MsgID != "" {
		w.String("msgId", h.MsgID)
	}
	if h.BrokerName != "" {
		w.String("brokerName", h.BrokerName)
	}
}

// DecodeFields reads h from ext; consumerGroup is required.
func (h *ConsumeMessageDirectlyRequest) DecodeFields(ext ExtFields) error {
	*h = ConsumeMessageDirectlyRequest{}
	d := fieldDecoder{header: "ConsumeMessageDirectlyResultRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "clientId":
			h.ClientID = d.str(1, f)
		case "msgId":
			h.MsgID = d.str(2, f)
		case "brokerName":
			h.BrokerName = d.str(3, f)
		}
	}
	return d.finish(1, consumeDirectlyKeys[:])
}

// ResetOffsetRequest is the header of RESET_CONSUMER_CLIENT_OFFSET (220), Java's
// ResetOffsetRequestHeader: the broker tells a client to move its offsets to those of a
// ResetOffsetBody (computed from Timestamp).
type ResetOffsetRequest struct {
	Topic     string
	Group     string
	Timestamp int64
	IsForce   bool // the wire name is isForce: Java's field is named so
}

var resetOffsetKeys = [...]string{"topic", "group", "timestamp", "isForce"}

// EncodeFields writes the fields in declaration order.
func (h *ResetOffsetRequest) EncodeFields(w *FieldWriter) {
	w.String("topic", h.Topic)
	w.String("group", h.Group)
	w.Int("timestamp", h.Timestamp)
	w.Bool("isForce", h.IsForce)
}

// DecodeFields reads h from ext; all fields are required.
func (h *ResetOffsetRequest) DecodeFields(ext ExtFields) error {
	*h = ResetOffsetRequest{}
	d := fieldDecoder{header: "ResetOffsetRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "topic":
			h.Topic = d.str(0, f)
		case "group":
			h.Group = d.str(1, f)
		case "timestamp":
			h.Timestamp = d.int64(2, f)
		case "isForce":
			h.IsForce = d.bool(3, f)
		}
	}
	return d.finish(1<<4-1, resetOffsetKeys[:])
}

// ConsumerSendMsgBackRequest is the header of CONSUMER_SEND_MSG_BACK (36), Java's
// ConsumerSendMsgBackRequestHeader: a consumer hands a message it failed to consume back
// to the broker, which stores it in the retry topic (or the DLQ) with a delay.
type ConsumerSendMsgBackRequest struct {
	Offset      int64 // commit log offset of the message
	Group       string
	DelayLevel  int32 // 0: the broker picks 3 + reconsume times; -1: straight to the DLQ
	OriginMsgID string
	OriginTopic string
	UnitMode    bool
	// MaxReconsumeTimes overrides the group's configured maximum when present.
	MaxReconsumeTimes Optional[int32]
}

var sendBackKeys = [...]string{"offset", "group", "delayLevel", "originMsgId", "originTopic",
	"unitMode", "maxReconsumeTimes"}

// EncodeFields writes the fields in declaration order, skipping null ones.
func (h *ConsumerSendMsgBackRequest) EncodeFields(w *FieldWriter) {
	w.Int("offset", h.Offset)
	w.String("group", h.Group)
	w.Int("delayLevel", int64(h.DelayLevel))
	if h.OriginMsgID != "" {
		w.String("originMsgId", h.OriginMsgID)
	}
	if h.OriginTopic != "" {
		w.String("originTopic", h.OriginTopic)
	}
	w.Bool("unitMode", h.UnitMode)
	if v, ok := h.MaxReconsumeTimes.Get(); ok {
		w.Int("maxReconsumeTimes", int64(v))
	}
}

// DecodeFields reads h from ext; offset, group and delayLevel are required.
func (h *ConsumerSendMsgBackRequest) DecodeFields(ext ExtFields) error {
	*h = ConsumerSendMsgBackRequest{}
	d := fieldDecoder{header: "ConsumerSendMsgBackRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "offset":
			h.Offset = d.int64(0, f)
		case "group":
			h.Group = d.str(1, f)
		case "delayLevel":
			h.DelayLevel = d.int32(2, f)
		case "originMsgId":
			h.OriginMsgID = d.str(3, f)
		case "originTopic":
			h.OriginTopic = d.str(4, f)
		case "unitMode":
			h.UnitMode = d.bool(5, f)
		case "maxReconsumeTimes":
			h.MaxReconsumeTimes = d.optInt32(6, f)
		}
	}
	return d.finish(1<<3-1, sendBackKeys[:])
}
