package remoting

import "slices"

// TopicRouteData is the body of the answer to GET_ROUTEINFO_BY_TOPIC (105), Java's
// TopicRouteData: which brokers serve a topic and how many queues each has.
//
// A 4.9.4 NameServer writes it in one of two ways (DefaultRequestProcessor.
// getRouteInfoByTopic): to a client of version 4.9.4 or later, or one that asks with
// acceptStandardJsonOnly, as standard JSON (EncodeStandard, broker ids quoted); to older
// clients, rocketmq-client-go among them, with bare broker ids (Encode). Decode reads both.
type TopicRouteData struct {
	Brokers []BrokerData `json:"brokerDatas"`
	// FilterServers maps a broker address to its filter servers (a 3.x feature; empty).
	FilterServers  map[string][]string `json:"filterServerTable"`
	OrderTopicConf string              `json:"orderTopicConf"` // "broker:queues;..." for ordered topics
	Queues         []QueueData         `json:"queueDatas"`
}

// BrokerData is one broker group of a route or of the cluster info, Java's BrokerData.
type BrokerData struct {
	// Addrs maps a broker id (0 the master, others slaves) to its address.
	Addrs      map[int64]string `json:"brokerAddrs"`
	BrokerName string           `json:"brokerName"`
	Cluster    string           `json:"cluster"`
}

// MasterAddr returns the address of broker id 0, "" when the group has no master.
func (b *BrokerData) MasterAddr() string { return b.Addrs[0] }

// QueueData is one broker's queues of a topic, Java's QueueData.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int32  `json:"perm"` // 2 write, 4 read
	ReadQueueNums  int32  `json:"readQueueNums"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
	WriteQueueNums int32  `json:"writeQueueNums"`
}

// Encode returns the body as RemotingSerializable.encode writes it (fastjson defaults):
// broker ids as bare numbers, which is not standard JSON but what a 4.9.4 NameServer
// sends to clients older than 4.9.4.
func (d *TopicRouteData) Encode() []byte { return d.encode(styleDefault) }

// EncodeStandard returns the body as a 4.9.4 NameServer writes it for a 4.9.4 client
// (BrowserCompatible, QuoteFieldNames, SkipTransientField, MapSortField): broker ids
// quoted, maps in key order, non-ASCII characters and '/' escaped.
func (d *TopicRouteData) EncodeStandard() []byte { return d.encode(styleStandard) }

func (d *TopicRouteData) encode(style jsonStyle) []byte {
	w := jsonWriter{style: style}
	w.open('{')
	w.key("brokerDatas")
	w.open('[')
	for i := range d.Brokers {
		w.brokerData(&d.Brokers[i])
	}
	w.close(']')
	w.key("filterServerTable")
	w.open('{')
	// pickupTopicRouteData fills a new HashMap of default capacity.
	for _, k := range sortedKeys(d.FilterServers, javaTable{}, style == styleStandard) {
		w.key(k)
		w.strings(d.FilterServers[k])
	}
	w.close('}')
	w.optStrField("orderTopicConf", d.OrderTopicConf)
	w.key("queueDatas")
	w.open('[')
	for _, q := range d.Queues {
		w.open('{')
		w.optStrField("brokerName", q.BrokerName)
		w.intField("perm", int64(q.Perm))
		w.intField("readQueueNums", int64(q.ReadQueueNums))
		w.intField("topicSysFlag", int64(q.TopicSysFlag))
		w.intField("writeQueueNums", int64(q.WriteQueueNums))
		w.close('}')
	}
	w.close(']')
	w.close('}')
	return w.b
}

// brokerData writes b. Broker ids go in numeric order: a TreeMap's under MapSortField,
// and a HashMap<Long, String>'s too as long as the ids are smaller than its table, which
// the small ids of a broker group are.
func (w *jsonWriter) brokerData(b *BrokerData) {
	w.open('{')
	w.key("brokerAddrs")
	w.open('{')
	ids := make([]int64, 0, len(b.Addrs))
	for id := range b.Addrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		w.longKey(id)
		w.str(b.Addrs[id])
	}
	w.close('}')
	w.optStrField("brokerName", b.BrokerName)
	w.optStrField("cluster", b.Cluster)
	w.close('}')
}

// Decode reads a body in either of the NameServer's forms, or any JSON writer's.
func (d *TopicRouteData) Decode(data []byte) error {
	*d = TopicRouteData{}
	return decodeBody("TopicRouteData", data, d)
}

// ClusterInfo is the body of the answer to GET_BROKER_CLUSTER_INFO (106), Java's
// ClusterInfo: every broker group the NameServer knows, and the groups of each cluster.
// The NameServer writes it with fastjson's defaults, broker ids bare.
type ClusterInfo struct {
	Brokers  map[string]BrokerData `json:"brokerAddrTable"`  // by broker name
	Clusters map[string][]string   `json:"clusterAddrTable"` // cluster name to broker names
}

// Encode returns the body as a 4.9.4 NameServer writes it. The maps go in the order of
// RouteInfoManager's HashMaps (capacities 128 and 32).
func (c *ClusterInfo) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.key("brokerAddrTable")
	w.open('{')
	for _, k := range sortedKeys(c.Brokers, javaTable{initial: 128}, false) {
		w.key(k)
		b := c.Brokers[k]
		w.brokerData(&b)
	}
	w.close('}')
	w.key("clusterAddrTable")
	w.open('{')
	for _, k := range sortedKeys(c.Clusters, javaTable{initial: 32}, false) {
		w.key(k)
		w.strings(c.Clusters[k])
	}
	w.close('}')
	w.close('}')
	return w.b
}

// Decode reads a body written by fastjson or any JSON writer.
func (c *ClusterInfo) Decode(data []byte) error {
	*c = ClusterInfo{}
	return decodeBody("ClusterInfo", data, c)
}
