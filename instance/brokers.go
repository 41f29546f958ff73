package instance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/remoting"
)

// brokerTable holds the address of every broker of the cached routes (Java's
// brokerAddrTable: broker name -> broker id -> address) and the version each broker
// answered heartbeats with (brokerVersionTable). The address table is read on every send,
// so it is an immutable map swapped on change.
type brokerTable struct {
	mu    sync.Mutex // serialises writers of addrs
	addrs atomic.Pointer[map[string]map[int64]string]

	vmu      sync.Mutex
	versions map[string]map[string]int32 // broker name -> address -> version
}

func (b *brokerTable) init() {
	empty := map[string]map[int64]string{}
	b.addrs.Store(&empty)
	b.versions = make(map[string]map[string]int32)
}

func (b *brokerTable) load() map[string]map[int64]string { return *b.addrs.Load() }

// putRoute records the brokers of route, each replacing what was known of its name. It
// reports whether the route named an address its broker did not have in the table.
func (b *brokerTable) putRoute(route *remoting.TopicRouteData) (added bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := maps.Clone(b.load())
	for _, bd := range route.Brokers {
		for _, a := range bd.Addrs {
			if !hasAddr(m[bd.BrokerName], a) {
				added = true
			}
		}
		m[bd.BrokerName] = maps.Clone(bd.Addrs)
	}
	b.addrs.Store(&m)
	return added
}

func hasAddr(ids map[int64]string, addr string) bool {
	for _, a := range ids {
		if a == addr {
			return true
		}
	}
	return false
}

// BrokerAddrs returns a copy of the broker address table: broker name -> id -> address.
func (i *Instance) BrokerAddrs() map[string]map[int64]string {
	m := maps.Clone(i.brokers.load())
	for k, v := range m {
		m[k] = maps.Clone(v)
	}
	return m
}

// FindBrokerAddrInPublish returns the master address of brokerName, "" when unknown
// (Java's findBrokerAddressInPublish). Allocation free: it is on every send's path.
func (i *Instance) FindBrokerAddrInPublish(brokerName string) string {
	return i.brokers.load()[brokerName][0]
}

// FindBrokerResult is a broker found for pulling: its address, whether it is a slave,
// and the version it answered heartbeats with (0 when unknown).
type FindBrokerResult struct {
	Addr    string
	Slave   bool
	Version int32
}

// FindBrokerAddrInSubscribe returns the address of broker brokerID of brokerName, as
// Java's findBrokerAddressInSubscribe: that broker; for a slave not known, the next id;
// unless onlyThisBroker, any broker of the name (the lowest id) when neither is known.
func (i *Instance) FindBrokerAddrInSubscribe(brokerName string, brokerID int64, onlyThisBroker bool) (FindBrokerResult, bool) {
	ids := i.brokers.load()[brokerName]
	if len(ids) == 0 {
		return FindBrokerResult{}, false
	}
	addr, ok := ids[brokerID]
	slave := brokerID != 0
	if !ok && slave {
		addr, ok = ids[brokerID+1]
	}
	if !ok && !onlyThisBroker {
		id := slices.Min(slices.Collect(maps.Keys(ids)))
		addr, slave, ok = ids[id], id != 0, true
	}
	if !ok {
		return FindBrokerResult{}, false
	}
	return FindBrokerResult{Addr: addr, Slave: slave, Version: i.BrokerVersion(brokerName, addr)}, true
}

// FindBrokerAddrByTopic returns the address of a broker serving topic's cached route:
// a random broker group's master, or any of its brokers when it has none (Java's
// findBrokerAddrByTopic with BrokerData.selectBrokerAddr). "" when there is no route.
func (i *Instance) FindBrokerAddrByTopic(topic string) string {
	route := i.TopicRoute(topic)
	if route == nil || len(route.Brokers) == 0 {
		return ""
	}
	bd := &route.Brokers[rand.IntN(len(route.Brokers))]
	if a := bd.MasterAddr(); a != "" {
		return a
	}
	addrs := slices.Collect(maps.Values(bd.Addrs))
	if len(addrs) == 0 {
		return ""
	}
	return addrs[rand.IntN(len(addrs))]
}

// FindConsumerIDList returns the client ids of group's consumers, asking a broker of
// topic's route, updating the route first when none is cached (Java's
// findConsumerIdList).
func (i *Instance) FindConsumerIDList(ctx context.Context, topic, group string) ([]string, error) {
	addr := i.FindBrokerAddrByTopic(topic)
	if addr == "" {
		if _, err := i.UpdateTopicRoute(ctx, topic); err != nil {
			return nil, err
		}
		if addr = i.FindBrokerAddrByTopic(topic); addr == "" {
			return nil, fmt.Errorf("instance: consumers of %s: no broker for topic %s: %w", group, topic, ErrNoRoute)
		}
	}
	return i.GetConsumerIDList(ctx, addr, group)
}

// BrokerVersion returns the version the broker at addr (of brokerName) answered the last
// heartbeat with; 0 when unknown.
func (i *Instance) BrokerVersion(brokerName, addr string) int32 {
	i.brokers.vmu.Lock()
	defer i.brokers.vmu.Unlock()
	return i.brokers.versions[brokerName][addr]
}

// cleanOfflineBrokers removes from the broker table the addresses no cached route lists
// any more, and the names left without address (Java's cleanOfflineBroker); their
// versions are forgotten and their connections closed.
func (i *Instance) cleanOfflineBrokers() {
	// Under the routes' apply lock (Java's lockNamesrv): applyRoute puts a new route's
	// brokers into the table before it stores the route, and a changed route is applied
	// once, so a broker removed in between would stay missing until the route changes.
	i.routes.apply.Lock()
	live := make(map[string]bool)
	i.routes.mu.RLock()
	for _, e := range i.routes.entries {
		for _, bd := range e.route.Brokers {
			for _, a := range bd.Addrs {
				live[a] = true
			}
		}
	}
	i.routes.mu.RUnlock()

	b := &i.brokers
	b.mu.Lock()
	var gone []string
	m := make(map[string]map[int64]string)
	type nameAddr struct{ name, addr string }
	inTable := make(map[nameAddr]bool) // m's pairs, for the versions below
	for name, ids := range b.load() {
		kept := make(map[int64]string, len(ids))
		for id, a := range ids {
			if live[a] {
				kept[id] = a
				inTable[nameAddr{name, a}] = true
			} else {
				gone = append(gone, a)
				i.log.Info("instance: broker offline, removed", "broker", name, "id", id, "addr", a)
			}
		}
		if len(kept) > 0 {
			m[name] = kept
		}
	}
	b.addrs.Store(&m)
	b.mu.Unlock()
	i.routes.apply.Unlock()

	// Versions are kept for the table's (name, address) pairs only: an address a route
	// replaced (a broker moved, its name kept) left the table with the route, not above,
	// and its version and connection would otherwise stay for ever.
	b.vmu.Lock()
	for name, byAddr := range b.versions {
		for a := range byAddr {
			if !inTable[nameAddr{name, a}] {
				delete(byAddr, a)
				if !live[a] {
					gone = append(gone, a)
				}
			}
		}
		if len(byAddr) == 0 {
			delete(b.versions, name)
		}
	}
	b.vmu.Unlock()
	slices.Sort(gone)
	if cl := i.client.Load(); cl != nil {
		for _, a := range slices.Compact(gone) {
			cl.CloseConn(a)
		}
	}
}

// heartbeatData is the heartbeat of this client: every consumer and producer group, in
// group order (Java's prepareHeartbeatData).
func (i *Instance) heartbeatData() *remoting.HeartbeatData {
	hb := &remoting.HeartbeatData{ClientID: i.clientID}
	for _, c := range i.groups.consumerList() {
		hb.Consumers = append(hb.Consumers, c.ConsumerData())
	}
	for _, p := range i.groups.producerList() {
		hb.Producers = append(hb.Producers, remoting.ProducerData{GroupName: p.Group()})
	}
	return hb
}

// triggerHeartbeat asks the heartbeat task for a round at once; requests made while one
// is pending are merged. Before Start it does nothing: Start sends the first round.
func (i *Instance) triggerHeartbeat() {
	i.ownMu.Lock()
	started := i.ctx != nil && !i.stopping
	i.ownMu.Unlock()
	if !started {
		return
	}
	select {
	case i.heartbeatNow <- struct{}{}:
	default:
	}
}

// SendHeartbeat sends this client's heartbeat, with every group registered when it
// starts, to every known broker and waits for the answers (Java's
// sendHeartbeatToAllBrokerWithLock), recording each broker's version. With no consumer
// registered only masters get it, as in Java. It reports the brokers that failed.
//
// Rounds run one at a time. Java skips a round when one is under way (tryLock), which can
// leave a group that registers meanwhile unannounced for a whole period; here a round
// waits for the one under way, while ctx allows, so that its caller knows its groups
// reached the brokers when it returns.
func (i *Instance) SendHeartbeat(ctx context.Context) error {
	select {
	case i.heartbeatSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-i.heartbeatSem }()
	hb := i.heartbeatData()
	if len(hb.Consumers) == 0 && len(hb.Producers) == 0 {
		i.log.Debug("instance: no producer nor consumer, no heartbeat")
		return nil
	}
	body := hb.Encode()
	round := i.heartbeats.Add(1)

	type target struct {
		name, addr string
		id         int64
	}
	var targets []target
	for name, ids := range i.brokers.load() {
		for id, a := range ids {
			if len(hb.Consumers) == 0 && id != 0 {
				continue
			}
			targets = append(targets, target{name, a, id})
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for k, t := range targets {
		wg.Go(func() {
			req := i.request(remoting.Heartbeat, nil)
			req.Body = body
			version, err := i.heartbeat(ctx, t.addr, req)
			if err != nil {
				errs[k] = err
				i.log.Warn("instance: heartbeat failed", "broker", t.name, "id", t.id, "addr", t.addr, "err", err)
				return
			}
			i.brokers.vmu.Lock()
			if i.brokers.versions[t.name] == nil {
				i.brokers.versions[t.name] = make(map[string]int32, 4)
			}
			i.brokers.versions[t.name][t.addr] = version
			i.brokers.vmu.Unlock()
			if round%20 == 1 {
				i.log.Info("instance: heartbeat sent", "broker", t.name, "id", t.id, "addr", t.addr, "version", version)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// unregisterFromBrokers sends UNREGISTER_CLIENT for each producer and each consumer group
// to every known broker, brokers in parallel (Java's unregisterClient, once per group).
func (i *Instance) unregisterFromBrokers(ctx context.Context, producers, consumers []string) error {
	var addrs []string
	for _, ids := range i.brokers.load() {
		for _, a := range ids {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for k, a := range addrs {
		wg.Go(func() {
			var es []error
			for _, g := range producers {
				if err := i.UnregisterClient(ctx, a, g, ""); err != nil {
					es = append(es, err)
				}
			}
			for _, g := range consumers {
				if err := i.UnregisterClient(ctx, a, "", g); err != nil {
					es = append(es, err)
				}
			}
			errs[k] = errors.Join(es...)
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		i.log.Warn("instance: unregistering from brokers", "producers", producers, "consumers", consumers, "err", err)
	}
	return err
}

// unregisterAllGroups unregisters every group from every broker, at Shutdown.
func (i *Instance) unregisterAllGroups(ctx context.Context) {
	var producers, consumers []string
	for _, p := range i.groups.producerList() {
		producers = append(producers, p.Group())
	}
	for _, c := range i.groups.consumerList() {
		consumers = append(consumers, c.Group())
	}
	if len(producers)+len(consumers) > 0 {
		_ = i.unregisterFromBrokers(ctx, producers, consumers)
	}
}
