package remoting

// The headers of the admin requests a platform team makes without mqadmin: consumer
// progress and the topics of a cluster. UPDATE_AND_CREATE_TOPIC is CreateTopicRequest
// (header_topic.go), INVOKE_BROKER_TO_RESET_OFFSET is ResetOffsetRequest
// (header_consumer.go), the same header Java uses for both directions.

// ConsumeStatsRequest is the header of GET_CONSUME_STATS (208), Java's
// GetConsumeStatsRequestHeader: a group's progress on one broker, for one topic or, when
// Topic is empty (Java's null), every topic the group has offsets or a subscription for.
// The answer is a ConsumeStats body.
type ConsumeStatsRequest struct {
	ConsumerGroup string
	Topic         string // "" is null: not written
}

var consumeStatsKeys = [...]string{"consumerGroup", "topic"}

// EncodeFields writes the fields in declaration order, skipping a null topic.
func (h *ConsumeStatsRequest) EncodeFields(w *FieldWriter) {
	w.String("consumerGroup", h.ConsumerGroup)
	if h.Topic != "" {
		w.String("topic", h.Topic)
	}
}

// DecodeFields reads h from ext; consumerGroup is required.
func (h *ConsumeStatsRequest) DecodeFields(ext ExtFields) error {
	*h = ConsumeStatsRequest{}
	d := fieldDecoder{header: "GetConsumeStatsRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "consumerGroup":
			h.ConsumerGroup = d.str(0, f)
		case "topic":
			h.Topic = d.str(1, f)
		}
	}
	return d.finish(1, consumeStatsKeys[:])
}

// TopicsByClusterRequest is the header of GET_TOPICS_BY_CLUSTER (224), Java's
// GetTopicsByClusterRequestHeader; a NameServer answers with a TopicList body.
type TopicsByClusterRequest struct {
	Cluster string
}

var topicsByClusterKeys = [...]string{"cluster"}

// EncodeFields writes cluster.
func (h *TopicsByClusterRequest) EncodeFields(w *FieldWriter) { w.String("cluster", h.Cluster) }

// DecodeFields reads h from ext; cluster is required.
func (h *TopicsByClusterRequest) DecodeFields(ext ExtFields) error {
	*h = TopicsByClusterRequest{}
	d := fieldDecoder{header: "GetTopicsByClusterRequestHeader"}
	for i := range ext {
		if ext[i].Key == "cluster" {
			h.Cluster = d.str(0, &ext[i])
		}
	}
	return d.finish(1, topicsByClusterKeys[:])
}
