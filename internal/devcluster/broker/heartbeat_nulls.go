package broker

import (
	"encoding/json"
)

// heartbeatFault is where Java's ClientManageProcessor.heartBeat throws on a heartbeat
// that fastjson decoded but that holds a null where the broker dereferences one: a set or
// element given as null, a group, topic or client id left out. Java's sets default to
// empty, its names to null. What was registered before the exception stays registered.
type heartbeatFault struct {
	// consumers is how many consumer groups register fully first; channelOnly says the
	// next one's channel registers too (registerConsumer's updateChannel), without its
	// subscriptions (updateSubscription throws).
	consumers   int
	channelOnly bool
	// producers is how many producer groups register; -1 when the consumers threw.
	producers int
	remark    string
}

// Remarks of the NullPointerExceptions, as the reference broker (JDK 17) gives them.
const (
	npeNullKeyGet = `java.lang.NullPointerException: Cannot invoke "Object.hashCode()" because "key" is null, ` +
		"java.base/java.util.concurrent.ConcurrentHashMap.get(ConcurrentHashMap.java:936)"
	npeNullKeyPut  = "java.lang.NullPointerException, java.base/java.util.concurrent.ConcurrentHashMap.putVal(ConcurrentHashMap.java:1011)"
	heartbeatFrame = "org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:"
	subscribeFrame = "org.apache.rocketmq.broker.client.ConsumerGroupInfo.updateSubscription(ConsumerGroupInfo.java:"
)

// findHeartbeatFault returns where Java would throw on body, or nil. Sets are walked in
// the body's order (Java's are HashSets, whose order the body does not give).
func findHeartbeatFault(body []byte) *heartbeatFault {
	var hb struct {
		ClientID  json.RawMessage `json:"clientID"`
		Consumers json.RawMessage `json:"consumerDataSet"`
		Producers json.RawMessage `json:"producerDataSet"`
	}
	if json.Unmarshal(body, &hb) != nil {
		return nil // the decoder reports it
	}
	if isJSONNull(hb.Consumers) {
		return &heartbeatFault{producers: -1, remark: `java.lang.NullPointerException: Cannot invoke "java.util.Set.iterator()" ` +
			`because the return value of "org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getConsumerDataSet()" is null, ` +
			heartbeatFrame + "85)"}
	}
	var consumers []json.RawMessage
	_ = json.Unmarshal(orEmpty(hb.Consumers), &consumers)
	for i, raw := range consumers {
		if isJSONNull(raw) {
			return &heartbeatFault{consumers: i, producers: -1, remark: `java.lang.NullPointerException: Cannot invoke ` +
				`"org.apache.rocketmq.common.protocol.heartbeat.ConsumerData.getGroupName()" because "data" is null, ` + heartbeatFrame + "88)"}
		}
		var c struct {
			GroupName json.RawMessage `json:"groupName"`
			Subs      json.RawMessage `json:"subscriptionDataSet"`
		}
		_ = json.Unmarshal(raw, &c)
		if isAbsent(c.GroupName) { // findSubscriptionGroupConfig(null)
			return &heartbeatFault{consumers: i, producers: -1, remark: npeNullKeyGet}
		}
		if isJSONNull(c.Subs) {
			return &heartbeatFault{consumers: i, channelOnly: true, producers: -1, remark: `java.lang.NullPointerException: ` +
				`Cannot invoke "java.util.Set.iterator()" because "subList" is null, ` + subscribeFrame + "152)"}
		}
		var subs []json.RawMessage
		_ = json.Unmarshal(orEmpty(c.Subs), &subs)
		for _, s := range subs {
			if isJSONNull(s) {
				return &heartbeatFault{consumers: i, channelOnly: true, producers: -1, remark: `java.lang.NullPointerException: ` +
					`Cannot invoke "org.apache.rocketmq.common.protocol.heartbeat.SubscriptionData.getTopic()" because "sub" is null, ` +
					subscribeFrame + "153)"}
			}
			var sd struct {
				Topic json.RawMessage `json:"topic"`
			}
			_ = json.Unmarshal(s, &sd)
			if isAbsent(sd.Topic) {
				return &heartbeatFault{consumers: i, channelOnly: true, producers: -1, remark: npeNullKeyGet}
			}
		}
	}
	if isJSONNull(hb.Producers) {
		return &heartbeatFault{consumers: len(consumers), remark: `java.lang.NullPointerException: Cannot invoke "java.util.Set.iterator()" ` +
			`because the return value of "org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getProducerDataSet()" is null, ` +
			heartbeatFrame + "121)"}
	}
	var producers []json.RawMessage
	_ = json.Unmarshal(orEmpty(hb.Producers), &producers)
	for i, raw := range producers {
		if isJSONNull(raw) {
			return &heartbeatFault{consumers: len(consumers), producers: i, remark: `java.lang.NullPointerException: Cannot invoke ` +
				`"org.apache.rocketmq.common.protocol.heartbeat.ProducerData.getGroupName()" because "data" is null, ` + heartbeatFrame + "122)"}
		}
		var p struct {
			GroupName json.RawMessage `json:"groupName"`
		}
		_ = json.Unmarshal(raw, &p)
		if isAbsent(p.GroupName) { // registerProducer(null)
			return &heartbeatFault{consumers: len(consumers), producers: i, remark: npeNullKeyGet}
		}
		if isAbsent(hb.ClientID) { // the group's table takes the channel, clientChannelTable not its null id
			return &heartbeatFault{consumers: len(consumers), producers: i + 1, remark: npeNullKeyPut}
		}
	}
	return nil
}

func isJSONNull(raw json.RawMessage) bool { return string(raw) == "null" }

// isAbsent reports a value Java leaves null: not sent, or sent as null.
func isAbsent(raw json.RawMessage) bool { return len(raw) == 0 || isJSONNull(raw) }

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("[]")
	}
	return raw
}
