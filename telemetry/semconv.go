package telemetry

import (
	"math/bits"
	"strings"

	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/attribute"
)

// Conventions says which messaging semantic conventions spans follow: the v1.24 names
// (Old), the current ones (Current) or both (Dup), chosen by OTEL_SEMCONV_STABILITY_OPT_IN
// as the conventions describe (see ParseStabilityOptIn).
type Conventions uint8

const (
	Old     Conventions = 1 << iota // v1.24: messaging.operation, messaging.rocketmq.*
	Current                         // current: messaging.operation.type/.name, rocketmq.*
	Dup     = Old | Current
)

// ParseStabilityOptIn reads OTEL_SEMCONV_STABILITY_OPT_IN, a comma-separated list of
// categories: "messaging/dup" gives Dup, else "messaging" gives Current, else Old.
func ParseStabilityOptIn(v string) Conventions {
	c := Old
	for f := range strings.SplitSeq(v, ",") {
		switch strings.TrimSpace(f) {
		case "messaging/dup":
			return Dup
		case "messaging":
			c = Current
		}
	}
	return c
}

func (c Conventions) String() string {
	switch c {
	case Current:
		return "messaging"
	case Dup:
		return "messaging/dup"
	}
	return "v1.24"
}

// Attribute keys of the messaging conventions (both sets) and of mqgate's own.
const (
	KeyMessagingSystem      = attribute.Key("messaging.system")
	KeyDestinationName      = attribute.Key("messaging.destination.name")
	KeyMessageID            = attribute.Key("messaging.message.id")
	KeyBatchMessageCount    = attribute.Key("messaging.batch.message_count")
	KeyClientID             = attribute.Key("messaging.client.id")
	KeyErrorType            = attribute.Key("error.type")
	KeyServerAddress        = attribute.Key("server.address")
	KeyServerPort           = attribute.Key("server.port")
	KeyConsumerGroupName    = attribute.Key("messaging.consumer.group.name") // current
	KeyOperationType        = attribute.Key("messaging.operation.type")      // current
	KeyOperationName        = attribute.Key("messaging.operation.name")      // current
	KeyOperationV124        = attribute.Key("messaging.operation")           // v1.24
	KeyClientGroupV124      = attribute.Key("messaging.rocketmq.client_group")
	KeyTagV124              = attribute.Key("messaging.rocketmq.message.tag")
	KeyKeysV124             = attribute.Key("messaging.rocketmq.message.keys")
	KeyMessageTypeV124      = attribute.Key("messaging.rocketmq.message.type")
	KeyConsumptionModelV124 = attribute.Key("messaging.rocketmq.consumption_model")
	KeyNamespaceV124        = attribute.Key("messaging.rocketmq.namespace")
	KeyDeliveryTimeV124     = attribute.Key("messaging.rocketmq.message.delivery_timestamp")
	KeyDelayLevelV124       = attribute.Key("messaging.rocketmq.message.delay_time_level")
	KeyMessageGroupV124     = attribute.Key("messaging.rocketmq.message.group")
	KeyTag                  = attribute.Key("rocketmq.message.tag")
	KeyKeys                 = attribute.Key("rocketmq.message.keys")
	KeyMessageType          = attribute.Key("rocketmq.message.type")
	KeyConsumptionModel     = attribute.Key("rocketmq.consumption_model")
	KeyNamespace            = attribute.Key("rocketmq.namespace")
	KeyDeliveryTime         = attribute.Key("rocketmq.message.delivery_timestamp")
	KeyDelayLevel           = attribute.Key("rocketmq.message.delay_time_level")
	KeyMessageGroup         = attribute.Key("rocketmq.message.group")

	// mqgate's own: no convention names these.
	KeyProducerGroup   = attribute.Key("mqgate.producer.group") // current set: client_group has no producer-side successor
	KeyReconsumeTimes  = attribute.Key("mqgate.message.reconsume_times")
	KeyQueueID         = attribute.Key("mqgate.queue.id")
	KeyBrokerName      = attribute.Key("mqgate.broker.name")
	KeyRequestCode     = attribute.Key("mqgate.remoting.request")
	KeyResponseCode    = attribute.Key("mqgate.remoting.response_code")
	KeyPluginName      = attribute.Key("mqgate.plugin.name")
	KeyPluginVersion   = attribute.Key("mqgate.plugin.version")
	KeyPluginSlot      = attribute.Key("mqgate.plugin.slot")
	KeyPluginOutcome   = attribute.Key("mqgate.plugin.outcome")
	KeyConsumerGroupMQ = attribute.Key("mqgate.consumer.group") // metrics of consumer state
)

// SystemRocketMQ is messaging.system=rocketmq.
var SystemRocketMQ = KeyMessagingSystem.String("rocketmq")

// Operation is a messaging operation.
type Operation uint8

const (
	Publish Operation = iota
	Receive
	Process
)

// v1.24 names the operations publish, receive, process; the current conventions send,
// receive, process (publish is deprecated there, replaced by send).
var (
	opV124    = [...]string{"publish", "receive", "process"}
	opCurrent = [...]string{"send", "receive", "process"}
)

// OperationName is the operation's name in the current conventions, as metrics carry it.
func (o Operation) OperationName() string { return opCurrent[o] }

// SpanName is the span's name for operation o on topic: "<topic> publish" (v1.24, also
// for Dup) or "send <topic>" (current).
func (c Conventions) SpanName(o Operation, topic string) string {
	if c&Old != 0 {
		return topic + " " + opV124[o]
	}
	return opCurrent[o] + " " + topic
}

// Operation appends the operation's attributes.
func (c Conventions) Operation(kv []attribute.KeyValue, o Operation) []attribute.KeyValue {
	if c&Old != 0 {
		kv = append(kv, KeyOperationV124.String(opV124[o]))
	}
	if c&Current != 0 {
		kv = append(kv, KeyOperationType.String(opCurrent[o]), KeyOperationName.String(opCurrent[o]))
	}
	return kv
}

// Width is the number of attributes a value the conventions name takes: one, or two
// under Dup.
func (c Conventions) Width() int { return bits.OnesCount8(uint8(c & Dup)) }

// pick appends value under the old key, the current key or both.
func (c Conventions) pick(kv []attribute.KeyValue, old, cur attribute.Key, v attribute.Value) []attribute.KeyValue {
	if c&Old != 0 {
		kv = append(kv, attribute.KeyValue{Key: old, Value: v})
	}
	if c&Current != 0 {
		kv = append(kv, attribute.KeyValue{Key: cur, Value: v})
	}
	return kv
}

// ProducerGroup appends the producer group: messaging.rocketmq.client_group (v1.24),
// mqgate.producer.group (current, which gives producers no group attribute).
func (c Conventions) ProducerGroup(kv []attribute.KeyValue, g string) []attribute.KeyValue {
	return c.pick(kv, KeyClientGroupV124, KeyProducerGroup, attribute.StringValue(g))
}

// ConsumerGroup appends the consumer group: messaging.rocketmq.client_group (v1.24),
// messaging.consumer.group.name (current).
func (c Conventions) ConsumerGroup(kv []attribute.KeyValue, g string) []attribute.KeyValue {
	return c.pick(kv, KeyClientGroupV124, KeyConsumerGroupName, attribute.StringValue(g))
}

// Tag appends the message's tag, when it has one.
func (c Conventions) Tag(kv []attribute.KeyValue, tag string) []attribute.KeyValue {
	if tag == "" {
		return kv
	}
	return c.pick(kv, KeyTagV124, KeyTag, attribute.StringValue(tag))
}

// Keys appends the message's keys (the KEYS property, space-separated), when it has some.
func (c Conventions) Keys(kv []attribute.KeyValue, keys string) []attribute.KeyValue {
	if keys == "" {
		return kv
	}
	return c.pick(kv, KeyKeysV124, KeyKeys, attribute.StringSliceValue(message.SplitKeys(keys)))
}

// Message types of rocketmq.message.type.
const (
	TypeNormal      = "normal"
	TypeFIFO        = "fifo"
	TypeDelay       = "delay"
	TypeTransaction = "transaction"
)

// MessageType appends the message type (normal, fifo, delay, transaction).
func (c Conventions) MessageType(kv []attribute.KeyValue, t string) []attribute.KeyValue {
	return c.pick(kv, KeyMessageTypeV124, KeyMessageType, attribute.StringValue(t))
}

// ConsumptionModel appends the consumption model, "clustering" or "broadcasting" (the
// conventions' lower case of Java's CLUSTERING, BROADCASTING).
func (c Conventions) ConsumptionModel(kv []attribute.KeyValue, model string) []attribute.KeyValue {
	return c.pick(kv, KeyConsumptionModelV124, KeyConsumptionModel, attribute.StringValue(strings.ToLower(model)))
}

// Namespace appends the RocketMQ namespace, when there is one.
func (c Conventions) Namespace(kv []attribute.KeyValue, ns string) []attribute.KeyValue {
	if ns == "" {
		return kv
	}
	return c.pick(kv, KeyNamespaceV124, KeyNamespace, attribute.StringValue(ns))
}

// DelayLevel appends the delay level of a delay message.
func (c Conventions) DelayLevel(kv []attribute.KeyValue, level int) []attribute.KeyValue {
	return c.pick(kv, KeyDelayLevelV124, KeyDelayLevel, attribute.IntValue(level))
}

// DeliveryTimestamp appends when a delay message is due, in Unix milliseconds.
func (c Conventions) DeliveryTimestamp(kv []attribute.KeyValue, ms int64) []attribute.KeyValue {
	return c.pick(kv, KeyDeliveryTimeV124, KeyDeliveryTime, attribute.Int64Value(ms))
}

// MessageGroup appends the message group (sharding key) of a FIFO message.
func (c Conventions) MessageGroup(kv []attribute.KeyValue, g string) []attribute.KeyValue {
	if g == "" {
		return kv
	}
	return c.pick(kv, KeyMessageGroupV124, KeyMessageGroup, attribute.StringValue(g))
}
