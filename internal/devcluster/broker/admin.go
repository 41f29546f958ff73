package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The admin requests of Java's AdminBrokerProcessor and QueryMessageProcessor.

// unsetRemark is the remark of Java's createResponseCommand(Class), which a handler that
// does not set one leaves in its answer.
const unsetRemark = "not set any response code"

// handleCreateTopic is updateAndCreateTopic: the topic is created or replaced, then
// registered with the NameServers (registerIncrementBrokerData) before the answer.
//
// Java reads the header leniently, each missing or malformed field left null, and fails
// only on the fields the handler uses, in its order: topicFilterType (checkFields), the
// topic's name, then the queue numbers and perm (unboxed). defaultTopic and order are
// never read, and a null topicSysFlag is 0.
func (b *Broker) handleCreateTopic(ctx context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	filterType, ok := req.Ext.Lookup("topicFilterType")
	if filterType != singleTag && filterType != multiTag {
		if !ok {
			filterType = "null"
		}
		return response(req, remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: "+
			"topicFilterType = ["+filterType+"] value invalid, "+
			"org.apache.rocketmq.common.protocol.header.CreateTopicRequestHeader.checkFields(CreateTopicRequestHeader.java:50)")
	}
	topic := req.Ext.Get("topic")
	if remark := validateTopic(topic); remark != "" {
		return response(req, remoting.SystemError, remark)
	}
	if b.isSystemTopic(topic) {
		return response(req, remoting.SystemError, "The topic["+topic+"] is conflict with system topic.")
	}
	r := fieldReader{header: "CreateTopicRequestHeader", ext: req.Ext}
	tc := &remoting.TopicConfig{TopicName: topic, ReadQueueNums: r.int32("readQueueNums", true),
		WriteQueueNums: r.int32("writeQueueNums", true), TopicFilterType: filterType, Perm: r.int32("perm", true)}
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	if v, err := strconv.ParseInt(req.Ext.Get("topicSysFlag"), 10, 32); err == nil {
		tc.TopicSysFlag = int32(v)
	}
	version := b.topics.update(tc)
	b.log.Info("broker: topic updated", "topic", tc.TopicName, "queues", tc.WriteQueueNums, "perm", tc.Perm)
	b.registerIncrement(ctx, tc, version)
	// Java sets the code of createResponseCommand(null) and leaves its remark.
	return response(req, remoting.Success, unsetRemark)
}

// handleDeleteTopic is deleteTopic. The store keeps the topic's messages (it cannot drop
// one topic's queues as Java's cleanUnusedTopic does).
func (b *Broker) handleDeleteTopic(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "DeleteTopicRequestHeader", ext: req.Ext}
	topic := r.str("topic", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	if remark := validateTopic(topic); remark != "" {
		return response(req, remoting.SystemError, remark)
	}
	if b.isSystemTopic(topic) {
		return response(req, remoting.SystemError, "The topic["+topic+"] is conflict with system topic.")
	}
	b.topics.remove(topic)
	return response(req, remoting.Success, "")
}

// handleAllTopicConfig is getAllTopicConfig.
func (b *Broker) handleAllTopicConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	resp := response(req, remoting.Success, "")
	resp.Header = remoting.EmptyHeader{}
	resp.Body = b.topics.encode()
	return resp
}

// handleSearchOffset is searchOffsetByTimestamp.
func (b *Broker) handleSearchOffset(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.SearchOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	resp := response(req, remoting.Success, "")
	resp.Header = &remoting.SearchOffsetResponse{Offset: b.store.SearchOffset(h.Topic, h.QueueID, h.Timestamp)}
	return resp
}

// handleMaxOffset is getMaxOffset.
func (b *Broker) handleMaxOffset(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.MaxOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	resp := response(req, remoting.Success, "")
	resp.Header = &remoting.MaxOffsetResponse{Offset: b.store.MaxOffset(h.Topic, h.QueueID)}
	return resp
}

// handleMinOffset is getMinOffset.
func (b *Broker) handleMinOffset(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.MinOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	resp := response(req, remoting.Success, "")
	resp.Header = &remoting.MinOffsetResponse{Offset: b.store.MinOffset(h.Topic, h.QueueID)}
	return resp
}

// handleEarliestStoreTime is getEarliestMsgStoretime.
func (b *Broker) handleEarliestStoreTime(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "GetEarliestMsgStoretimeRequestHeader", ext: req.Ext}
	topic, queueID := r.str("topic", true), r.int32("queueId", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	resp := response(req, remoting.Success, "")
	resp.Header = &timestampResponse{timestamp: b.store.EarliestMessageTime(topic, queueID)}
	return resp
}

// handleViewMessage is QueryMessageProcessor.viewMessageById: the body is the message
// stored at the commit log offset, as stored.
func (b *Broker) handleViewMessage(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "ViewMessageRequestHeader", ext: req.Ext}
	offset := r.int64("offset", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	raw, err := b.store.ReadAt(offset)
	if err != nil {
		return response(req, remoting.SystemError, "can not find message by the offset, "+strconv.FormatInt(offset, 10))
	}
	resp := response(req, remoting.Success, "")
	resp.Body = raw
	return resp
}

// handleUpdateGroup is updateAndCreateSubscriptionGroup: the body is a
// SubscriptionGroupConfig; fields it leaves out take Java's defaults. A null one changes
// nothing.
func (b *Broker) handleUpdateGroup(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if len(req.Body) == 0 {
		return response(req, remoting.SystemError, nullBodyRemark)
	}
	if !jsonNull(req.Body) {
		g := newGroupConfig("")
		if err := json.Unmarshal(req.Body, g); err != nil {
			return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
		}
		if g.GroupName == "" { // Java puts a null key into its ConcurrentHashMap
			return response(req, remoting.SystemError, "java.lang.NullPointerException, "+
				"java.base/java.util.concurrent.ConcurrentHashMap.putVal(ConcurrentHashMap.java:1011)")
		}
		b.groups.update(g)
	}
	return response(req, remoting.Success, "")
}

// handleAllGroups is getAllSubscriptionGroup: SubscriptionGroupManager.encode.
func (b *Broker) handleAllGroups(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	body, err := json.Marshal(b.groups.snapshot())
	if err != nil {
		return response(req, remoting.SystemError, err.Error())
	}
	resp := response(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// handleDeleteGroup is deleteSubscriptionGroup.
func (b *Broker) handleDeleteGroup(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "DeleteSubscriptionGroupRequestHeader", ext: req.Ext}
	group := r.str("groupName", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	b.groups.remove(group)
	if v, _ := req.Ext.Lookup("removeOffset"); v == "true" {
		b.offsets.removeGroup(group)
	}
	return response(req, remoting.Success, "")
}

// handleTopicStats is getTopicStatsInfo.
func (b *Broker) handleTopicStats(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "GetTopicStatsInfoRequestHeader", ext: req.Ext}
	topic := r.str("topic", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	tc := b.topics.get(topic)
	if tc == nil {
		return response(req, remoting.TopicNotExist, "topic["+topic+"] not exist")
	}
	offsets := make([]topicOffset, 0, tc.WriteQueueNums)
	for i := range tc.WriteQueueNums {
		o := topicOffset{queue: remoting.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: i},
			minOffset: max(b.store.MinOffset(topic, i), 0), maxOffset: max(b.store.MaxOffset(topic, i), 0)}
		if o.maxOffset > 0 {
			o.lastTs = b.store.StoreTimestamp(topic, i, o.maxOffset-1)
		}
		offsets = append(offsets, o)
	}
	resp := response(req, remoting.Success, "")
	resp.Body = encodeTopicStats(offsets)
	return resp
}

// handleConsumerConnections is getConsumerConnectionList.
func (b *Broker) handleConsumerConnections(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerConnectionListRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	cc, ok := b.consumers.connection(h.ConsumerGroup)
	if !ok {
		return response(req, remoting.ConsumerNotOnline, "the consumer group["+h.ConsumerGroup+"] not online")
	}
	resp := response(req, remoting.Success, "")
	resp.Body = cc.Encode()
	return resp
}

// handleProducerConnections is getProducerConnectionList.
func (b *Broker) handleProducerConnections(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "GetProducerConnectionListRequestHeader", ext: req.Ext}
	group := r.str("producerGroup", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	conns, ok := b.producers.connections(group)
	if !ok {
		return response(req, remoting.SystemError, "the producer group["+group+"] not exist")
	}
	resp := response(req, remoting.Success, "")
	resp.Body = encodeProducerConnection(conns)
	return resp
}

// handleConsumeStats is getConsumeStats: for each topic of the group (or the one asked
// for), each queue's max offset, the group's offset and the store time of the last
// message it consumed.
func (b *Broker) handleConsumeStats(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "GetConsumeStatsRequestHeader", ext: req.Ext}
	group, topic := r.str("consumerGroup", true), r.str("topic", false)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	topics := []string{topic}
	if topic == "" {
		topics = b.offsets.topicsOf(group)
	}
	var offsets []offsetWrapper
	for _, t := range topics {
		tc := b.topics.get(t)
		if tc == nil {
			continue
		}
		if sub, _, _ := b.consumers.subscriptionOf(group, t); sub == nil && b.consumers.subscriptionCount(group) > 0 {
			continue
		}
		for i := range tc.ReadQueueNums {
			offsets = append(offsets, b.queueProgress(group, t, i))
		}
	}
	resp := response(req, remoting.Success, "")
	resp.Body = encodeConsumeStats(offsets)
	return resp
}

// handleAllConsumerOffsets is getAllConsumerOffset: ConsumerOffsetManager.encode.
func (b *Broker) handleAllConsumerOffsets(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	resp := response(req, remoting.Success, "")
	resp.Body = b.offsets.encode()
	return resp
}

// handleResetOffset is Broker2Client.resetOffset (INVOKE_BROKER_TO_RESET_OFFSET): the
// offsets of the group's queues at the timestamp (-1: the max offsets) are sent oneway to
// every client of the group with RESET_CONSUMER_CLIENT_OFFSET, and answered.
func (b *Broker) handleResetOffset(ctx context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ResetOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	tc := b.topics.get(h.Topic)
	if tc == nil {
		return response(req, remoting.SystemError, "[reset-offset] reset offset failed, no topic in this broker. topic="+h.Topic)
	}
	table := make(remoting.QueueTable[int64], tc.WriteQueueNums)
	for i := range tc.WriteQueueNums {
		consumed := b.offsets.query(h.Group, h.Topic, i)
		if consumed == -1 {
			return response(req, remoting.SystemError, fmt.Sprintf("THe consumer group <%s> not exist", h.Group))
		}
		var at int64
		if h.Timestamp == -1 {
			at = b.store.MaxOffset(h.Topic, i)
		} else {
			at = b.store.SearchOffset(h.Topic, i, h.Timestamp)
		}
		at = max(at, 0)
		if !h.IsForce && at >= consumed {
			at = consumed
		}
		table[remoting.MessageQueue{Topic: h.Topic, BrokerName: b.cfg.BrokerName, QueueID: i}] = at
	}
	body := (&remoting.ResetOffsetBody{OffsetTable: table}).Encode()
	chans, _ := b.consumers.channels(h.Group)
	if len(chans) == 0 {
		return response(req, remoting.ConsumerNotOnline, fmt.Sprintf(
			"Consumer not online, so can not reset offset, Group: %s Topic: %s Timestamp: %d", h.Group, h.Topic, h.Timestamp))
	}
	for _, ch := range chans {
		if ch.version < versionV3_0_7Snapshot {
			return response(req, remoting.SystemError, "the client does not support this feature. version="+versionDesc(ch.version))
		}
		reset := &remoting.Command{Code: int32(remoting.ResetConsumerClientOffset), Version: remoting.Version494,
			Header: &remoting.ResetOffsetRequest{Topic: h.Topic, Group: h.Group, Timestamp: h.Timestamp}, Body: body}
		if err := ch.conn.InvokeOneway(ctx, reset); err != nil {
			b.log.Warn("broker: reset offset", "client", ch.clientID, "err", err)
		}
	}
	resp := response(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// handleTopicConsumeByWho is queryTopicConsumeByWho: the groups subscribed to the topic
// and those with offsets for it.
func (b *Broker) handleTopicConsumeByWho(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "QueryTopicConsumeByWhoRequestHeader", ext: req.Ext}
	topic := r.str("topic", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	groups := b.consumers.groupsOfTopic(topic)
	for _, g := range b.offsets.groupsOf(topic) {
		if !contains(groups, g) {
			groups = append(groups, g)
		}
	}
	resp := response(req, remoting.Success, "")
	resp.Body = encodeGroupList(groups)
	return resp
}

// handleConsumerRunningInfo is getConsumerRunningInfo: forwarded to the client, whose
// answer is relayed as it is (the Java client answers with the remark "not set any
// response code", recordings 273 and 307).
func (b *Broker) handleConsumerRunningInfo(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerRunningInfoRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	return b.callConsumer(ctx, c, req, remoting.GetConsumerRunningInfo, h.ConsumerGroup, h.ClientID)
}

// handleConsumeMessageDirectly is consumeMessageDirectly: the message named by msgId is
// sent to the client to consume, and its answer relayed.
func (b *Broker) handleConsumeMessageDirectly(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumeMessageDirectlyRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	fwd := *req
	fwd.Ext = append(remoting.ExtFields(nil), req.Ext...)
	fwd.Ext.Set("brokerName", b.cfg.BrokerName)
	if _, off, err := message.ParseOffsetMsgID(h.MsgID); err == nil {
		if raw, err := b.store.ReadAt(off); err == nil {
			fwd.Body = raw
		}
	}
	return b.callConsumer(ctx, c, &fwd, remoting.ConsumeMessageDirectly, h.ConsumerGroup, h.ClientID)
}

// callConsumer is AdminBrokerProcessor.callConsumer: req goes to the client of the group
// with the given id, and its answer back to c, without holding a handler meanwhile.
func (b *Broker) callConsumer(ctx context.Context, c *netpoll.Conn, req *remoting.Command, code remoting.RequestCode, group, clientID string) *remoting.Command {
	ch, ok := b.consumers.findChannel(group, clientID)
	if !ok {
		return response(req, remoting.SystemError, fmt.Sprintf("The Consumer <%s> <%s> not online", group, clientID))
	}
	if ch.version < versionV3_1_8Snapshot {
		return response(req, remoting.SystemError, fmt.Sprintf(
			"The Consumer <%s> Version <%s> too low to finish, please upgrade it to V3_1_8_SNAPSHOT", clientID, versionDesc(ch.version)))
	}
	fwd := &remoting.Command{Code: int32(code), Version: remoting.Version494, Ext: req.Ext, Body: req.Body}
	callCtx, cancel := context.WithTimeout(ctx, callClientTimeout)
	err := ch.conn.InvokeAsync(callCtx, fwd, func(resp *remoting.Command, err error) {
		cancel()
		var out *remoting.Command
		switch {
		case errors.Is(err, netpoll.ErrTimeout):
			out = response(req, remoting.ConsumeMessageTimeout, fmt.Sprintf("consumer <%s> <%s> Timeout: %s", group, clientID,
				"org.apache.rocketmq.remoting.exception.RemotingTimeoutException: wait response on the channel <"+
					remoteAddr(ch.conn)+"> timeout, 10000(ms)"))
		case err != nil:
			out = response(req, remoting.SystemError, fmt.Sprintf("invoke consumer <%s> <%s> Exception: %v", group, clientID, err))
		default:
			out = &remoting.Command{Code: resp.Code, Language: resp.Language, Version: resp.Version, Flag: remoting.FlagResponse,
				Remark: resp.Remark, Ext: resp.Ext, Body: resp.Body, KeepEmptyExt: resp.KeepEmptyExt}
		}
		if err := c.Respond(req, out); err != nil {
			b.log.Debug("broker: relayed answer lost", "remote", c.Addr(), "err", err)
		}
	})
	if err != nil {
		cancel()
		return response(req, remoting.SystemError, fmt.Sprintf("invoke consumer <%s> <%s> Exception: %v", group, clientID, err))
	}
	return nil
}

// handleCheckClientConfig is ClientManageProcessor.checkClientConfig: TAG subscriptions
// pass; SQL92 needs enablePropertyFilter, which this broker does not have.
func (b *Broker) handleCheckClientConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var body struct {
		ClientID     string                     `json:"clientId"`
		Group        string                     `json:"group"`
		Subscription *remoting.SubscriptionData `json:"subscriptionData"`
	}
	if len(req.Body) == 0 {
		return response(req, remoting.SystemError, nullBodyRemark)
	}
	if err := json.Unmarshal(req.Body, &body); err != nil { // null: no subscription to check
		return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
	}
	if s := body.Subscription; s != nil && !isTagType(s.ExpressionType) {
		return response(req, remoting.SystemError, "The broker does not support consumer to filter message by "+s.ExpressionType)
	}
	return response(req, remoting.Success, "")
}

// versionDesc is MQVersion.getVersionDesc for the versions the checks name.
func versionDesc(v int32) string {
	switch v {
	case remoting.Version494:
		return "V4_9_4"
	case versionV3_1_8Snapshot:
		return "V3_1_8_SNAPSHOT"
	case versionV3_0_7Snapshot:
		return "V3_0_7_SNAPSHOT"
	}
	return "V" + strconv.Itoa(int(v))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
