package instance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The admin operations a platform team needs without mqadmin, built from the typed calls
// as Java's DefaultMQAdminExtImpl builds them: create or update a topic on a cluster's
// masters, list topics, a group's consume progress, and a reset of a group's offsets to a
// timestamp through the brokers.

// Sentinels of the admin operations (errors.Is).
var (
	// ErrClusterNotFound: the NameServers know no cluster of that name.
	ErrClusterNotFound = errors.New("cluster not found")
	// ErrGroupNotFound: no broker knows the consumer group: no retry topic for it (it never
	// sent a heartbeat), no consume progress, or no offset stored where one was needed.
	ErrGroupNotFound = errors.New("consumer group not found")
	// ErrSystemTopic: a topic the brokers reserve and refuse to create or update (with a
	// SYSTEM_ERROR): TopicValidator's system topics, and the names of the cluster, its
	// reply topic and its brokers, which each broker adds to them at start.
	ErrSystemTopic = errors.New("a system topic the brokers reserve")
)

// replyTopicPostfix ends the cluster's reply topic, "<cluster>_REPLY_TOPIC" (MixAll's).
const replyTopicPostfix = "REPLY_TOPIC"

// Defaults of TopicConfig, mqadmin updateTopic's.
const (
	DefaultTopicQueueNums = 8
	// PermRead and PermWrite are QueueData.Perm's bits (Java's PermName); PermInherit
	// marks a topic created from TBW102.
	PermInherit int32 = 1
	PermWrite   int32 = permWrite
	PermRead    int32 = permRead
	// maxTopicQueueNums guards against a typo creating thousands of queue files.
	maxTopicQueueNums = 1024
)

// TopicConfig is a topic as CreateOrUpdateTopic writes it to each broker (Java's
// TopicConfig). Zero values take mqadmin updateTopic's defaults: 8 read and 8 write
// queues, perm read|write, SINGLE_TAG.
type TopicConfig struct {
	Topic          string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32 // PermRead|PermWrite (6) by default
	// TopicFilterType is "SINGLE_TAG" (default) or "MULTI_TAG".
	TopicFilterType string
	TopicSysFlag    int32
	// Order marks the topic ordered on the brokers (TopicConfig.order).
	Order bool
}

// Validate applies the defaults and refuses what a broker would refuse or what cannot be
// meant.
func (c *TopicConfig) Validate() error {
	if err := message.ValidateTopic(c.Topic); err != nil {
		return fmt.Errorf("instance: topic config: %w", err)
	}
	if message.IsSystemTopic(c.Topic) {
		return fmt.Errorf("instance: topic config: %s: %w", c.Topic, ErrSystemTopic)
	}
	if c.ReadQueueNums == 0 {
		c.ReadQueueNums = DefaultTopicQueueNums
	}
	if c.WriteQueueNums == 0 {
		c.WriteQueueNums = DefaultTopicQueueNums
	}
	if c.Perm == 0 {
		c.Perm = PermRead | PermWrite
	}
	if c.TopicFilterType == "" {
		c.TopicFilterType = "SINGLE_TAG"
	}
	var errs []error
	for _, n := range []struct {
		name string
		v    int32
	}{{"read queues", c.ReadQueueNums}, {"write queues", c.WriteQueueNums}} {
		if n.v < 1 || n.v > maxTopicQueueNums {
			errs = append(errs, fmt.Errorf("%s: %d is out of 1..%d", n.name, n.v, maxTopicQueueNums))
		}
	}
	if c.Perm&^(PermInherit|PermWrite|PermRead) != 0 || c.Perm < 0 {
		errs = append(errs, fmt.Errorf("perm: %d is not a combination of 2 (write), 4 (read) and 1 (inherit)", c.Perm))
	}
	if c.TopicFilterType != "SINGLE_TAG" && c.TopicFilterType != "MULTI_TAG" {
		errs = append(errs, fmt.Errorf("topic filter type: %q is not SINGLE_TAG or MULTI_TAG", c.TopicFilterType))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("instance: topic config of %s: %w", c.Topic, err)
	}
	return nil
}

// TopicUpdate is the outcome of a topic update on one master broker.
type TopicUpdate struct {
	Cluster    string
	BrokerName string
	Addr       string
	Err        error // nil when the broker took the update
}

// CreateOrUpdateTopic writes the topic to every master broker of cluster, in parallel, as
// mqadmin updateTopic -c does (fetchMasterAddrByClusterName, then UPDATE_AND_CREATE_TOPIC
// with TBW102 as the default topic to each); each broker then registers the topic with
// the NameServers. An empty cluster names the only cluster the NameServers know. It
// returns one TopicUpdate per master, by broker name, and an error joining the brokers'
// failures; a cluster the NameServers do not know is ErrClusterNotFound, a topic its
// brokers reserve ErrSystemTopic. The NameServers' ORDER_TOPIC_CONFIG entry mqadmin
// writes for an ordered topic is not written: a 4.9.4 NameServer reads it only with
// orderMessageEnable.
func (i *Instance) CreateOrUpdateTopic(ctx context.Context, cluster string, tc TopicConfig) ([]TopicUpdate, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	masters, err := i.clusterMasters(ctx, cluster, tc.Topic)
	if err != nil {
		return nil, err
	}
	h := &remoting.CreateTopicRequest{Topic: tc.Topic, DefaultTopic: message.AutoCreateTopicKey,
		ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums, Perm: tc.Perm,
		TopicFilterType: tc.TopicFilterType, TopicSysFlag: remoting.Some(tc.TopicSysFlag), Order: tc.Order}
	out := make([]TopicUpdate, len(masters))
	var wg sync.WaitGroup
	for k, m := range masters {
		out[k] = m
		wg.Go(func() { out[k].Err = i.CreateTopic(ctx, m.Addr, h) })
	}
	wg.Wait()
	var errs []error
	for _, u := range out {
		if u.Err != nil {
			errs = append(errs, u.Err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("instance: topic %s on cluster %s: %w", tc.Topic, out[0].Cluster, err)
	}
	i.log.Info("instance: topic created or updated", "topic", tc.Topic, "cluster", out[0].Cluster, "brokers", len(out),
		"read_queues", tc.ReadQueueNums, "write_queues", tc.WriteQueueNums, "perm", tc.Perm)
	return out, nil
}

// clusterMasters returns the master of every broker of cluster, by broker name (those
// without a master are left out, as mqadmin does), or ErrSystemTopic when the cluster's
// brokers reserve topic.
func (i *Instance) clusterMasters(ctx context.Context, cluster, topic string) ([]TopicUpdate, error) {
	info, err := i.GetClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		if len(info.Clusters) != 1 {
			return nil, fmt.Errorf("instance: no cluster named, and the NameServers know %d: %w", len(info.Clusters), ErrClusterNotFound)
		}
		for c := range info.Clusters {
			cluster = c
		}
	}
	names, ok := info.Clusters[cluster]
	if !ok {
		return nil, fmt.Errorf("instance: cluster %q (known: %s): %w", cluster,
			strings.Join(slices.Sorted(maps.Keys(info.Clusters)), ", "), ErrClusterNotFound)
	}
	// Each broker's TopicConfigManager adds these to the system topics at start.
	if topic == cluster || topic == cluster+"_"+replyTopicPostfix || slices.Contains(names, topic) {
		return nil, fmt.Errorf("instance: topic %s names cluster %s or one of its brokers: %w", topic, cluster, ErrSystemTopic)
	}
	var masters []TopicUpdate
	for _, name := range slices.Sorted(slices.Values(names)) {
		bd, ok := info.Brokers[name]
		if a := bd.MasterAddr(); ok && a != "" {
			masters = append(masters, TopicUpdate{Cluster: cluster, BrokerName: name, Addr: a})
		}
	}
	if len(masters) == 0 {
		return nil, fmt.Errorf("instance: cluster %s has no master broker", cluster)
	}
	return masters, nil
}

// TopicsOfCluster returns the topics of cluster's brokers, sorted (Java's
// fetchTopicsByCLuster, GET_TOPICS_BY_CLUSTER), system topics included. A 4.9.4
// NameServer answers an empty list for a cluster it does not know; this checks the
// cluster first and returns ErrClusterNotFound instead.
func (i *Instance) TopicsOfCluster(ctx context.Context, cluster string) ([]string, error) {
	info, err := i.GetClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := info.Clusters[cluster]; !ok {
		return nil, fmt.Errorf("instance: topics of cluster %q: %w", cluster, ErrClusterNotFound)
	}
	return i.topicList(ctx, remoting.GetTopicsByCluster, &remoting.TopicsByClusterRequest{Cluster: cluster})
}

// AllTopics returns every topic the NameServers know, sorted (Java's fetchAllTopicList,
// GET_ALL_TOPIC_LIST_FROM_NAMESERVER).
func (i *Instance) AllTopics(ctx context.Context) ([]string, error) {
	return i.topicList(ctx, remoting.GetAllTopicListFromNameServer, nil)
}

func (i *Instance) topicList(ctx context.Context, code remoting.RequestCode, h remoting.HeaderEncoder) ([]string, error) {
	resp, addr, err := i.invokeNameServer(ctx, i.request(code, h))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, code); err != nil {
		return nil, err
	}
	var l remoting.TopicList
	if err := l.Decode(resp.Body); err != nil {
		return nil, decodeError("body", code, addr, err)
	}
	slices.Sort(l.Topics)
	return slices.Compact(l.Topics), nil
}

// ConsumeStats returns a group's progress on every broker that knows it, merged as Java's
// examineConsumeStats does: the brokers are those of the group's retry topic (created on
// each broker by the group's first heartbeat), each asked GET_CONSUME_STATS for topic (""
// for every topic of the group), the queues put together and the rates summed. A group no
// broker knows, or without any progress, is ErrGroupNotFound.
func (i *Instance) ConsumeStats(ctx context.Context, group, topic string) (*remoting.ConsumeStats, error) {
	if err := message.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("instance: consume stats: %w", err)
	}
	route, err := i.GetRouteInfo(ctx, message.RetryTopic(group))
	if errors.Is(err, ErrTopicNotExist) {
		return nil, fmt.Errorf("instance: consume stats of %s: no broker has its retry topic: %w", group, ErrGroupNotFound)
	}
	if err != nil {
		return nil, err
	}
	addrs := brokerAddrs(route)
	parts := make([]*remoting.ConsumeStats, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for k, addr := range addrs {
		wg.Go(func() { parts[k], errs[k] = i.consumeStatsOf(ctx, addr, group, topic) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("instance: consume stats of %s: %w", group, err)
	}
	all := &remoting.ConsumeStats{OffsetTable: remoting.QueueTable[remoting.OffsetWrapper]{}}
	for _, p := range parts {
		maps.Copy(all.OffsetTable, p.OffsetTable)
		all.ConsumeTps += p.ConsumeTps
	}
	if len(all.OffsetTable) == 0 {
		what := "any topic"
		if topic != "" {
			what = topic
		}
		return nil, fmt.Errorf("instance: consume stats of %s: no progress on %s: %w", group, what, ErrGroupNotFound)
	}
	return all, nil
}

// consumeStatsOf asks one broker for a group's progress (Java's getConsumeStats).
func (i *Instance) consumeStatsOf(ctx context.Context, addr, group, topic string) (*remoting.ConsumeStats, error) {
	resp, err := i.invoke(ctx, addr, i.request(remoting.GetConsumeStats, &remoting.ConsumeStatsRequest{ConsumerGroup: group, Topic: topic}))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.GetConsumeStats); err != nil {
		return nil, err
	}
	s := new(remoting.ConsumeStats)
	if err := s.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.GetConsumeStats, addr, err)
	}
	return s, nil
}

// brokerAddrs returns, for each broker of route, its master or, without one, any of its
// slaves (Java's BrokerData.selectBrokerAddr), in broker name order.
func brokerAddrs(route *remoting.TopicRouteData) []string {
	bds := sortedBrokers(route.Brokers)
	var addrs []string
	for _, bd := range bds {
		if a := bd.MasterAddr(); a != "" {
			addrs = append(addrs, a)
			continue
		}
		if all := slices.Collect(maps.Values(bd.Addrs)); len(all) > 0 {
			addrs = append(addrs, all[rand.IntN(len(all))])
		}
	}
	return addrs
}

// ResetLatest is the timestamp of a reset to the end of every queue (mqadmin's "now").
const ResetLatest int64 = -1

// ResetOffsetResult is where a reset left a group's queues of a topic.
type ResetOffsetResult struct {
	// Offsets are the queues' new offsets. Without force, a queue whose offset at the
	// timestamp is not before the group's keeps the group's.
	Offsets map[MessageQueue]int64
	// Direct: no consumer of the group was online, so the offsets were written to the
	// brokers directly (mqadmin's resetOffsetByTimestampOld); consumers that start later
	// read them.
	Direct bool
}

// ResetOffsetByTimestamp moves a group's offsets of topic to the first message stored at
// or after timestamp (milliseconds since the epoch; ResetLatest for the end of each
// queue), as mqadmin resetOffsetByTime does: INVOKE_BROKER_TO_RESET_OFFSET to every broker
// of the topic's route, each computing the offsets and pushing them to the group's live
// consumers (RESET_CONSUMER_CLIENT_OFFSET). When a broker answers that no consumer of the
// group is online, the offsets are computed here and stored with UPDATE_CONSUMER_OFFSET
// instead (Direct). Without force, offsets only move backwards.
//
// A topic the NameServers do not know is ErrTopicNotExist; a group a broker has no
// offsets of is ErrGroupNotFound (with the broker's *BrokerError).
func (i *Instance) ResetOffsetByTimestamp(ctx context.Context, group, topic string, timestamp int64, force bool) (*ResetOffsetResult, error) {
	if err := message.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("instance: reset offset: %w", err)
	}
	if err := message.ValidateTopic(topic); err != nil {
		return nil, fmt.Errorf("instance: reset offset: %w", err)
	}
	if timestamp < 0 && timestamp != ResetLatest {
		return nil, fmt.Errorf("instance: reset offset: timestamp %d is negative", timestamp)
	}
	route, err := i.GetRouteInfo(ctx, topic)
	if err != nil {
		return nil, err
	}
	res := &ResetOffsetResult{Offsets: map[MessageQueue]int64{}}
	h := &remoting.ResetOffsetRequest{Topic: topic, Group: group, Timestamp: timestamp, IsForce: force}
	for _, addr := range brokerAddrs(route) {
		offsets, err := i.invokeBrokerToResetOffset(ctx, addr, h)
		if errors.Is(err, errConsumerNotOnline) {
			res.Direct = true
			break
		}
		if err != nil {
			return nil, resetError(group, topic, err)
		}
		maps.Copy(res.Offsets, offsets)
	}
	if res.Direct {
		clear(res.Offsets)
		if err := i.resetOffsetDirect(ctx, route, group, topic, timestamp, force, res.Offsets); err != nil {
			return nil, resetError(group, topic, err)
		}
	}
	i.log.Info("instance: consumer offsets reset", "group", group, "topic", topic, "timestamp", timestamp,
		"force", force, "queues", len(res.Offsets), "direct", res.Direct)
	return res, nil
}

// errConsumerNotOnline marks a broker's CONSUMER_NOT_ONLINE answer to a reset.
var errConsumerNotOnline = errors.New("consumer not online")

// invokeBrokerToResetOffset is Java's invokeBrokerToResetOffset.
func (i *Instance) invokeBrokerToResetOffset(ctx context.Context, addr string, h *remoting.ResetOffsetRequest) (remoting.QueueTable[int64], error) {
	code := remoting.InvokeBrokerToResetOffset
	resp, err := i.invoke(ctx, addr, i.request(code, h))
	if err != nil {
		return nil, err
	}
	if resp.ResponseCode() == remoting.ConsumerNotOnline {
		return nil, fmt.Errorf("%w: %w", errConsumerNotOnline, brokerError(resp, addr, code))
	}
	if err := expect(resp, addr, code); err != nil {
		return nil, err
	}
	var body remoting.ResetOffsetBody
	if len(resp.Body) > 0 {
		if err := body.Decode(resp.Body); err != nil {
			return nil, decodeError("body", code, addr, err)
		}
	}
	return body.OffsetTable, nil
}

// resetOffsetDirect is Java's resetOffsetByTimestampOld: for each broker of the route,
// each readable queue's offset at timestamp, stored for the group when force or when it
// is before the group's offset (queues the group never consumed count from their min
// offset).
func (i *Instance) resetOffsetDirect(ctx context.Context, route *remoting.TopicRouteData, group, topic string,
	timestamp int64, force bool, out map[MessageQueue]int64) error {
	for _, qd := range sortedQueueData(route.Queues) {
		bd := findBroker(route, qd.BrokerName)
		if bd == nil {
			continue
		}
		addr := bd.MasterAddr()
		if addr == "" {
			return fmt.Errorf("broker %s has no master to store offsets on", qd.BrokerName)
		}
		stats, err := i.consumeStatsOf(ctx, addr, group, "") // the queues with an offset stored
		if err != nil {
			return err
		}
		for q := range qd.ReadQueueNums {
			mq := MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: q}
			consumed, ok := stats.OffsetTable[mq]
			current := consumed.ConsumerOffset
			if !ok {
				if current, err = i.GetMinOffset(ctx, addr, topic, q); err != nil {
					return err
				}
			}
			var at int64
			if timestamp == ResetLatest {
				at, err = i.GetMaxOffset(ctx, addr, topic, q)
			} else {
				at, err = i.SearchOffset(ctx, addr, topic, q, timestamp)
			}
			if err != nil {
				return err
			}
			if !force && at > current {
				out[mq] = current
				continue
			}
			h := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: q, CommitOffset: at}
			if err := i.UpdateConsumerOffset(ctx, addr, h); err != nil {
				return err
			}
			out[mq] = at
		}
	}
	return nil
}

// resetError wraps a reset's failure; a broker saying the group has no offsets there
// ("THe consumer group <g> not exist", sic) is ErrGroupNotFound.
func resetError(group, topic string, err error) error {
	var be *BrokerError
	if errors.As(err, &be) && be.Code == remoting.SystemError && strings.Contains(be.Remark, "consumer group") &&
		strings.Contains(be.Remark, "not exist") {
		return fmt.Errorf("instance: reset offset of %s on %s: %w: %w", group, topic, ErrGroupNotFound, err)
	}
	return fmt.Errorf("instance: reset offset of %s on %s: %w", group, topic, err)
}
