package gateway

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// gatewayStatus is the admin API's GET /v1/status: the gateway's listeners, the client
// instance's tables (brokers and their versions, cached routes, groups), every consumer
// with its queues and the running info a broker's GET_CONSUMER_RUNNING_INFO gets, and the
// plugins' states.
type gatewayStatus struct {
	HTTP          string   `json:"http"`
	Admin         string   `json:"admin"`
	Serving       bool     `json:"serving"`
	NameServers   []string `json:"namesrv"`
	ProducerGroup string   `json:"producer_group"`
	DevCluster    bool     `json:"dev_cluster"`
	PluginStore   string   `json:"plugin_store,omitempty"`

	// Client is the client instance; absent before Start.
	Client *clientStatus `json:"client,omitempty"`
	// Consumers are the gateway's consumers, by group.
	Consumers []consumerStatus `json:"consumers"`
	// Plugins are the running plugins, in the chains' order.
	Plugins []pluginState `json:"plugins"`
}

// clientStatus is the client instance (instance.Snapshot).
type clientStatus struct {
	ClientID        string         `json:"client_id"`
	State           string         `json:"state"` // Java's ServiceState: RUNNING, ...
	NameServers     []string       `json:"namesrv"`
	HeartbeatRounds int64          `json:"heartbeat_rounds"`
	Brokers         []brokerStatus `json:"brokers"`
	Routes          []routeStatus  `json:"routes"`
	ProducerGroups  []string       `json:"producer_groups"`
	ConsumerGroups  []string       `json:"consumer_groups"`
}

// brokerStatus is one broker address and the version it answered heartbeats with.
type brokerStatus struct {
	Name        string `json:"name"`
	ID          int64  `json:"id"` // 0: the master
	Addr        string `json:"addr"`
	Version     int32  `json:"version,omitempty"`
	VersionName string `json:"version_name,omitempty"` // "V4_9_4"
}

// routeStatus is a cached topic route.
type routeStatus struct {
	Topic           string             `json:"topic"`
	Brokers         []routeBroker      `json:"brokers"`
	Queues          []routeQueueStatus `json:"queues"`
	PublishQueues   int                `json:"publish_queues"`
	SubscribeQueues int                `json:"subscribe_queues"`
	OrderTopicConf  string             `json:"order_topic_conf,omitempty"`
	// DefaultTopic: the route is TBW102's while the NameServers do not know the topic.
	DefaultTopic string `json:"default_topic,omitempty"`
}

type routeBroker struct {
	Name    string            `json:"name"`
	Cluster string            `json:"cluster"`
	Addrs   map[string]string `json:"addrs"` // by broker id
}

type routeQueueStatus struct {
	Broker      string `json:"broker"`
	ReadQueues  int32  `json:"read_queues"`
	WriteQueues int32  `json:"write_queues"`
	Perm        int32  `json:"perm"`
}

// consumerStatus is a consumer of the gateway (ConsumerStatus: queues with offsets, lag,
// cached counts, locks) and what it answers a broker's GET_CONSUMER_RUNNING_INFO.
type consumerStatus struct {
	ConsumerStatus
	RunningInfo *runningInfo `json:"running_info,omitempty"`
}

// runningInfo is remoting.ConsumerRunningInfo in standard JSON: its queue table, keyed by
// queue objects in fastjson, is a list here; field names inside are Java's.
type runningInfo struct {
	Properties    map[string]string            `json:"properties"`
	Subscriptions []remoting.SubscriptionData  `json:"subscriptions"`
	StatusTable   map[string]consumeRateStatus `json:"status_table"`
	MQTable       []processQueueEntry          `json:"mq_table"`
}

type processQueueEntry struct {
	Queue remoting.MessageQueue     `json:"queue"`
	Info  remoting.ProcessQueueInfo `json:"info"`
}

// consumeRateStatus is remoting.ConsumeStatus with the rates JSON can hold (a NaN or an
// infinity is 0).
type consumeRateStatus struct {
	PullRT            float64 `json:"pullRT"`
	PullTPS           float64 `json:"pullTPS"`
	ConsumeRT         float64 `json:"consumeRT"`
	ConsumeOKTPS      float64 `json:"consumeOKTPS"`
	ConsumeFailedTPS  float64 `json:"consumeFailedTPS"`
	ConsumeFailedMsgs int64   `json:"consumeFailedMsgs"`
}

// pluginState is a running plugin's state, read without the registry's lock so that the
// status answers while an upload compiles (GET /v1/plugins/{name} has the versions).
type pluginState struct {
	Name        string     `json:"name"`
	Slot        string     `json:"slot"`
	Source      string     `json:"source"`            // "file" or "store"
	Version     int        `json:"version,omitempty"` // the stored version; 0 from the file
	SHA256      string     `json:"sha256"`
	Policy      string     `json:"policy"`
	Calls       uint64     `json:"calls"`
	Failures    uint64     `json:"failures"`
	Skipped     uint64     `json:"skipped"`
	Quarantined bool       `json:"quarantined"`
	P99Nanos    int64      `json:"p99_ns"`
	Instances   int        `json:"instances"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// status answers GET /v1/status. It takes no lock Shutdown holds: Shutdown waits for the
// admin requests in flight.
func (g *Gateway) status() any {
	st := gatewayStatus{ProducerGroup: g.cfg.Producer.Group, PluginStore: g.cfg.Plugins.Dir,
		Consumers: []consumerStatus{}, Plugins: g.pluginStates()}
	if s := g.startInfo.Load(); s != nil {
		st.HTTP, st.Admin, st.NameServers, st.DevCluster = s.HTTP, s.Admin, s.NameServers, s.DevCluster
	}
	st.Serving = g.api.serving()
	g.api.mu.Lock()
	inst := g.api.inst // kept while draining: the status still describes it
	g.api.mu.Unlock()
	if inst != nil {
		st.Client = clientStatusOf(inst.Snapshot())
		st.NameServers = st.Client.NameServers
	}
	for _, cs := range g.ConsumerStatuses() {
		c := consumerStatus{ConsumerStatus: cs}
		if inst != nil {
			c.RunningInfo = runningInfoOf(inst.ConsumerRunningInfo(cs.Group))
		}
		st.Consumers = append(st.Consumers, c)
	}
	return st
}

func clientStatusOf(s instance.Snapshot) *clientStatus {
	c := &clientStatus{ClientID: s.ClientID, State: s.State.String(), NameServers: nonNil(s.NameServers),
		HeartbeatRounds: s.HeartbeatRounds, Brokers: []brokerStatus{}, Routes: []routeStatus{},
		ProducerGroups: nonNil(s.ProducerGroups), ConsumerGroups: nonNil(s.ConsumerGroups)}
	for _, b := range s.Brokers {
		c.Brokers = append(c.Brokers, brokerStatus{Name: b.Name, ID: b.ID, Addr: b.Addr, Version: b.Version, VersionName: b.VersionName()})
	}
	for _, r := range s.Routes {
		rs := routeStatus{Topic: r.Topic, PublishQueues: r.PublishQueues, SubscribeQueues: r.SubscribeQueues,
			OrderTopicConf: r.Route.OrderTopicConf, DefaultTopic: r.DefaultTopic, Brokers: []routeBroker{}, Queues: []routeQueueStatus{}}
		for _, b := range r.Route.Brokers {
			rb := routeBroker{Name: b.BrokerName, Cluster: b.Cluster, Addrs: make(map[string]string, len(b.Addrs))}
			for id, a := range b.Addrs {
				rb.Addrs[strconv.FormatInt(id, 10)] = a
			}
			rs.Brokers = append(rs.Brokers, rb)
		}
		slices.SortFunc(rs.Brokers, func(a, b routeBroker) int { return strings.Compare(a.Name, b.Name) })
		for _, q := range r.Route.Queues {
			rs.Queues = append(rs.Queues, routeQueueStatus{Broker: q.BrokerName, ReadQueues: q.ReadQueueNums, WriteQueues: q.WriteQueueNums, Perm: q.Perm})
		}
		slices.SortFunc(rs.Queues, func(a, b routeQueueStatus) int { return strings.Compare(a.Broker, b.Broker) })
		c.Routes = append(c.Routes, rs)
	}
	return c
}

// runningInfoOf converts a consumer's running info; nil stays nil.
func runningInfoOf(ri *remoting.ConsumerRunningInfo) *runningInfo {
	if ri == nil {
		return nil
	}
	out := &runningInfo{Properties: ri.Properties, Subscriptions: nonNil(ri.Subscriptions),
		StatusTable: make(map[string]consumeRateStatus, len(ri.StatusTable)), MQTable: []processQueueEntry{}}
	for topic, s := range ri.StatusTable {
		out.StatusTable[topic] = consumeRateStatus{PullRT: finite(s.PullRT), PullTPS: finite(s.PullTPS), ConsumeRT: finite(s.ConsumeRT),
			ConsumeOKTPS: finite(s.ConsumeOKTPS), ConsumeFailedTPS: finite(s.ConsumeFailedTPS), ConsumeFailedMsgs: s.ConsumeFailedMsgs}
	}
	queues := slices.Collect(maps.Keys(ri.MQTable))
	slices.SortFunc(queues, remoting.MessageQueue.Compare)
	for _, q := range queues {
		out.MQTable = append(out.MQTable, processQueueEntry{Queue: q, Info: ri.MQTable[q]})
	}
	return out
}

// finite replaces what JSON cannot hold by 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// pluginStates describes the running plugins from the current set, lock-free.
func (g *Gateway) pluginStates() []pluginState {
	all := g.plugins.src.set.Load().all
	out := make([]pluginState, 0, len(all))
	for _, e := range all {
		st := e.plugin.Status()
		p := pluginState{Name: e.name, Slot: e.slot.String(), Source: "store", Version: e.version, SHA256: st.SHA256,
			Policy: st.Policy.String(), Calls: st.Calls, Failures: st.Failures, Skipped: st.Skipped, Quarantined: st.Quarantined,
			P99Nanos: int64(st.P99), Instances: st.Instances, LastError: st.LastError}
		if e.fromFile() {
			p.Source = "file"
		}
		if !st.LastErrorAt.IsZero() {
			at := st.LastErrorAt
			p.LastErrorAt = &at
		}
		out = append(out, p)
	}
	return out
}
