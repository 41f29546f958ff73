package broker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// clientChannel is Java's ClientChannelInfo: one client connection of a group.
type clientChannel struct {
	conn       *netpoll.Conn
	clientID   string
	language   remoting.LanguageCode
	version    int32
	lastUpdate time.Time
}

// subscription is a consumer group's subscription to one topic with its tag filter.
type subscription struct {
	data   remoting.SubscriptionData
	filter *tagFilter // nil: every message matches
}

// consumerGroup is Java's ConsumerGroupInfo.
type consumerGroup struct {
	name             string
	consumeType      remoting.ConsumeType
	messageModel     remoting.MessageModel
	consumeFromWhere remoting.ConsumeFromWhere
	channels         []*clientChannel // in registration order
	subs             map[string]*subscription
	lastUpdate       time.Time
}

func (g *consumerGroup) channel(c *netpoll.Conn) int {
	return slices.IndexFunc(g.channels, func(ch *clientChannel) bool { return ch.conn == c })
}

func (g *consumerGroup) conns() []*netpoll.Conn {
	out := make([]*netpoll.Conn, len(g.channels))
	for i, ch := range g.channels {
		out[i] = ch.conn
	}
	return out
}

// consumerManager is Java's ConsumerManager.
type consumerManager struct {
	mu     sync.RWMutex
	groups map[string]*consumerGroup
}

func newConsumerManager() *consumerManager {
	return &consumerManager{groups: make(map[string]*consumerGroup)}
}

// register is registerConsumer: the channel and the subscriptions of a heartbeat. It
// returns the connections to notify (the group's, when its channels or topics changed and
// notify is on) and whether anything changed.
func (m *consumerManager) register(ch clientChannel, data *remoting.ConsumerData, notify bool) ([]*netpoll.Conn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, changed := m.updateChannelLocked(ch, data)
	// updateSubscription
	for i := range data.Subscriptions {
		s := &data.Subscriptions[i]
		old := g.subs[s.Topic]
		switch {
		case old == nil:
			g.subs[s.Topic] = newSubscription(*s)
			changed = true
		case s.SubVersion > old.data.SubVersion:
			g.subs[s.Topic] = newSubscription(*s)
		}
	}
	for topic := range g.subs {
		if !slices.ContainsFunc(data.Subscriptions, func(s remoting.SubscriptionData) bool { return s.Topic == topic }) {
			delete(g.subs, topic)
			changed = true
		}
	}
	if changed && notify {
		return g.conns(), true
	}
	return nil, changed
}

// registerChannel is registerConsumer up to its updateChannel: what a heartbeat whose
// subscriptions Java fails on leaves registered.
func (m *consumerManager) registerChannel(ch clientChannel, data *remoting.ConsumerData) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updateChannelLocked(ch, data)
}

// updateChannelLocked finds or creates the group and updates its channel (updateChannel);
// changed says the channel is new.
func (m *consumerManager) updateChannelLocked(ch clientChannel, data *remoting.ConsumerData) (g *consumerGroup, changed bool) {
	g = m.groups[data.GroupName]
	if g == nil {
		g = &consumerGroup{name: data.GroupName, subs: make(map[string]*subscription)}
		m.groups[data.GroupName] = g
	}
	g.consumeType, g.messageModel, g.consumeFromWhere = data.ConsumeType, data.MessageModel, data.ConsumeFromWhere
	if i := g.channel(ch.conn); i < 0 {
		g.channels = append(g.channels, &ch)
		changed = true
	} else {
		old := g.channels[i]
		if old.clientID != ch.clientID { // Java logs a [BUG] and takes the new one
			g.channels[i] = &ch
		} else {
			old.lastUpdate = ch.lastUpdate
		}
	}
	g.lastUpdate = ch.lastUpdate
	return g, changed
}

// unregister is unregisterConsumer; it returns the connections to notify.
func (m *consumerManager) unregister(group string, c *netpoll.Conn, notify bool) []*netpoll.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groups[group]
	if g == nil {
		return nil
	}
	if i := g.channel(c); i >= 0 {
		g.channels = slices.Delete(g.channels, i, i+1)
	}
	if len(g.channels) == 0 {
		delete(m.groups, group)
	}
	if notify {
		return g.conns()
	}
	return nil
}

// channelClosed is doChannelCloseEvent: c leaves every group; the rest of each group it
// was in are returned, to be notified.
func (m *consumerManager) channelClosed(c *netpoll.Conn) []*groupConns {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*groupConns
	for name, g := range m.groups {
		i := g.channel(c)
		if i < 0 {
			continue
		}
		g.channels = slices.Delete(g.channels, i, i+1)
		if len(g.channels) == 0 {
			delete(m.groups, name)
		}
		out = append(out, &groupConns{group: name, conns: g.conns()})
	}
	return out
}

// scanExpired is scanNotActiveChannel: channels silent for longer than expiry leave their
// groups, without a notification; they are returned to be closed.
func (m *consumerManager) scanExpired(now time.Time, expiry time.Duration) []*netpoll.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*netpoll.Conn
	for name, g := range m.groups {
		g.channels = slices.DeleteFunc(g.channels, func(ch *clientChannel) bool {
			if now.Sub(ch.lastUpdate) > expiry {
				out = append(out, ch.conn)
				return true
			}
			return false
		})
		if len(g.channels) == 0 {
			delete(m.groups, name)
		}
	}
	return out
}

// subscriptionOf returns the group's subscription to topic: found reports that the group
// exists, broadcast that it consumes by broadcasting.
func (m *consumerManager) subscriptionOf(group, topic string) (sub *subscription, found, broadcast bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := m.groups[group]
	if g == nil {
		return nil, false, false
	}
	return g.subs[topic], true, g.messageModel == remoting.Broadcasting
}

// subscriptionCount is findSubscriptionDataCount.
func (m *consumerManager) subscriptionCount(group string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if g := m.groups[group]; g != nil {
		return len(g.subs)
	}
	return 0
}

// clientIDs is getAllClientId, in registration order.
func (m *consumerManager) clientIDs(group string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := m.groups[group]
	if g == nil {
		return nil
	}
	out := make([]string, len(g.channels))
	for i, ch := range g.channels {
		out[i] = ch.clientID
	}
	return out
}

// channels returns copies of the group's channels; ok is false when the group is unknown.
func (m *consumerManager) channels(group string) (out []clientChannel, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := m.groups[group]
	if g == nil {
		return nil, false
	}
	for _, ch := range g.channels {
		out = append(out, *ch)
	}
	return out, true
}

// findChannel is ConsumerManager.findChannel.
func (m *consumerManager) findChannel(group, clientID string) (clientChannel, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if g := m.groups[group]; g != nil {
		for _, ch := range g.channels {
			if ch.clientID == clientID {
				return *ch, true
			}
		}
	}
	return clientChannel{}, false
}

// connection returns the ConsumerConnection body of a group (GET_CONSUMER_CONNECTION_LIST).
func (m *consumerManager) connection(group string) (*remoting.ConsumerConnection, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := m.groups[group]
	if g == nil {
		return nil, false
	}
	cc := &remoting.ConsumerConnection{ConsumeFromWhere: g.consumeFromWhere, ConsumeType: g.consumeType,
		MessageModel: g.messageModel, Subscriptions: make(map[string]remoting.SubscriptionData, len(g.subs)),
		Connections: []remoting.Connection{}}
	for topic, s := range g.subs {
		cc.Subscriptions[topic] = s.data
	}
	for _, ch := range g.channels {
		cc.Connections = append(cc.Connections, remoting.Connection{ClientAddr: remoteAddr(ch.conn),
			ClientID: ch.clientID, Language: ch.language.String(), Version: ch.version})
	}
	return cc, true
}

// groupsOfTopic is queryTopicConsumeByWho: the groups subscribed to topic.
func (m *consumerManager) groupsOfTopic(topic string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for name, g := range m.groups {
		if _, ok := g.subs[topic]; ok {
			out = append(out, name)
		}
	}
	return out
}

// groupConns is a group to notify and its connections.
type groupConns struct {
	group string
	conns []*netpoll.Conn
}

// notifyConsumerIDsChanged sends NOTIFY_CONSUMER_IDS_CHANGED oneway to each connection,
// as DefaultConsumerIdsChangeListener on CHANGE (Broker2Client.notifyConsumerIdsChanged).
func (b *Broker) notifyConsumerIDsChanged(groups []*groupConns) {
	for _, g := range groups {
		for _, c := range g.conns {
			req := &remoting.Command{Code: int32(remoting.NotifyConsumerIDsChanged), Version: remoting.Version494,
				Header: &remoting.NotifyConsumerIDsChangedRequest{ConsumerGroup: g.group}}
			if err := c.InvokeOneway(context.Background(), req); err != nil {
				b.log.Debug("broker: notify consumer ids changed", "group", g.group, "remote", c.Addr(), "err", err)
			}
		}
	}
}

// handleHeartbeat is ClientManageProcessor.heartBeat.
func (b *Broker) handleHeartbeat(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	switch {
	case len(req.Body) == 0:
		return response(req, remoting.SystemError, nullBodyRemark)
	case jsonNull(req.Body):
		return response(req, remoting.SystemError, nullObjectRemark(
			"org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getClientID()", "heartbeatData",
			"org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:80)"))
	}
	var hb remoting.HeartbeatData
	if err := hb.Decode(req.Body); err != nil {
		return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
	}
	ch := clientChannel{conn: c, clientID: hb.ClientID, language: req.Language, version: req.Version, lastUpdate: b.now()}
	fault := findHeartbeatFault(req.Body)
	consumers, producers := hb.Consumers, hb.Producers
	if fault != nil {
		consumers = consumers[:min(fault.consumers, len(consumers))]
		producers = producers[:min(max(fault.producers, 0), len(producers))]
	}
	for i := range consumers {
		data := &consumers[i]
		notify := b.retryTopicOf(data)
		if conns, changed := b.consumers.register(ch, data, notify); changed {
			b.log.Info("broker: consumer group changed", "group", data.GroupName, "client", hb.ClientID)
			b.notifyConsumerIDsChanged([]*groupConns{{group: data.GroupName, conns: conns}})
		}
	}
	if fault != nil && fault.channelOnly && fault.consumers < len(hb.Consumers) {
		data := &hb.Consumers[fault.consumers]
		b.retryTopicOf(data)
		b.consumers.registerChannel(ch, data)
	}
	for _, p := range producers {
		b.producers.register(p.GroupName, ch)
	}
	if fault != nil {
		return response(req, remoting.SystemError, fault.remark)
	}
	return response(req, remoting.Success, "")
}

// retryTopicOf looks up the group's config, creating its retry topic when it exists, and
// reports whether the group wants NOTIFY_CONSUMER_IDS_CHANGED.
func (b *Broker) retryTopicOf(data *remoting.ConsumerData) (notify bool) {
	g := b.groups.find(data.GroupName)
	if g == nil {
		return true
	}
	sysFlag := int32(0)
	if data.UnitMode {
		sysFlag = topicSysFlagUnitSub
	}
	b.topics.createInSendBack(message.RetryTopic(data.GroupName), g.RetryQueueNums, permRW, sysFlag)
	return g.NotifyConsumerIDsChangedEnable
}

// topicSysFlagUnitSub is TopicSysFlag.buildSysFlag(false, true).
const topicSysFlagUnitSub int32 = 1 << 1

// handleUnregisterClient is ClientManageProcessor.unregisterClient.
func (b *Broker) handleUnregisterClient(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.UnregisterClientRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	if h.ProducerGroup != "" {
		b.producers.unregister(h.ProducerGroup, c)
	}
	if h.ConsumerGroup != "" {
		notify := true
		if g := b.groups.find(h.ConsumerGroup); g != nil {
			notify = g.NotifyConsumerIDsChangedEnable
		}
		if conns := b.consumers.unregister(h.ConsumerGroup, c, notify); len(conns) > 0 {
			b.notifyConsumerIDsChanged([]*groupConns{{group: h.ConsumerGroup, conns: conns}})
		}
	}
	resp := response(req, remoting.Success, "")
	resp.Header = remoting.EmptyHeader{}
	return resp
}

// handleConsumerList is ConsumerManageProcessor.getConsumerListByGroup.
func (b *Broker) handleConsumerList(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerListRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	if ids := b.consumers.clientIDs(h.ConsumerGroup); len(ids) > 0 {
		resp := response(req, remoting.Success, "")
		resp.Header = remoting.EmptyHeader{}
		resp.Body = (&remoting.ConsumerListBody{ConsumerIDs: ids}).Encode()
		return resp
	}
	resp := response(req, remoting.SystemError, "no consumer for this group, "+h.ConsumerGroup)
	resp.Header = remoting.EmptyHeader{}
	return resp
}
