package instance

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/remoting"
)

// Snapshot is what an instance holds at one moment, for status pages: its identity and
// state, the NameServers, the broker address and version tables, the cached routes and
// the registered groups. It shares nothing with the instance.
type Snapshot struct {
	ClientID    string
	State       State
	NameServers []string
	// Brokers are the broker table's entries, by broker name then id (0 is the master).
	Brokers []BrokerInfo
	// Routes are the cached topic routes, by topic.
	Routes         []RouteInfo
	ProducerGroups []string // sorted
	ConsumerGroups []string // sorted
	// HeartbeatRounds counts the heartbeat rounds sent since Start.
	HeartbeatRounds int64
}

// BrokerInfo is one broker address of the broker table, with the version it answered the
// last heartbeat with (0 before one).
type BrokerInfo struct {
	Name    string
	ID      int64
	Addr    string
	Version int32
}

// VersionName is the version as Java's MQVersion names it ("V4_9_4"), or its number.
func (b BrokerInfo) VersionName() string {
	if b.Version == 0 {
		return ""
	}
	return versionDesc(b.Version)
}

// RouteInfo is one cached route.
type RouteInfo struct {
	Topic string
	Route *remoting.TopicRouteData // do not modify
	// PublishQueues and SubscribeQueues count the writable queues a producer chooses from
	// and the readable queues consumers share.
	PublishQueues   int
	SubscribeQueues int
	// DefaultTopic is the topic the route was derived from (TBW102) while the NameServers
	// do not know the topic itself; "" for the topic's own route.
	DefaultTopic string
}

// Snapshot returns the instance's tables as they are now.
func (i *Instance) Snapshot() Snapshot {
	s := Snapshot{ClientID: i.clientID, State: i.State(), NameServers: i.ns.list(), HeartbeatRounds: i.heartbeats.Load()}
	for name, ids := range i.brokers.load() {
		for id, addr := range ids {
			s.Brokers = append(s.Brokers, BrokerInfo{Name: name, ID: id, Addr: addr, Version: i.BrokerVersion(name, addr)})
		}
	}
	slices.SortFunc(s.Brokers, func(a, b BrokerInfo) int { return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	i.routes.mu.RLock()
	for topic, e := range i.routes.entries {
		s.Routes = append(s.Routes, RouteInfo{Topic: topic, Route: e.route, PublishQueues: len(e.publish.Queues),
			SubscribeQueues: len(e.subscribe), DefaultTopic: e.fromDefault.defaultTopic})
	}
	i.routes.mu.RUnlock()
	slices.SortFunc(s.Routes, func(a, b RouteInfo) int { return strings.Compare(a.Topic, b.Topic) })
	for _, p := range i.groups.producerList() {
		s.ProducerGroups = append(s.ProducerGroups, p.Group())
	}
	for _, c := range i.groups.consumerList() {
		s.ConsumerGroups = append(s.ConsumerGroups, c.Group())
	}
	return s
}

// ConsumerRunningInfo returns what this client answers a broker's
// GET_CONSUMER_RUNNING_INFO for group with (without the goroutine dump): the consumer's
// running info completed with the PROP_NAMESERVER_ADDR, PROP_CONSUME_TYPE and
// PROP_CLIENT_VERSION properties, as Java's MQClientInstance.consumerRunningInfo. nil when
// no consumer of the group is registered or it has none to give.
func (i *Instance) ConsumerRunningInfo(group string) *remoting.ConsumerRunningInfo {
	cons := i.groups.consumer(group)
	if cons == nil {
		return nil
	}
	return i.completeRunningInfo(cons, cons.RunningInfo())
}

// completeRunningInfo adds the instance's properties to a copy of info.
func (i *Instance) completeRunningInfo(cons Consumer, info *remoting.ConsumerRunningInfo) *remoting.ConsumerRunningInfo {
	if info == nil {
		return nil
	}
	out := *info // completed here, not in the consumer's value
	out.Properties = maps.Clone(info.Properties)
	if out.Properties == nil {
		out.Properties = make(map[string]string)
	}
	var ns strings.Builder
	for _, a := range i.ns.list() {
		ns.WriteString(a)
		ns.WriteByte(';')
	}
	out.Properties[remoting.PropNameServerAddr] = ns.String()
	out.Properties[remoting.PropConsumeType] = string(cons.ConsumerData().ConsumeType)
	out.Properties[remoting.PropClientVersion] = versionDesc(i.cfg.Version)
	return &out
}
