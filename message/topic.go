package message

import "strings"

// Topic and group names the Java client and broker reserve (TopicValidator and MixAll in
// 4.9.4).
const (
	// AutoCreateTopicKey is the template topic a broker with autoCreateTopicEnable creates
	// new topics from.
	AutoCreateTopicKey             = "TBW102"
	SystemTopicSchedule            = "SCHEDULE_TOPIC_XXXX"
	SystemTopicBenchmark           = "BenchmarkTest"
	SystemTopicTransactionHalf     = "RMQ_SYS_TRANS_HALF_TOPIC"
	SystemTopicTrace               = "RMQ_SYS_TRACE_TOPIC"
	SystemTopicTransactionOpHalf   = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	SystemTopicTransactionCheckMax = "TRANS_CHECK_MAX_TIME_TOPIC"
	SystemTopicSelfTest            = "SELF_TEST_TOPIC"
	SystemTopicOffsetMovedEvent    = "OFFSET_MOVED_EVENT"
	SystemTopicPrefix              = "rmq_sys_"
	RetryTopicPrefix               = "%RETRY%"
	DLQTopicPrefix                 = "%DLQ%"
	DefaultProducerGroup           = "DEFAULT_PRODUCER"
	DefaultConsumerGroup           = "DEFAULT_CONSUMER"
	ClientInnerProducerGroup       = "CLIENT_INNER_PRODUCER"
	SystemTransactionCheckGroup    = "CID_RMQ_SYS_TRANS"
	SystemConsumerGroupPrefix      = "CID_RMQ_SYS_"
	MaxTopicLength                 = 127
	MaxGroupLength                 = 255
)

// IsSystemTopic reports whether the broker treats topic as a system topic: one of
// TopicValidator's system topics or a name starting with "rmq_sys_".
func IsSystemTopic(topic string) bool {
	switch topic {
	case AutoCreateTopicKey, SystemTopicSchedule, SystemTopicBenchmark, SystemTopicTransactionHalf,
		SystemTopicTrace, SystemTopicTransactionOpHalf, SystemTopicTransactionCheckMax,
		SystemTopicSelfTest, SystemTopicOffsetMovedEvent:
		return true
	}
	return strings.HasPrefix(topic, SystemTopicPrefix)
}

// IsNotAllowedSendTopic reports whether a client may not send to topic: the schedule,
// transaction, self-test and offset-moved topics. (TBW102 and the trace topic are system
// topics a client may send to.)
func IsNotAllowedSendTopic(topic string) bool {
	switch topic {
	case SystemTopicSchedule, SystemTopicTransactionHalf, SystemTopicTransactionOpHalf,
		SystemTopicTransactionCheckMax, SystemTopicSelfTest, SystemTopicOffsetMovedEvent:
		return true
	}
	return false
}

// RetryTopic returns the retry topic of a consumer group.
func RetryTopic(group string) string { return RetryTopicPrefix + group }

// DLQTopic returns the dead letter topic of a consumer group.
func DLQTopic(group string) string { return DLQTopicPrefix + group }
