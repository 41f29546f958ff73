package namesrv

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// masterID is the broker id of a group's master (Java's MixAll.MASTER_ID).
const masterID = 0

// routeTable is Java's RouteInfoManager: what the NameServer knows of clusters, broker
// groups, their topics and which brokers are alive. Every method is safe for concurrent
// use; seq numbers record insertion order for javaOrder.
type routeTable struct {
	log *slog.Logger

	mu       sync.RWMutex
	seq      uint64
	topics   map[string]*topicQueues      // topicQueueTable: topic -> broker name -> queues
	brokers  map[string]*brokerGroup      // brokerAddrTable: by broker name
	clusters map[string]map[string]uint64 // clusterAddrTable: cluster -> broker name -> seq
	live     map[string]*liveBroker       // brokerLiveTable: by broker address
	filters  map[string][]string          // filterServerTable: by broker address
	changed  chan struct{}                // closed, and replaced, when live changes
}

type topicQueues struct {
	seq    uint64
	queues map[string]*queueEntry // by broker name
}

type queueEntry struct {
	seq  uint64
	data remoting.QueueData
}

type brokerGroup struct {
	seq     uint64
	cluster string
	name    string
	addrs   map[int64]string // broker id -> address
}

// liveBroker is Java's BrokerLiveInfo.
type liveBroker struct {
	last         time.Time // last registration
	version      remoting.DataVersion
	conn         *netpoll.Conn // the connection it registered on
	haServerAddr string
}

func newRouteTable(log *slog.Logger) *routeTable {
	return &routeTable{
		log:      log,
		topics:   map[string]*topicQueues{},
		brokers:  map[string]*brokerGroup{},
		clusters: map[string]map[string]uint64{},
		live:     map[string]*liveBroker{},
		filters:  map[string][]string{},
		changed:  make(chan struct{}),
	}
}

func (t *routeTable) next() uint64 { t.seq++; return t.seq }

// notify wakes waitLive callers; t.mu is held for writing.
func (t *routeTable) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// registration is one REGISTER_BROKER, decoded.
type registration struct {
	cluster, addr, name, haServerAddr string
	id                                int64
	topics                            *remoting.TopicConfigWrapper
	// filterServers is nil when the request had no filter server list (a pre-3.0.11
	// broker), which leaves the table alone; empty removes the broker's entry.
	filterServers []string
	conn          *netpoll.Conn
	now           time.Time
}

// register is RouteInfoManager.registerBroker. It returns, for a slave, the HA address
// and the address of its master when the master is alive.
func (t *routeTable) register(r registration) (haServerAddr, masterAddr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := t.clusters[r.cluster]
	if names == nil {
		names = map[string]uint64{}
		t.clusters[r.cluster] = names
	}
	if _, ok := names[r.name]; !ok {
		names[r.name] = t.next()
	}

	first := false
	g := t.brokers[r.name]
	if g == nil {
		first = true
		g = &brokerGroup{seq: t.next(), cluster: r.cluster, name: r.name, addrs: map[int64]string{}}
		t.brokers[r.name] = g
	}
	// A slave switched to master: the same address must appear once in the group.
	for id, addr := range g.addrs {
		if addr == r.addr && id != r.id {
			delete(g.addrs, id)
		}
	}
	old, had := g.addrs[r.id]
	g.addrs[r.id] = r.addr
	if r.id == masterID && old != r.addr {
		t.log.Info("namesrv: master address changed", "cluster", g.cluster, "broker", g.name,
			"from", old, "to", r.addr)
	}
	first = first || !had

	if r.id == masterID {
		prev := t.live[r.addr]
		if prev == nil || prev.version != r.topics.DataVersion || first {
			// Java iterates the broker's ConcurrentHashMap; name order keeps it deterministic.
			for _, name := range slices.Sorted(maps.Keys(r.topics.Topics)) {
				t.updateQueues(r.name, r.topics.Topics[name])
			}
		}
	}

	if _, ok := t.live[r.addr]; !ok {
		t.log.Info("namesrv: new broker registered", "broker", r.addr, "ha_server", r.haServerAddr)
	}
	t.live[r.addr] = &liveBroker{last: r.now, version: r.topics.DataVersion, conn: r.conn,
		haServerAddr: r.haServerAddr}
	if r.filterServers != nil {
		if len(r.filterServers) == 0 {
			delete(t.filters, r.addr)
		} else {
			t.filters[r.addr] = r.filterServers
		}
	}
	t.notify()

	if r.id != masterID {
		if master := g.addrs[masterID]; master != "" {
			if lb := t.live[master]; lb != nil {
				return lb.haServerAddr, master
			}
		}
	}
	return "", ""
}

// updateQueues is createAndUpdateQueueData.
func (t *routeTable) updateQueues(brokerName string, c remoting.TopicConfig) {
	q := remoting.QueueData{BrokerName: brokerName, Perm: c.Perm, ReadQueueNums: c.ReadQueueNums,
		WriteQueueNums: c.WriteQueueNums, TopicSysFlag: c.TopicSysFlag}
	tq := t.topics[c.TopicName]
	if tq == nil {
		tq = &topicQueues{seq: t.next(), queues: map[string]*queueEntry{}}
		t.topics[c.TopicName] = tq
		t.log.Debug("namesrv: new topic registered", "topic", c.TopicName, "broker", brokerName)
	}
	if e := tq.queues[brokerName]; e != nil {
		e.data = q
		return
	}
	tq.queues[brokerName] = &queueEntry{seq: t.next(), data: q}
}

// unregister is RouteInfoManager.unregisterBroker.
func (t *routeTable) unregister(cluster, addr, name string, id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, wasLive := t.live[addr]
	delete(t.live, addr)
	delete(t.filters, addr)
	t.log.Info("namesrv: broker unregistered", "broker", addr, "was_live", wasLive)
	removeName := false
	if g := t.brokers[name]; g != nil {
		delete(g.addrs, id)
		if len(g.addrs) == 0 {
			delete(t.brokers, name)
			removeName = true
		}
	}
	if removeName {
		if names := t.clusters[cluster]; names != nil {
			delete(names, name)
			if len(names) == 0 {
				delete(t.clusters, cluster)
			}
		}
		t.removeTopicsOf(name)
	}
	t.notify()
}

// removeTopicsOf drops a broker group's queues, and topics left without any.
func (t *routeTable) removeTopicsOf(name string) {
	for topic, tq := range t.topics {
		delete(tq.queues, name)
		if len(tq.queues) == 0 {
			delete(t.topics, topic)
		}
	}
}

// channelDestroyed is RouteInfoManager.onChannelDestroy: the broker that registered on
// conn, or else the one whose address is remoteAddr, is forgotten at once.
func (t *routeTable) channelDestroyed(remoteAddr string, conn *netpoll.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := ""
	if conn != nil {
		for addr, lb := range t.live {
			if lb.conn == conn {
				found = addr
				break
			}
		}
	}
	if found == "" {
		found = remoteAddr
	} else {
		t.log.Info("namesrv: broker connection closed, removing it", "broker", found)
	}
	if found == "" {
		return
	}
	delete(t.live, found)
	delete(t.filters, found)

	nameFound, removeName := "", false
	for _, g := range t.groupsInOrder() {
		for id, addr := range g.addrs {
			if addr == found {
				nameFound = g.name
				delete(g.addrs, id)
				break
			}
		}
		if len(g.addrs) == 0 {
			removeName = true
			delete(t.brokers, g.name)
		}
		if nameFound != "" {
			break
		}
	}
	if nameFound != "" && removeName {
		for cluster, names := range t.clusters {
			if _, ok := names[nameFound]; ok {
				delete(names, nameFound)
				if len(names) == 0 {
					delete(t.clusters, cluster)
				}
				break
			}
		}
	}
	if removeName {
		t.removeTopicsOf(nameFound)
	}
	t.notify()
}

// groupsInOrder returns the broker groups in brokerAddrTable's iteration order.
func (t *routeTable) groupsInOrder() []*brokerGroup {
	ks := make([]seqKey, 0, len(t.brokers))
	for name, g := range t.brokers {
		ks = append(ks, seqKey{name, g.seq})
	}
	names := javaOrder(bySeq(ks), hashTable{initial: 128})
	out := make([]*brokerGroup, len(names))
	for i, n := range names {
		out[i] = t.brokers[n]
	}
	return out
}

// expired removes the brokers that have not registered since before deadline, as
// scanNotActiveBroker does, and returns them so that the caller can close their
// connections and clean up (channelDestroyed) outside the lock.
func (t *routeTable) expired(deadline time.Time) map[string]*netpoll.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string]*netpoll.Conn
	for addr, lb := range t.live {
		if lb.last.Before(deadline) {
			if out == nil {
				out = map[string]*netpoll.Conn{}
			}
			out[addr] = lb.conn
			delete(t.live, addr)
		}
	}
	if out != nil {
		t.notify()
	}
	return out
}

// waitLive returns once a broker with address addr is alive, or when ctx ends.
func (t *routeTable) waitLive(ctx context.Context, addr string) error {
	for {
		t.mu.RLock()
		_, ok := t.live[addr]
		ch := t.changed
		t.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// route is pickupTopicRouteData: nil unless the topic has queues on a known broker group.
func (t *routeTable) route(topic string) *remoting.TopicRouteData {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tq := t.topics[topic]
	if tq == nil {
		return nil
	}
	ks := make([]seqKey, 0, len(tq.queues))
	for name, e := range tq.queues {
		ks = append(ks, seqKey{name, e.seq})
	}
	// queueDataMap is a default HashMap; brokerNameSet a default HashSet filled from its
	// keys, which keeps the same order.
	names := javaOrder(bySeq(ks), defaultTable)
	r := &remoting.TopicRouteData{FilterServers: map[string][]string{}}
	for _, name := range names {
		r.Queues = append(r.Queues, tq.queues[name].data)
	}
	for _, name := range javaOrder(names, defaultTable) {
		g := t.brokers[name]
		if g == nil {
			continue
		}
		r.Brokers = append(r.Brokers, remoting.BrokerData{Addrs: maps.Clone(g.addrs),
			BrokerName: g.name, Cluster: g.cluster})
		if len(t.filters) > 0 {
			for _, addr := range g.addrs {
				if fs, ok := t.filters[addr]; ok {
					r.FilterServers[addr] = fs
				}
			}
		}
	}
	if len(r.Brokers) == 0 {
		return nil
	}
	return r
}

// clusterInfo is getAllClusterInfo.
func (t *routeTable) clusterInfo() *remoting.ClusterInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	info := &remoting.ClusterInfo{Brokers: map[string]remoting.BrokerData{}, Clusters: map[string][]string{}}
	for name, g := range t.brokers {
		info.Brokers[name] = remoting.BrokerData{Addrs: maps.Clone(g.addrs), BrokerName: g.name, Cluster: g.cluster}
	}
	for cluster, names := range t.clusters {
		ks := make([]seqKey, 0, len(names))
		for n, seq := range names {
			ks = append(ks, seqKey{n, seq})
		}
		info.Clusters[cluster] = javaOrder(bySeq(ks), defaultTable)
	}
	return info
}

// topicsInOrder returns the topics in topicQueueTable's iteration order.
func (t *routeTable) topicsInOrder() []string {
	ks := make([]seqKey, 0, len(t.topics))
	for name, tq := range t.topics {
		ks = append(ks, seqKey{name, tq.seq})
	}
	return javaOrder(bySeq(ks), topicQueueTable)
}

// allTopics is getAllTopicList: every topic, in the order of the HashSet it is copied to.
func (t *routeTable) allTopics() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return javaOrder(t.topicsInOrder(), defaultTable)
}

// topicsOfCluster is getTopicsByCluster: the topics with queues on a broker group of the
// cluster. An unknown cluster gives none (Java's NullPointerException, caught and logged).
func (t *routeTable) topicsOfCluster(cluster string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := t.clusters[cluster]
	ks := make([]seqKey, 0, len(names))
	for n, seq := range names {
		ks = append(ks, seqKey{n, seq})
	}
	topics := t.topicsInOrder()
	seen := map[string]bool{}
	var out []string
	for _, name := range javaOrder(bySeq(ks), defaultTable) {
		for _, topic := range topics {
			if _, ok := t.topics[topic].queues[name]; ok && !seen[topic] {
				seen[topic] = true
				out = append(out, topic)
			}
		}
	}
	return javaOrder(out, defaultTable)
}

// deleteTopic is deleteTopic(topic), or deleteTopic(topic, cluster) when cluster is set:
// then only the queues of that cluster's broker groups go.
func (t *routeTable) deleteTopic(topic, cluster string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cluster == "" {
		delete(t.topics, topic)
		return
	}
	tq := t.topics[topic]
	if tq == nil {
		return
	}
	for name := range t.clusters[cluster] {
		delete(tq.queues, name)
	}
	if len(t.clusters[cluster]) > 0 && len(tq.queues) == 0 {
		delete(t.topics, topic)
	}
}

// operateWritePerm is operateWritePermOfBroker: the broker group's queue data of every
// topic loses its write bit (wipe), or becomes read-write (add); it returns how many. The
// change stands until the broker registers a new data version.
func (t *routeTable) operateWritePerm(brokerName string, add bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, tq := range t.topics {
		if e := tq.queues[brokerName]; e != nil {
			if add {
				e.data.Perm = permRead | permWrite
			} else {
				e.data.Perm &^= permWrite
			}
			n++
		}
	}
	return n
}

// PermName bits.
const (
	permWrite = 1 << 1
	permRead  = 1 << 2
)

// systemTopics is getSystemTopicList: each cluster's name then its broker names, into a
// HashSet; and the address of the first broker group's first broker. A cluster's place
// is that of its oldest broker name (the table does not keep the cluster's own).
func (t *routeTable) systemTopics() ([]string, string) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	clusters := make([]seqKey, 0, len(t.clusters))
	for c, names := range t.clusters {
		first := uint64(0)
		for _, seq := range names {
			if first == 0 || seq < first {
				first = seq
			}
		}
		clusters = append(clusters, seqKey{c, first})
	}
	var topics []string
	for _, c := range javaOrder(bySeq(clusters), hashTable{initial: 32}) {
		topics = append(topics, c)
		ks := make([]seqKey, 0, len(t.clusters[c]))
		for n, seq := range t.clusters[c] {
			ks = append(ks, seqKey{n, seq})
		}
		topics = append(topics, javaOrder(bySeq(ks), defaultTable)...)
	}
	addr := ""
	for _, g := range t.groupsInOrder() {
		if len(g.addrs) > 0 { // HashMap<Long, String>: small ids iterate in order
			addr = g.addrs[slices.Min(slices.Collect(maps.Keys(g.addrs)))]
			break
		}
	}
	return javaOrder(topics, defaultTable), addr
}

// topicsWhere is topicQueueTableIter: the topics whose first queue data (in its HashMap's
// order) has a sysflag pick accepts.
func (t *routeTable) topicsWhere(pick func(sysFlag int32) bool) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, topic := range t.topicsInOrder() {
		tq := t.topics[topic]
		ks := make([]seqKey, 0, len(tq.queues))
		for name, e := range tq.queues {
			ks = append(ks, seqKey{name, e.seq})
		}
		if names := javaOrder(bySeq(ks), defaultTable); len(names) > 0 && pick(tq.queues[names[0]].data.TopicSysFlag) {
			out = append(out, topic)
		}
	}
	return javaOrder(out, defaultTable)
}

// queryDataVersion is isBrokerTopicConfigChanged, updateBrokerInfoUpdateTimestamp when
// unchanged, and queryBrokerTopicConfig: the version the table has of the live broker at
// addr (nil when none) and whether v differs from it.
func (t *routeTable) queryDataVersion(addr string, v *remoting.DataVersion, now time.Time) (*remoting.DataVersion, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lb := t.live[addr]
	if lb == nil {
		return nil, true
	}
	changed := v == nil || *v != lb.version
	if !changed {
		lb.last = now
	}
	known := lb.version
	return &known, changed
}
