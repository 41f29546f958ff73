package instance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Permission bits of QueueData.Perm, Java's PermName.
const (
	permWrite = 1 << 1
	permRead  = 1 << 2
)

// TopicPublishInfo is where a topic can be sent: Java's TopicPublishInfo without the
// producer's queue cursor. It is built from a route and never modified afterwards: share
// it, do not change it.
type TopicPublishInfo struct {
	Topic string
	// OrderTopic: the queues come from the route's orderTopicConf.
	OrderTopic bool
	// Queues are the writable queues of the brokers with a master, in the order Java
	// builds them: brokers by name, then queue ids.
	Queues []MessageQueue
	Route  *remoting.TopicRouteData
}

// OK reports whether there is a queue to send to (Java's TopicPublishInfo.ok).
func (p *TopicPublishInfo) OK() bool { return p != nil && len(p.Queues) > 0 }

// PublishInfoFromRoute builds a topic's publish info from its route, as Java's
// MQClientInstance.topicRouteData2TopicPublishInfo: from orderTopicConf
// ("broker:queues;...") when set, else, for each queue data sorted by broker name, the
// writable queues (0 to writeQueueNums-1) of brokers that have a master.
func PublishInfoFromRoute(topic string, route *remoting.TopicRouteData) *TopicPublishInfo {
	info := &TopicPublishInfo{Topic: topic, Route: route}
	if route.OrderTopicConf != "" {
		info.OrderTopic = true
		for _, item := range strings.Split(route.OrderTopicConf, ";") {
			broker, nums, ok := strings.Cut(item, ":")
			n, err := strconv.Atoi(nums)
			if !ok || err != nil {
				continue // Java would fail on it; one bad entry should not hide the others
			}
			for q := 0; q < n; q++ {
				info.Queues = append(info.Queues, MessageQueue{Topic: topic, BrokerName: broker, QueueID: int32(q)})
			}
		}
		return info
	}
	qds := slices.Clone(route.Queues)
	slices.SortStableFunc(qds, func(a, b remoting.QueueData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	for _, qd := range qds {
		if qd.Perm&permWrite == 0 {
			continue
		}
		bd := findBroker(route, qd.BrokerName)
		if bd == nil || bd.MasterAddr() == "" {
			continue
		}
		for q := int32(0); q < qd.WriteQueueNums; q++ {
			info.Queues = append(info.Queues, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: q})
		}
	}
	return info
}

// SubscribeInfoFromRoute returns the readable queues of a topic's route (Java's
// topicRouteData2TopicSubscribeInfo), sorted as MessageQueue.Compare orders them.
func SubscribeInfoFromRoute(topic string, route *remoting.TopicRouteData) []MessageQueue {
	var qs []MessageQueue
	for _, qd := range route.Queues {
		if qd.Perm&permRead == 0 {
			continue
		}
		for q := int32(0); q < qd.ReadQueueNums; q++ {
			qs = append(qs, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: q})
		}
	}
	slices.SortFunc(qs, MessageQueue.Compare)
	return slices.CompactFunc(qs, func(a, b MessageQueue) bool { return a == b })
}

func findBroker(route *remoting.TopicRouteData, name string) *remoting.BrokerData {
	for k := range route.Brokers {
		if route.Brokers[k].BrokerName == name {
			return &route.Brokers[k]
		}
	}
	return nil
}

// routeTable caches the route of every topic the instance asked for. Entries are
// immutable: an update replaces the entry.
type routeTable struct {
	mu      sync.RWMutex
	entries map[string]*routeEntry

	// apply serialises applying fetched routes and the callbacks that follow, so that
	// producers and consumers see a topic's routes in the order they were stored, and
	// with cleanOfflineBrokers, which must not see a route's brokers before the route.
	apply sync.Mutex

	flightMu sync.Mutex
	flights  map[string]*routeFlight
}

type routeEntry struct {
	route     *remoting.TopicRouteData
	publish   *TopicPublishInfo
	subscribe []MessageQueue
	// fromDefault is the default topic and queue count the route was derived from, for a
	// topic the NameServers did not know yet; refreshes keep deriving it until they do.
	fromDefault routeOrigin
}

// routeOrigin says where a cached route came from: the topic's own route (zero), or a
// default topic's with a queue count.
type routeOrigin struct {
	defaultTopic string
	queueNums    int32
}

// routeFlight is one route update in progress; concurrent callers for the same topic
// share it.
type routeFlight struct {
	done    chan struct{}
	changed bool
	err     error
}

func (t *routeTable) init() {
	t.entries = make(map[string]*routeEntry)
	t.flights = make(map[string]*routeFlight)
}

func (t *routeTable) get(topic string) *routeEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.entries[topic]
}

// TopicRoute returns the cached route of topic, nil when there is none. Do not modify it.
// The cache is kept when the NameServers cannot be reached.
func (i *Instance) TopicRoute(topic string) *remoting.TopicRouteData {
	if e := i.routes.get(topic); e != nil {
		return e.route
	}
	return nil
}

// PublishInfo returns the publish info of topic's cached route, nil when there is none.
func (i *Instance) PublishInfo(topic string) *TopicPublishInfo {
	if e := i.routes.get(topic); e != nil {
		return e.publish
	}
	return nil
}

// SubscribeInfo returns the readable queues of topic's cached route, sorted; nil when
// there is no route. Do not modify the slice.
func (i *Instance) SubscribeInfo(topic string) []MessageQueue {
	if e := i.routes.get(topic); e != nil {
		return e.subscribe
	}
	return nil
}

// RouteTopics returns the topics with a cached route, sorted.
func (i *Instance) RouteTopics() []string {
	i.routes.mu.RLock()
	defer i.routes.mu.RUnlock()
	return slices.Sorted(maps.Keys(i.routes.entries))
}

// UpdateTopicRoute fetches topic's route from a NameServer and, when it differs from the
// cached one, stores it, updates the broker address table and hands the new publish and
// subscribe info to every producer and consumer (Java's
// updateTopicRouteInfoFromNameServer(topic)). It reports whether the route changed. On an
// error the cached route, if any, stays: PublishInfo and SubscribeInfo keep serving it.
// Concurrent updates of one topic share one request.
func (i *Instance) UpdateTopicRoute(ctx context.Context, topic string) (bool, error) {
	return i.updateRoute(ctx, topic, "", 0)
}

// UpdateTopicRouteFromDefault stores, as topic's route, the route of defaultTopic
// (TBW102) with every broker's read and write queue counts cut to queueNums: where a
// producer sends a topic the brokers do not know yet, which a broker with
// autoCreateTopicEnable creates from defaultTopic on the first message (Java's
// updateTopicRouteInfoFromNameServer(topic, true, producer), with the producer's
// createTopicKey and defaultTopicQueueNums).
func (i *Instance) UpdateTopicRouteFromDefault(ctx context.Context, topic, defaultTopic string, queueNums int32) (bool, error) {
	if defaultTopic == "" {
		defaultTopic = message.AutoCreateTopicKey
	}
	if queueNums <= 0 {
		return false, fmt.Errorf("instance: route of %s from %s: queue count %d is not positive", topic, defaultTopic, queueNums)
	}
	return i.updateRoute(ctx, topic, defaultTopic, queueNums)
}

func (i *Instance) updateRoute(ctx context.Context, topic, defaultTopic string, queueNums int32) (bool, error) {
	key := topic + "\x00" + defaultTopic + "\x00" + strconv.Itoa(int(queueNums))
	t := &i.routes
	t.flightMu.Lock()
	if f := t.flights[key]; f != nil {
		t.flightMu.Unlock()
		select {
		case <-f.done:
			return f.changed, f.err
		case <-ctx.Done():
			return false, waitError(ctx, "route of "+topic)
		}
	}
	f := &routeFlight{done: make(chan struct{})}
	t.flights[key] = f
	t.flightMu.Unlock()

	fetch := func(ctx context.Context) {
		f.changed, f.err = i.fetchAndApplyRoute(ctx, topic, defaultTopic, queueNums)
		t.flightMu.Lock()
		delete(t.flights, key)
		t.flightMu.Unlock()
		close(f.done)
	}
	// The fetch is every waiting caller's, not the first one's: it runs under none of
	// their cancellations (the first's values kept: its span is the fetch's parent),
	// bounded by the request timeout and the instance's life, and each caller waits under
	// its own context, so that one giving up (its client gone) fails no other.
	if !i.goOwned(func(life context.Context) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.cfg.RequestTimeout)
		stop := context.AfterFunc(life, cancel)
		defer func() { stop(); cancel() }()
		fetch(fctx)
	}) {
		fetch(ctx) // not started, or shutting down: the caller's alone
	}
	select {
	case <-f.done:
		return f.changed, f.err
	case <-ctx.Done():
		return false, waitError(ctx, "route of "+topic)
	}
}

// waitError is the error of a caller whose context ended while it waited for what: a
// timeout (ErrTimeout, as a request's, and context.DeadlineExceeded) or the cancellation.
func waitError(ctx context.Context, what string) error {
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("instance: %s: %w", what, err)
	}
	return fmt.Errorf("instance: %s: %w (%w)", what, ErrTimeout, context.DeadlineExceeded)
}

func (i *Instance) fetchAndApplyRoute(ctx context.Context, topic, defaultTopic string, queueNums int32) (bool, error) {
	var route *remoting.TopicRouteData
	var err error
	if defaultTopic != "" {
		route, err = i.GetRouteInfo(ctx, defaultTopic)
		if err != nil {
			return false, fmt.Errorf("instance: route of %s from %s: %w", topic, defaultTopic, err)
		}
		for k := range route.Queues {
			n := min(queueNums, route.Queues[k].ReadQueueNums)
			route.Queues[k].ReadQueueNums, route.Queues[k].WriteQueueNums = n, n
		}
	} else if route, err = i.GetRouteInfo(ctx, topic); err != nil {
		return false, err
	}
	return i.applyRoute(topic, route, routeOrigin{defaultTopic, queueNums}), nil
}

// applyRoute stores route as topic's route when it differs from the cached one, then
// updates the broker table and the producers and consumers.
func (i *Instance) applyRoute(topic string, route *remoting.TopicRouteData, origin routeOrigin) bool {
	t := &i.routes
	t.apply.Lock()
	defer t.apply.Unlock()
	old := t.get(topic)
	if old != nil && routeEqual(old.route, route) {
		if old.fromDefault != origin { // same queues, now known by their own name
			e := *old
			e.fromDefault = origin
			t.mu.Lock()
			t.entries[topic] = &e
			t.mu.Unlock()
		}
		return false
	}
	e := &routeEntry{
		route:       route,
		publish:     PublishInfoFromRoute(topic, route),
		subscribe:   SubscribeInfoFromRoute(topic, route),
		fromDefault: origin,
	}
	added := i.brokers.putRoute(route)
	t.mu.Lock()
	t.entries[topic] = e
	t.mu.Unlock()
	i.log.Info("instance: topic route changed", "topic", topic, "queues", len(e.publish.Queues),
		"brokers", len(route.Brokers))
	for _, p := range i.groups.producerList() {
		p.UpdateTopicPublishInfo(topic, e.publish)
	}
	for _, c := range i.groups.consumerList() {
		c.UpdateTopicSubscribeInfo(topic, e.subscribe)
	}
	if added {
		// A broker new to the table (added, or restarted elsewhere) knows no client: until
		// it has a heartbeat it leaves the consumers out of their peers' rebalances and
		// cannot reach the producers for transaction checks. The first round after Start
		// comes from here too: the table is empty until the first routes.
		i.triggerHeartbeat()
	}
	return true
}

// routeEqual compares two routes whatever the order of their brokers and queue data, as
// Java's topicRouteDataIsChange (which sorts both lists).
func routeEqual(a, b *remoting.TopicRouteData) bool {
	if a.OrderTopicConf != b.OrderTopicConf || len(a.Brokers) != len(b.Brokers) || len(a.Queues) != len(b.Queues) {
		return false
	}
	qa, qb := sortedQueueData(a.Queues), sortedQueueData(b.Queues)
	if !slices.Equal(qa, qb) {
		return false
	}
	ba, bb := sortedBrokers(a.Brokers), sortedBrokers(b.Brokers)
	for k := range ba {
		if ba[k].BrokerName != bb[k].BrokerName || ba[k].Cluster != bb[k].Cluster || !maps.Equal(ba[k].Addrs, bb[k].Addrs) {
			return false
		}
	}
	if len(a.FilterServers) != len(b.FilterServers) {
		return false
	}
	for k, v := range a.FilterServers {
		if w, ok := b.FilterServers[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func sortedQueueData(qs []remoting.QueueData) []remoting.QueueData {
	qs = slices.Clone(qs)
	slices.SortFunc(qs, func(x, y remoting.QueueData) int {
		return cmp.Or(strings.Compare(x.BrokerName, y.BrokerName), cmp.Compare(x.Perm, y.Perm),
			cmp.Compare(x.ReadQueueNums, y.ReadQueueNums), cmp.Compare(x.WriteQueueNums, y.WriteQueueNums),
			cmp.Compare(x.TopicSysFlag, y.TopicSysFlag))
	})
	return qs
}

func sortedBrokers(bs []remoting.BrokerData) []remoting.BrokerData {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(x, y remoting.BrokerData) int {
		return cmp.Or(strings.Compare(x.BrokerName, y.BrokerName), strings.Compare(x.Cluster, y.Cluster))
	})
	return bs
}

// refreshRoutes updates the route of every topic in use (Java's scheduled
// updateTopicRouteInfoFromNameServer()). A topic whose cached route was derived from a
// default topic (UpdateTopicRouteFromDefault) and that the NameServers still do not know
// is derived again, so that it follows the default topic's brokers; Java leaves it as it
// was. When no NameServer can be reached the round stops early: the other topics would fail
// the same way, and their cached routes stay in use.
func (i *Instance) refreshRoutes(ctx context.Context) {
	for _, topic := range i.topicsInUse() {
		if ctx.Err() != nil {
			return
		}
		_, err := i.UpdateTopicRoute(ctx, topic)
		if e := i.routes.get(topic); errors.Is(err, ErrTopicNotExist) && e != nil && e.fromDefault.defaultTopic != "" {
			_, err = i.updateRoute(ctx, topic, e.fromDefault.defaultTopic, e.fromDefault.queueNums)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrNameServerUnreachable), errors.Is(err, ErrNoNameServer):
			i.log.Warn("instance: route refresh: no NameServer reachable; keeping the cached routes", "err", err)
			return
		case errors.Is(err, ErrTopicNotExist) &&
			(strings.HasPrefix(topic, message.RetryTopicPrefix) || topic == message.AutoCreateTopicKey):
			// As Java: retry topics appear with the first retry, TBW102 may be absent.
		default:
			i.log.Warn("instance: route refresh failed", "topic", topic, "err", err)
		}
	}
}
