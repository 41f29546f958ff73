package remoting

// SendRequest is the header of SEND_MESSAGE (10), Java's SendMessageRequestHeader, with
// long field names. Java clients send SendRequestV2 instead; rocketmq-client-go sends this
// one for single messages. The two carry the same fields and convert for free with V1 and
// V2.
type SendRequest struct {
	ProducerGroup         string
	Topic                 string
	DefaultTopic          string // the topic a new topic is created from, "TBW102"
	DefaultTopicQueueNums int32
	QueueID               int32
	SysFlag               int32
	BornTimestamp         int64 // milliseconds since the epoch
	Flag                  int32
	Properties            string // message properties, name 0x01 value pairs joined by 0x02
	ReconsumeTimes        int32
	UnitMode              bool
	// MaxReconsumeTimes is set on sends to a retry topic only; the Java client leaves it
	// null otherwise.
	MaxReconsumeTimes Optional[int32]
	Batch             bool
}

var sendRequestKeys = [...]string{"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums",
	"queueId", "sysFlag", "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode",
	"batch", "maxReconsumeTimes"}

// The @CFNotNull fields of both send headers: producerGroup through flag.
const sendRequestRequired = 1<<8 - 1

// V2 returns h as the one-letter-named header, sharing its memory.
func (h *SendRequest) V2() *SendRequestV2 { return (*SendRequestV2)(h) }

// EncodeFields writes the fields in SendMessageRequestHeader's declaration order.
func (h *SendRequest) EncodeFields(w *FieldWriter) {
	w.String("producerGroup", h.ProducerGroup)
	w.String("topic", h.Topic)
	w.String("defaultTopic", h.DefaultTopic)
	w.Int("defaultTopicQueueNums", int64(h.DefaultTopicQueueNums))
	w.Int("queueId", int64(h.QueueID))
	w.Int("sysFlag", int64(h.SysFlag))
	w.Int("bornTimestamp", h.BornTimestamp)
	w.Int("flag", int64(h.Flag))
	w.String("properties", h.Properties)
	w.Int("reconsumeTimes", int64(h.ReconsumeTimes))
	w.Bool("unitMode", h.UnitMode)
	w.Bool("batch", h.Batch)
	if v, ok := h.MaxReconsumeTimes.Get(); ok {
		w.Int("maxReconsumeTimes", int64(v))
	}
}

// DecodeFields reads h from ext; unknown keys are ignored.
func (h *SendRequest) DecodeFields(ext ExtFields) error {
	*h = SendRequest{}
	d := fieldDecoder{header: "SendMessageRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "producerGroup":
			h.ProducerGroup = d.str(0, f)
		case "topic":
			h.Topic = d.str(1, f)
		case "defaultTopic":
			h.DefaultTopic = d.str(2, f)
		case "defaultTopicQueueNums":
			h.DefaultTopicQueueNums = d.int32(3, f)
		case "queueId":
			h.QueueID = d.int32(4, f)
		case "sysFlag":
			h.SysFlag = d.int32(5, f)
		case "bornTimestamp":
			h.BornTimestamp = d.int64(6, f)
		case "flag":
			h.Flag = d.int32(7, f)
		case "properties":
			h.Properties = d.str(8, f)
		case "reconsumeTimes":
			h.ReconsumeTimes = d.int32(9, f)
		case "unitMode":
			h.UnitMode = d.bool(10, f)
		case "batch":
			h.Batch = d.bool(11, f)
		case "maxReconsumeTimes":
			h.MaxReconsumeTimes = d.optInt32(12, f)
		}
	}
	return d.finish(sendRequestRequired, sendRequestKeys[:])
}

// SendRequestV2 is the header of SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320, with
// Batch set), Java's SendMessageRequestHeaderV2: SendRequest's fields under the names
// a..m, which keeps the most frequent request small. Java encodes it itself
// (FastCodesHeader), so in a ROCKETMQ header its fields come first, a to m.
type SendRequestV2 SendRequest

var sendRequestV2Keys = [...]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}

// V1 returns h as the long-named header, sharing its memory.
func (h *SendRequestV2) V1() *SendRequest { return (*SendRequest)(h) }

func (*SendRequestV2) declaredOrder() {}

// EncodeFields writes a to m, skipping a null l (maxReconsumeTimes).
func (h *SendRequestV2) EncodeFields(w *FieldWriter) {
	w.String("a", h.ProducerGroup)
	w.String("b", h.Topic)
	w.String("c", h.DefaultTopic)
	w.Int("d", int64(h.DefaultTopicQueueNums))
	w.Int("e", int64(h.QueueID))
	w.Int("f", int64(h.SysFlag))
	w.Int("g", h.BornTimestamp)
	w.Int("h", int64(h.Flag))
	w.String("i", h.Properties)
	w.Int("j", int64(h.ReconsumeTimes))
	w.Bool("k", h.UnitMode)
	if v, ok := h.MaxReconsumeTimes.Get(); ok {
		w.Int("l", int64(v))
	}
	w.Bool("m", h.Batch)
}

// DecodeFields reads h from ext; unknown keys are ignored.
func (h *SendRequestV2) DecodeFields(ext ExtFields) error {
	*h = SendRequestV2{}
	d := fieldDecoder{header: "SendMessageRequestHeaderV2"}
	for i := range ext {
		f := &ext[i]
		if len(f.Key) != 1 {
			continue
		}
		switch f.Key[0] {
		case 'a':
			h.ProducerGroup = d.str(0, f)
		case 'b':
			h.Topic = d.str(1, f)
		case 'c':
			h.DefaultTopic = d.str(2, f)
		case 'd':
			h.DefaultTopicQueueNums = d.int32(3, f)
		case 'e':
			h.QueueID = d.int32(4, f)
		case 'f':
			h.SysFlag = d.int32(5, f)
		case 'g':
			h.BornTimestamp = d.int64(6, f)
		case 'h':
			h.Flag = d.int32(7, f)
		case 'i':
			h.Properties = d.str(8, f)
		case 'j':
			h.ReconsumeTimes = d.int32(9, f)
		case 'k':
			h.UnitMode = d.bool(10, f)
		case 'l':
			h.MaxReconsumeTimes = d.optInt32(11, f)
		case 'm':
			h.Batch = d.bool(12, f)
		}
	}
	return d.finish(sendRequestRequired, sendRequestV2Keys[:])
}

// SendResponse is the header of a successful answer to SEND_MESSAGE, SEND_MESSAGE_V2 and
// SEND_BATCH_MESSAGE: Java's SendMessageResponseHeader plus the two extFields the broker
// adds beside it (MSG_REGION, TRACE_ON). Java encodes the header itself (FastCodesHeader).
type SendResponse struct {
	// MsgID is the offset message id; a batch answers with the ids of all its messages
	// joined by commas.
	MsgID       string
	QueueID     int32
	QueueOffset int64
	// TransactionID is null except for transactional sends.
	TransactionID string
	// Region is the broker's region (MSG_REGION), written when not empty.
	Region string
	// TraceOn is the broker's trace switch (TRACE_ON) as sent, "true" or "false", written
	// when not empty. The Java client takes anything but "false", absence included, as on.
	TraceOn string
}

var sendResponseKeys = [...]string{"msgId", "queueId", "queueOffset", "transactionId", "MSG_REGION", "TRACE_ON"}

func (*SendResponse) declaredOrder() {}

// EncodeFields writes the header's fields in declaration order, then TRACE_ON and
// MSG_REGION in the order Java's HashMap iterates the two of them.
func (h *SendResponse) EncodeFields(w *FieldWriter) {
	w.String("msgId", h.MsgID)
	w.Int("queueId", int64(h.QueueID))
	w.Int("queueOffset", h.QueueOffset)
	if h.TransactionID != "" {
		w.String("transactionId", h.TransactionID)
	}
	if h.TraceOn != "" {
		w.String("TRACE_ON", h.TraceOn)
	}
	if h.Region != "" {
		w.String("MSG_REGION", h.Region)
	}
}

// DecodeFields reads h from ext; unknown keys are ignored.
func (h *SendResponse) DecodeFields(ext ExtFields) error {
	*h = SendResponse{}
	d := fieldDecoder{header: "SendMessageResponseHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "msgId":
			h.MsgID = d.str(0, f)
		case "queueId":
			h.QueueID = d.int32(1, f)
		case "queueOffset":
			h.QueueOffset = d.int64(2, f)
		case "transactionId":
			h.TransactionID = d.str(3, f)
		case "MSG_REGION":
			h.Region = d.str(4, f)
		case "TRACE_ON":
			h.TraceOn = d.str(5, f)
		}
	}
	return d.finish(1<<3-1, sendResponseKeys[:])
}
