package remoting

// QueryConsumerOffsetRequest is the header of QUERY_CONSUMER_OFFSET (14), Java's
// QueryConsumerOffsetRequestHeader: the stored offset of a group on one queue.
type QueryConsumerOffsetRequest struct {
	ConsumerGroup string
	Topic         string
	QueueID       int32
}

var queueGroupKeys = [...]string{"consumerGroup", "topic", "queueId", "commitOffset"}

// EncodeFields writes the fields in declaration order.
func (h *QueryConsumerOffsetRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	w.String("topic", h.Topic)
	w.Int("queueId", int64(h.QueueID))
}

// DecodeFields reads h from ext; all fields are required.
func (h *QueryConsumerOffsetRequest) DecodeFields(ext ExtFields) error {
	*h = QueryConsumerOffsetRequest{}
	d := fieldDecoder{header: "QueryConsumerOffsetRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "topic":
			h.Topic = d.str(1, f)
		case "queueId":
			h.QueueID = d.int32(2, f)
		}
	}
	return d.finish(1<<3-1, queueGroupKeys[:])
}

// UpdateConsumerOffsetRequest is the header of UPDATE_CONSUMER_OFFSET (15), Java's
// UpdateConsumerOffsetRequestHeader. Its response header has no fields: EmptyHeader.
type UpdateConsumerOffsetRequest struct {
	ConsumerGroup string
	Topic         string
	QueueID       int32
	CommitOffset  int64
}

// EncodeFields writes the fields in declaration order.
func (h *UpdateConsumerOffsetRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	w.String("topic", h.Topic)
	w.Int("queueId", int64(h.QueueID))
	w.Int("commitOffset", h.CommitOffset)
}

// DecodeFields reads h from ext; all fields are required.
func (h *UpdateConsumerOffsetRequest) DecodeFields(ext ExtFields) error {
	*h = UpdateConsumerOffsetRequest{}
	d := fieldDecoder{header: "UpdateConsumerOffsetRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "topic":
			h.Topic = d.str(1, f)
		case "queueId":
			h.QueueID = d.int32(2, f)
		case "commitOffset":
			h.CommitOffset = d.int64(3, f)
		}
	}
	return d.finish(1<<4-1, queueGroupKeys[:])
}

// MaxOffsetRequest is the header of GET_MAX_OFFSET (30), Java's GetMaxOffsetRequestHeader.
type MaxOffsetRequest struct {
	Topic   string
	QueueID int32
}

// EncodeFields writes the fields in declaration order.
func (h *MaxOffsetRequest) EncodeFields(w *FieldWriter) { encodeTopicQueue(w, h.Topic, h.QueueID) }

// DecodeFields reads h from ext; both fields are required.
func (h *MaxOffsetRequest) DecodeFields(ext ExtFields) error {
	var err error
	h.Topic, h.QueueID, _, err = decodeTopicQueue("GetMaxOffsetRequestHeader", ext, false)
	return err
}

// MinOffsetRequest is the header of GET_MIN_OFFSET (31), Java's GetMinOffsetRequestHeader.
type MinOffsetRequest struct {
	Topic   string
	QueueID int32
}

// EncodeFields writes the fields in declaration order.
func (h *MinOffsetRequest) EncodeFields(w *FieldWriter) { encodeTopicQueue(w, h.Topic, h.QueueID) }

// DecodeFields reads h from ext; both fields are required.
func (h *MinOffsetRequest) DecodeFields(ext ExtFields) error {
	var err error
	h.Topic, h.QueueID, _, err = decodeTopicQueue("GetMinOffsetRequestHeader", ext, false)
	return err
}

// SearchOffsetRequest is the header of SEARCH_OFFSET_BY_TIMESTAMP (29), Java's
// SearchOffsetRequestHeader: the offset of the first message stored at or after Timestamp.
type SearchOffsetRequest struct {
	Topic     string
	QueueID   int32
	Timestamp int64 // milliseconds since the epoch
}

// EncodeFields writes the fields in declaration order.
func (h *SearchOffsetRequest) EncodeFields(w *FieldWriter) {
	encodeTopicQueue(w, h.Topic, h.QueueID)
	w.Int("timestamp", h.Timestamp)
}

// DecodeFields reads h from ext; all fields are required.
func (h *SearchOffsetRequest) DecodeFields(ext ExtFields) error {
	var err error
	h.Topic, h.QueueID, h.Timestamp, err = decodeTopicQueue("SearchOffsetRequestHeader", ext, true)
	return err
}

var topicQueueKeys = [...]string{"topic", "queueId", "timestamp"}

func encodeTopicQueue(w *FieldWriter, topic string, queueID int32) {
	w.String("topic", topic)
	w.Int("queueId", int64(queueID))
}

// decodeTopicQueue reads the topic and queueId shared by the offset requests, and the
// timestamp of SearchOffsetRequestHeader when withTimestamp.
func decodeTopicQueue(header string, ext ExtFields, withTimestamp bool) (topic string, queueID int32, ts int64, err error) {
	d := fieldDecoder{header: header}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "topic":
			topic = d.str(0, f)
		case "queueId":
			queueID = d.int32(1, f)
		case "timestamp":
			if withTimestamp {
				ts = d.int64(2, f)
			}
		}
	}
	required := uint32(1<<2 - 1)
	if withTimestamp {
		required = 1<<3 - 1
	}
	return topic, queueID, ts, d.finish(required, topicQueueKeys[:])
}

// QueryConsumerOffsetResponse is the header of the answer to QUERY_CONSUMER_OFFSET,
// Java's QueryConsumerOffsetResponseHeader. A group without a stored offset gets
// QUERY_NOT_FOUND and no offset.
type QueryConsumerOffsetResponse struct {
	Offset int64
}

// EncodeFields writes offset.
func (h *QueryConsumerOffsetResponse) EncodeFields(w *FieldWriter) { w.Int("offset", h.Offset) }

// DecodeFields reads h from ext; offset is required.
func (h *QueryConsumerOffsetResponse) DecodeFields(ext ExtFields) (err error) {
	h.Offset, err = decodeOffset("QueryConsumerOffsetResponseHeader", ext)
	return err
}

// MaxOffsetResponse is the header of the answer to GET_MAX_OFFSET, Java's
// GetMaxOffsetResponseHeader: the offset after the last message of the queue.
type MaxOffsetResponse struct {
	Offset int64
}

// EncodeFields writes offset.
func (h *MaxOffsetResponse) EncodeFields(w *FieldWriter) { w.Int("offset", h.Offset) }

// DecodeFields reads h from ext; offset is required.
func (h *MaxOffsetResponse) DecodeFields(ext ExtFields) (err error) {
	h.Offset, err = decodeOffset("GetMaxOffsetResponseHeader", ext)
	return err
}

// MinOffsetResponse is the header of the answer to GET_MIN_OFFSET, Java's
// GetMinOffsetResponseHeader.
type MinOffsetResponse struct {
	Offset int64
}

// EncodeFields writes offset.
func (h *MinOffsetResponse) EncodeFields(w *FieldWriter) { w.Int("offset", h.Offset) }

// DecodeFields reads h from ext; offset is required.
func (h *MinOffsetResponse) DecodeFields(ext ExtFields) (err error) {
	h.Offset, err = decodeOffset("GetMinOffsetResponseHeader", ext)
	return err
}

// SearchOffsetResponse is the header of the answer to SEARCH_OFFSET_BY_TIMESTAMP, Java's
// SearchOffsetResponseHeader.
type SearchOffsetResponse struct {
	Offset int64
}

// EncodeFields writes offset.
func (h *SearchOffsetResponse) EncodeFields(w *FieldWriter) { w.Int("offset", h.Offset) }

// DecodeFields reads h from ext; offset is required.
func (h *SearchOffsetResponse) DecodeFields(ext ExtFields) (err error) {
	h.Offset, err = decodeOffset("SearchOffsetResponseHeader", ext)
	return err
}

var offsetKeys = [...]string{"offset"}

func decodeOffset(header string, ext ExtFields) (int64, error) {
	d := fieldDecoder{header: header}
	var off int64
	for i := range ext {
		if ext[i].Key == "offset" {
			off = d.int64(0, &ext[i])
		}
	}
	return off, d.finish(1, offsetKeys[:])
}
