package remoting

// Bits of PullRequest.SysFlag, Java's PullSysFlag.
const (
	PullFlagCommitOffset int32 = 1 << 0 // commitOffset carries the consumer's offset to store
	PullFlagSuspend      int32 = 1 << 1 // the broker may hold the request until messages arrive
	PullFlagSubscription int32 = 1 << 2 // subscription carries the filter expression
	PullFlagClassFilter  int32 = 1 << 3
	PullFlagLitePull     int32 = 1 << 4
)

// PullRequest is the header of PULL_MESSAGE (11), Java's PullMessageRequestHeader. Java
// encodes it itself (FastCodesHeader), so in a ROCKETMQ header its fields come first.
type PullRequest struct {
	ConsumerGroup string
	Topic         string
	QueueID       int32
	QueueOffset   int64
	MaxMsgNums    int32
	SysFlag       int32 // PullFlag* bits
	CommitOffset  int64
	// SuspendTimeoutMillis is how long the broker may hold the request (long polling).
	SuspendTimeoutMillis int64
	// Subscription is the filter expression, sent when SysFlag has PullFlagSubscription;
	// the push consumer leaves it null and the broker uses the heartbeat's subscription.
	Subscription string
	SubVersion   int64
	// ExpressionType is "TAG" or "SQL92"; null means TAG.
	ExpressionType string
}

var pullRequestKeys = [...]string{"consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums",
	"sysFlag", "commitOffset", "suspendTimeoutMillis", "subscription", "subVersion", "expressionType"}

// All but subscription (bit 8) and expressionType (bit 10) are @CFNotNull.
const pullRequestRequired = (1<<11 - 1) &^ (1<<8 | 1<<10)

func (*PullRequest) declaredOrder() {}

// EncodeFields writes the fields in declaration order, skipping empty optional strings.
func (h *PullRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	w.String("topic", h.Topic)
	w.Int("queueId", int64(h.QueueID))
	w.Int("queueOffset", h.QueueOffset)
	w.Int("maxMsgNums", int64(h.MaxMsgNums))
	w.Int("sysFlag", int64(h.SysFlag))
	w.Int("commitOffset", h.CommitOffset)
	w.Int("suspendTimeoutMillis", h.SuspendTimeoutMillis)
	if h.Subscription != "" {
		w.String("subscription", h.Subscription)
	}
	w.Int("subVersion", h.SubVersion)
	if h.ExpressionType != "" {
		w.String("expressionType", h.ExpressionType)
	}
}

// DecodeFields reads h from ext; unknown keys (ReqT, AccessKey, ...) are ignored.
func (h *PullRequest) DecodeFields(ext ExtFields) error {
	*h = PullRequest{}
	d := fieldDecoder{header: "PullMessageRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "topic":
			h.Topic = d.str(1, f)
		case "queueId":
			h.QueueID = d.int32(2, f)
		case "queueOffset":
			h.QueueOffset = d.int64(3, f)
		case "maxMsgNums":
			h.MaxMsgNums = d.int32(4, f)
		case "sysFlag":
			h.SysFlag = d.int32(5, f)
		case "commitOffset":
			h.CommitOffset = d.int64(6, f)
		case "suspendTimeoutMillis":
			h.SuspendTimeoutMillis = d.int64(7, f)
		case "subscription":
			h.Subscription = d.str(8, f)
		case "subVersion":
			h.SubVersion = d.int64(9, f)
		case "expressionType":
			h.ExpressionType = d.str(10, f)
		}
	}
	return d.finish(pullRequestRequired, pullRequestKeys[:])
}

// PullResponse is the header of an answer to PULL_MESSAGE with offsets (FOUND,
// NO_NEW_MSG, NO_MATCHED_MSG, OFFSET_ILLEGAL), Java's PullMessageResponseHeader; Java
// encodes it itself (FastCodesHeader). Other error answers carry the header class with
// every field null, which Java writes as "extFields":{}: send those with EmptyHeader.
type PullResponse struct {
	SuggestWhichBrokerID int64 // the broker (0 master, else a slave) to pull from next
	NextBeginOffset      int64
	MinOffset            int64
	MaxOffset            int64
}

var pullResponseKeys = [...]string{"suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"}

func (*PullResponse) declaredOrder() {}

// EncodeFields writes the fields in declaration order.
func (h *PullResponse) EncodeFields(w *FieldWriter) {
	w.Int("suggestWhichBrokerId", h.SuggestWhichBrokerID)
	w.Int("nextBeginOffset", h.NextBeginOffset)
	w.Int("minOffset", h.MinOffset)
	w.Int("maxOffset", h.MaxOffset)
}

// DecodeFields reads h from ext; all four fields are required.
func (h *PullResponse) DecodeFields(ext ExtFields) error {
	*h = PullResponse{}
	d := fieldDecoder{header: "PullMessageResponseHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "suggestWhichBrokerId":
			h.SuggestWhichBrokerID = d.int64(0, f)
		case "nextBeginOffset":
			h.NextBeginOffset = d.int64(1, f)
		case "minOffset":
			h.MinOffset = d.int64(2, f)
		case "maxOffset":
			h.MaxOffset = d.int64(3, f)
		}
	}
	return d.finish(1<<4-1, pullResponseKeys[:])
}
