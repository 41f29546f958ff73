package instance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Producer is what the instance needs of a producer group (Java's MQProducerInner).
// Methods are called from the instance's goroutines and must return quickly.
type Producer interface {
	// Group is the producer group, registered once per instance.
	Group() string
	// PublishTopics returns the topics the producer sends to, whose routes are refreshed
	// every PollNameServerInterval.
	PublishTopics() []string
	// UpdateTopicPublishInfo is called whenever a topic's route changes (for every topic
	// and every producer, as Java does: a producer ignores topics it does not use). It
	// must not block nor call back into UpdateTopicRoute.
	UpdateTopicPublishInfo(topic string, info *TopicPublishInfo)
	// CheckTransactionState answers a broker's CHECK_TRANSACTION_STATE about a half
	// message of this group sent from brokerAddr: the producer asks its transaction
	// listener and answers with EndTransactionOneway (Java's checkTransactionState).
	// It runs on the transport's handler pool: hand the work to a goroutine of your own.
	// ctx ends when the instance shuts down.
	CheckTransactionState(ctx context.Context, brokerAddr string, msg *message.Ext, h *remoting.CheckTransactionStateRequest)
}

// Consumer is what the instance needs of a consumer group (Java's MQConsumerInner plus
// what ClientRemotingProcessor asks of DefaultMQPushConsumerImpl). Methods are called from
// the instance's goroutines: the transport's handler pool for the broker-initiated
// requests, the periodic tasks for the others.
type Consumer interface {
	// Group is the consumer group, registered once per instance.
	Group() string
	// ConsumerData is the group's entry in heartbeats: consume type, message model, where
	// to start, subscriptions (whose topics have their routes refreshed every
	// PollNameServerInterval), unit mode.
	ConsumerData() remoting.ConsumerData
	// UpdateTopicSubscribeInfo is called whenever a topic's route changes, with the
	// topic's readable queues sorted (for every topic and every consumer: a consumer
	// ignores topics it does not subscribe to). It must not block nor call back into
	// UpdateTopicRoute.
	UpdateTopicSubscribeInfo(topic string, queues []MessageQueue)
	// RebalanceImmediately asks for a rebalance of the group at once: the broker said its
	// consumers changed (NOTIFY_CONSUMER_IDS_CHANGED; Java's rebalanceImmediately). It must
	// not block: wake the consumer's rebalance loop.
	RebalanceImmediately()
	// PersistOffsets stores the group's consumed offsets (every PersistOffsetInterval and
	// at Shutdown).
	PersistOffsets(ctx context.Context) error
	// RunningInfo answers GET_CONSUMER_RUNNING_INFO: properties, subscriptions, queues and
	// statistics; nil makes the instance answer that the group is not here. The instance
	// adds the PROP_NAMESERVER_ADDR, PROP_CONSUME_TYPE and PROP_CLIENT_VERSION properties
	// and, when asked, a goroutine dump as the jstack, to a copy.
	RunningInfo() *remoting.ConsumerRunningInfo
	// ResetOffset moves the group's offsets of topic's queues to offsets
	// (RESET_CONSUMER_CLIENT_OFFSET; Java's MQClientInstance.resetOffset). It runs on a
	// goroutine of its own under a context that ends when the instance shuts down.
	ResetOffset(ctx context.Context, topic string, offsets map[MessageQueue]int64)
	// OffsetTable answers GET_CONSUMER_STATUS_FROM_CLIENT: the group's offsets of topic's
	// queues.
	OffsetTable(topic string) map[MessageQueue]int64
	// ConsumeMessageDirectly consumes msg, pulled by an admin from brokerName, and reports
	// how it went (CONSUME_MESSAGE_DIRECTLY); nil when the consumer cannot (Java answers
	// SYSTEM_ERROR then). It runs on the transport's handler pool.
	ConsumeMessageDirectly(ctx context.Context, msg *message.Ext, brokerName string) *remoting.ConsumeMessageDirectlyResult
}

// groupTable holds the registered producer and consumer groups.
type groupTable struct {
	mu        sync.RWMutex
	producers map[string]Producer
	consumers map[string]Consumer
}

func (g *groupTable) init() {
	g.producers = make(map[string]Producer)
	g.consumers = make(map[string]Consumer)
}

func (g *groupTable) producer(group string) Producer {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.producers[group]
}

func (g *groupTable) consumer(group string) Consumer {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.consumers[group]
}

// producerList returns the producers ordered by group.
func (g *groupTable) producerList() []Producer {
	g.mu.RLock()
	ps := make([]Producer, 0, len(g.producers))
	for _, p := range g.producers {
		ps = append(ps, p)
	}
	g.mu.RUnlock()
	slices.SortFunc(ps, func(a, b Producer) int { return strings.Compare(a.Group(), b.Group()) })
	return ps
}

// consumerList returns the consumers ordered by group.
func (g *groupTable) consumerList() []Consumer {
	g.mu.RLock()
	cs := make([]Consumer, 0, len(g.consumers))
	for _, c := range g.consumers {
		cs = append(cs, c)
	}
	g.mu.RUnlock()
	slices.SortFunc(cs, func(a, b Consumer) int { return strings.Compare(a.Group(), b.Group()) })
	return cs
}

// RegisterProducer adds p's group to the producer table and, when the instance is
// running, asks for a heartbeat to every broker at once (Java: registerProducer, then
// sendHeartbeatToAllBrokerWithLock; before Start, Start sends the first one). It fails with
// ErrGroupRegistered for a group registered already, with a *StateError after Shutdown,
// and for an invalid group name (message.ValidateGroup).
func (i *Instance) RegisterProducer(p Producer) error {
	group := p.Group()
	if err := i.checkRegister("register producer", group); err != nil {
		return err
	}
	i.groups.mu.Lock()
	if _, ok := i.groups.producers[group]; ok {
		i.groups.mu.Unlock()
		return fmt.Errorf("instance %s: producer group %s: %w", i.clientID, group, ErrGroupRegistered)
	}
	i.groups.producers[group] = p
	i.groups.mu.Unlock()
	i.log.Info("instance: producer registered", "group", group)
	i.triggerHeartbeat()
	return nil
}

// RegisterConsumer adds c's group to the consumer table and asks for a heartbeat to every
// broker at once; see RegisterProducer. A consumer usually updates its topics' routes
// (UpdateTopicRoute) and calls SendHeartbeat itself before its first rebalance, as Java's
// DefaultMQPushConsumerImpl.start does.
func (i *Instance) RegisterConsumer(c Consumer) error {
	group := c.Group()
	if err := i.checkRegister("register consumer", group); err != nil {
		return err
	}
	i.groups.mu.Lock()
	if _, ok := i.groups.consumers[group]; ok {
		i.groups.mu.Unlock()
		return fmt.Errorf("instance %s: consumer group %s: %w", i.clientID, group, ErrGroupRegistered)
	}
	i.groups.consumers[group] = c
	i.groups.mu.Unlock()
	i.log.Info("instance: consumer registered", "group", group)
	i.triggerHeartbeat()
	return nil
}

func (i *Instance) checkRegister(op, group string) error {
	if st := i.State(); st == ShutDown || st == StartFailed {
		return &StateError{ClientID: i.clientID, Op: op + " " + group, State: st}
	}
	if err := message.ValidateGroup(group); err != nil {
		return fmt.Errorf("instance %s: %s: %w", i.clientID, op, err)
	}
	return nil
}

// UnregisterProducer removes the producer group and, when running, unregisters it from
// every broker (UNREGISTER_CLIENT, as Java's unregisterProducer). The group is removed
// whatever the brokers answer; the error reports those that failed (a broker that is down
// forgets the client by itself). It fails with ErrGroupNotRegistered for an unknown group.
// As UnregisterConsumer, it waits for a heartbeat round under way: a broker that applied a
// heartbeat carrying the group after UNREGISTER_CLIENT would send the group's transaction
// checks here until it expired the client.
func (i *Instance) UnregisterProducer(ctx context.Context, group string) error {
	return i.unregister(ctx, group, false)
}

// UnregisterConsumer removes the consumer group and unregisters it from every broker; see
// UnregisterProducer. As Java's unregisterClientWithLock, it waits (while ctx allows) for
// a heartbeat round under way and holds the next ones back until it is done: a heartbeat
// carrying the group that reached a broker after UNREGISTER_CLIENT would register the
// group's consumer again, and its peers would rebalance around it until the broker
// expires it.
func (i *Instance) UnregisterConsumer(ctx context.Context, group string) error {
	return i.unregister(ctx, group, true)
}

// unregister is UnregisterProducer, or UnregisterConsumer for a consumer group.
func (i *Instance) unregister(ctx context.Context, group string, consumer bool) error {
	select {
	case i.heartbeatSem <- struct{}{}:
		defer func() { <-i.heartbeatSem }()
	case <-ctx.Done(): // leave all the same
	}
	kind, ok := "producer", false
	i.groups.mu.Lock()
	if consumer {
		kind = "consumer"
		_, ok = i.groups.consumers[group]
		delete(i.groups.consumers, group)
	} else {
		_, ok = i.groups.producers[group]
		delete(i.groups.producers, group)
	}
	i.groups.mu.Unlock()
	if !ok {
		return fmt.Errorf("instance %s: %s group %s: %w", i.clientID, kind, group, ErrGroupNotRegistered)
	}
	i.log.Info("instance: "+kind+" unregistered", "group", group)
	if i.State() != Running {
		return nil
	}
	if consumer {
		return i.unregisterFromBrokers(ctx, nil, []string{group})
	}
	return i.unregisterFromBrokers(ctx, []string{group}, nil)
}

// Producer returns the registered producer of group, or nil.
func (i *Instance) Producer(group string) Producer { return i.groups.producer(group) }

// Consumer returns the registered consumer of group, or nil.
func (i *Instance) Consumer(group string) Consumer { return i.groups.consumer(group) }

// topicsInUse returns the topics of every producer and of every consumer's subscriptions,
// sorted, each once (Java's updateTopicRouteInfoFromNameServer()).
func (i *Instance) topicsInUse() []string {
	var topics []string
	for _, c := range i.groups.consumerList() {
		for _, s := range c.ConsumerData().Subscriptions {
			topics = append(topics, s.Topic)
		}
	}
	for _, p := range i.groups.producerList() {
		topics = append(topics, p.PublishTopics()...)
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}
