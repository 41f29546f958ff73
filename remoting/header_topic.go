package remoting

import "strconv"

// CreateTopicRequest is the header of UPDATE_AND_CREATE_TOPIC (17), Java's
// CreateTopicRequestHeader: an admin creating or changing a topic on a broker.
type CreateTopicRequest struct {
	Topic           string
	DefaultTopic    string
	ReadQueueNums   int32
	WriteQueueNums  int32
	Perm            int32  // 2 write, 4 read, 1 inherit
	TopicFilterType string // "SINGLE_TAG" or "MULTI_TAG"
	TopicSysFlag    Optional[int32]
	Order           bool
}

var createTopicKeys = [...]string{"topic", "defaultTopic", "readQueueNums", "writeQueueNums",
	"perm", "topicFilterType", "topicSysFlag", "order"}

// EncodeFields writes the fields in declaration order, skipping a null topicSysFlag.
func (h *CreateTopicRequest) EncodeFields(w *FieldWriter) {
	w.String("topic", h.Topic)
	w.String("defaultTopic", h.DefaultTopic)
	w.Int("readQueueNums", int64(h.ReadQueueNums))
	w.Int("writeQueueNums", int64(h.WriteQueueNums))
	w.Int("perm", int64(h.Perm))
	w.String("topicFilterType", h.TopicFilterType)
	if v, ok := h.TopicSysFlag.Get(); ok {
		w.Int("topicSysFlag", int64(v))
	}
	w.Bool("order", h.Order)
}

// DecodeFields reads h from ext. As Java's checkFields, it refuses a topicFilterType that
// is not a TopicFilterType name.
func (h *CreateTopicRequest) DecodeFields(ext ExtFields) error {
	*h = CreateTopicRequest{}
	d := fieldDecoder{header: "CreateTopicRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "topic":
			h.Topic = d.str(0, f)
		case "defaultTopic":
			h.DefaultTopic = d.str(1, f)
		case "readQueueNums":
			h.ReadQueueNums = d.int32(2, f)
		case "writeQueueNums":
			h.WriteQueueNums = d.int32(3, f)
		case "perm":
			h.Perm = d.int32(4, f)
		case "topicFilterType":
			h.TopicFilterType = d.str(5, f)
		case "topicSysFlag":
			h.TopicSysFlag = d.optInt32(6, f)
		case "order":
			h.Order = d.bool(7, f)
		}
	}
	// All but topicSysFlag (bit 6) are @CFNotNull.
	if err := d.finish(0xFF&^(1<<6), createTopicKeys[:]); err != nil {
		return err
	}
	if h.TopicFilterType != "SINGLE_TAG" && h.TopicFilterType != "MULTI_TAG" {
		return &HeaderError{Header: d.header, Field: "topicFilterType",
			Reason: strconv.Quote(h.TopicFilterType) + " is not SINGLE_TAG or MULTI_TAG"}
	}
	return nil
}
