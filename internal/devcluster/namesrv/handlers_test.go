package namesrv

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// env is what a handler case runs against: a fresh NameServer and a client.
type env struct {
	t    *testing.T
	cl   *netpoll.Client
	addr string
}

func (e env) route(topic string) *remoting.TopicRouteData { return routeOf(e.t, e.cl, e.addr, topic) }

func (e env) clusterInfo() *remoting.ClusterInfo {
	resp := call(e.t, e.cl, e.addr, &remoting.Command{Code: int32(remoting.GetBrokerClusterInfo)})
	var info remoting.ClusterInfo
	if err := info.Decode(resp.Body); err != nil {
		e.t.Fatal(err)
	}
	return &info
}

var (
	tbw102   = topicConfig("TBW102", 8, 7)
	orders   = topicConfig("orders", 4, 6)
	payments = topicConfig("payments", 1, 6)

	masterA = broker{name: "broker-a", addr: "10.0.0.1:10911", ha: "10.0.0.1:10912", version: 1,
		topics: []remoting.TopicConfig{tbw102, orders}}
	slaveA = broker{name: "broker-a", addr: "10.0.0.2:10911", ha: "10.0.0.2:10912", id: 1, version: 1,
		topics: []remoting.TopicConfig{tbw102, orders, topicConfig("slave-only", 1, 6)}}
	masterB = broker{cluster: "OtherCluster", name: "broker-b", addr: "10.0.0.3:10911", version: 1,
		topics: []remoting.TopicConfig{topicConfig("orders", 2, 6), payments}}
)

func withTopics(b broker, version int64, topics ...remoting.TopicConfig) broker {
	b.version, b.topics = version, topics
	return b
}

func topicsReq(code remoting.RequestCode, ext ...remoting.Field) *remoting.Command {
	return &remoting.Command{Code: int32(code), Ext: ext}
}

func topicList(t *testing.T, body []byte) []string {
	t.Helper()
	s := string(body)
	if !strings.HasPrefix(s, `{"topicList":[`) || !strings.HasSuffix(s, "]}") {
		t.Fatalf("topic list body %s", s)
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, `{"topicList":[`), "]}")
	if s == "" {
		return nil
	}
	var out []string
	for _, q := range strings.Split(s, ",") {
		out = append(out, strings.Trim(q, `"`))
	}
	slices.Sort(out)
	return out
}

func TestHandlers(t *testing.T) {
	badCRC := masterA.register()
	badCRC.Header.(*remoting.RegisterBrokerRequest).BodyCRC32++
	noID := &remoting.Command{Code: int32(remoting.RegisterBroker), Ext: remoting.ExtFields{
		{Key: "brokerName", Value: "broker-a"}, {Key: "brokerAddr", Value: "10.0.0.1:10911"},
		{Key: "clusterName", Value: "DefaultCluster"}, {Key: "haServerAddr", Value: "x"}}}
	garbage := masterA.register()
	garbage.Body = []byte("not a body")
	garbage.Header.(*remoting.RegisterBrokerRequest).BodyCRC32 = remoting.BodyCRC32(garbage.Body)
	nullBody := masterA.register()
	nullBody.Body = []byte("null")
	nullBody.Header.(*remoting.RegisterBrokerRequest).BodyCRC32 = remoting.BodyCRC32(nullBody.Body)
	bodiless := masterA.register()
	bodiless.Body = nil
	bodiless.Header.(*remoting.RegisterBrokerRequest).BodyCRC32 = 0
	compressed := masterA
	compressed.compressed = true
	slaveAsMaster := slaveA
	slaveAsMaster.id = 0
	goClient := routeReq("orders")
	goClient.Language, goClient.Version = remoting.LanguageGo, 317
	standardOnly := routeReq("orders")
	standardOnly.Version = 317
	standardOnly.Ext.Set("acceptStandardJsonOnly", "true")

	cases := []struct {
		name   string
		setup  []broker // registered first
		req    *remoting.Command
		code   remoting.ResponseCode
		remark string // exact, checked when code is not SUCCESS
		check  func(e env, resp *remoting.Command)
	}{
		{name: "master registration makes its topics routable", req: masterA.register(),
			check: func(e env, resp *remoting.Command) {
				if len(resp.Ext) != 0 || !resp.KeepEmptyExt || len(resp.Body) != 0 {
					e.t.Errorf("response ext %v keep %v body %q, want an empty header and no body", resp.Ext, resp.KeepEmptyExt, resp.Body)
				}
				r := e.route("orders")
				if r == nil || len(r.Queues) != 1 || r.Queues[0].WriteQueueNums != 4 || r.Brokers[0].Addrs[0] != masterA.addr {
					e.t.Errorf("route %+v", r)
				}
			}},
		{name: "compressed registration body registers the same topics", req: compressed.register(),
			check: func(e env, _ *remoting.Command) {
				if r := e.route("orders"); r == nil || r.Queues[0].ReadQueueNums != 4 || r.Queues[0].Perm != 6 {
					e.t.Errorf("route %+v", r)
				}
			}},
		{name: "slave registration answers its master's address and HA address", setup: []broker{masterA},
			req: slaveA.register(),
			check: func(e env, resp *remoting.Command) {
				if resp.Ext.Get("masterAddr") != masterA.addr || resp.Ext.Get("haServerAddr") != masterA.ha {
					e.t.Errorf("response ext %v", resp.Ext)
				}
				r := e.route("orders")
				if r == nil || r.Brokers[0].Addrs[0] != masterA.addr || r.Brokers[0].Addrs[1] != slaveA.addr {
					e.t.Errorf("route %+v", r)
				}
				if e.route("slave-only") != nil {
					e.t.Errorf("a slave's topics were routed")
				}
			}},
		{name: "slave without a live master gets no master address", req: slaveA.register(),
			check: func(e env, resp *remoting.Command) {
				if len(resp.Ext) != 0 {
					e.t.Errorf("response ext %v", resp.Ext)
				}
			}},
		{name: "slave promoted to master keeps one entry for its address", setup: []broker{slaveA},
			req: slaveAsMaster.register(),
			check: func(e env, _ *remoting.Command) {
				addrs := e.clusterInfo().Brokers["broker-a"].Addrs
				if len(addrs) != 1 || addrs[0] != slaveA.addr {
					e.t.Errorf("broker-a addresses %v", addrs)
				}
			}},
		{name: "unchanged data version leaves the topics as they were", setup: []broker{masterA},
			req: withTopics(masterA, 1, topicConfig("orders", 16, 6)).register(),
			check: func(e env, _ *remoting.Command) {
				if r := e.route("orders"); r.Queues[0].WriteQueueNums != 4 {
					e.t.Errorf("orders has %d queues, want the first registration's 4", r.Queues[0].WriteQueueNums)
				}
			}},
		{name: "new data version updates the topics but forgets none", setup: []broker{masterA},
			req: withTopics(masterA, 2, topicConfig("orders", 16, 6)).register(),
			check: func(e env, _ *remoting.Command) {
				if r := e.route("orders"); r.Queues[0].WriteQueueNums != 16 {
					e.t.Errorf("orders has %d queues, want 16", r.Queues[0].WriteQueueNums)
				}
				if e.route("TBW102") == nil {
					e.t.Errorf("TBW102 forgotten")
				}
			}},
		{name: "registration without a body registers a broker without topics", req: bodiless,
			check: func(e env, _ *remoting.Command) {
				if e.route("orders") != nil {
					e.t.Errorf("orders routed")
				}
				if _, ok := e.clusterInfo().Brokers["broker-a"]; !ok {
					e.t.Errorf("broker-a not in the cluster info")
				}
			}},
		{name: "body CRC mismatch answers SYSTEM_ERROR", req: badCRC,
			code: remoting.SystemError, remark: "crc32 not match"},
		{name: "missing broker id answers SYSTEM_ERROR naming the field", req: noID, code: remoting.SystemError,
			remark: "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <brokerId> is null"},
		{name: "undecodable registration body answers SYSTEM_ERROR", req: garbage, code: remoting.SystemError,
			remark: remarkBadBody},
		{name: "null registration body answers Java's NullPointerException and registers nothing", req: nullBody,
			code: remoting.SystemError, remark: `java.lang.NullPointerException: Cannot invoke "org.apache.rocketmq.common.` +
				`protocol.body.RegisterBrokerBody.getTopicConfigSerializeWrapper()" because "registerBrokerBody" is null, ` +
				`org.apache.rocketmq.namesrv.processor.DefaultRequestProcessor.registerBrokerWithFilterServer(DefaultRequestProcessor.java:239)`,
			check: func(e env, _ *remoting.Command) {
				if _, ok := e.clusterInfo().Brokers["broker-a"]; ok {
					e.t.Errorf("broker-a registered")
				}
			}},

		{name: "unregistering the only broker removes its topics and cluster", setup: []broker{masterA},
			req: masterA.unregister(),
			check: func(e env, _ *remoting.Command) {
				if e.route("orders") != nil {
					e.t.Errorf("orders still routed")
				}
				if info := e.clusterInfo(); len(info.Brokers) != 0 || len(info.Clusters) != 0 {
					e.t.Errorf("cluster info %+v", info)
				}
			}},
		{name: "unregistering a slave keeps its group's topics", setup: []broker{masterA, slaveA},
			req: slaveA.unregister(),
			check: func(e env, _ *remoting.Command) {
				r := e.route("orders")
				if r == nil || len(r.Brokers[0].Addrs) != 1 {
					e.t.Errorf("route %+v", r)
				}
			}},

		{name: "unknown topic answers TOPIC_NOT_EXIST with Java's remark", setup: []broker{masterA},
			req: routeReq("nope"), code: remoting.TopicNotExist,
			remark: "No topic route info in name server for the topic: nope\nSee http://rocketmq.apache.org/docs/faq/ for further details."},
		{name: "route request without a topic answers TOPIC_NOT_EXIST for null",
			req: topicsReq(remoting.GetRouteInfoByTopic, remoting.Field{Key: "ReqT", Value: "0"}), code: remoting.TopicNotExist,
			remark: "No topic route info in name server for the topic: null\nSee http://rocketmq.apache.org/docs/faq/ for further details."},
		{name: "4.9.4 client gets quoted broker ids", setup: []broker{masterA}, req: routeReq("orders"),
			check: func(e env, resp *remoting.Command) {
				if !strings.Contains(string(resp.Body), `{"0":"10.0.0.1:10911"}`) {
					e.t.Errorf("body %s", resp.Body)
				}
			}},
		{name: "older client gets bare broker ids and Java's language and version", setup: []broker{masterA}, req: goClient,
			check: func(e env, resp *remoting.Command) {
				if !strings.Contains(string(resp.Body), `{0:"10.0.0.1:10911"}`) {
					e.t.Errorf("body %s", resp.Body)
				}
				if resp.Language != remoting.LanguageJava || resp.Version != remoting.Version494 {
					e.t.Errorf("response language %s version %d", resp.Language, resp.Version)
				}
			}},
		{name: "acceptStandardJsonOnly gets quoted broker ids from any version", setup: []broker{masterA}, req: standardOnly,
			check: func(e env, resp *remoting.Command) {
				if !strings.Contains(string(resp.Body), `{"0":"10.0.0.1:10911"}`) {
					e.t.Errorf("body %s", resp.Body)
				}
			}},
		{name: "topic on two broker groups lists both", setup: []broker{masterA, masterB}, req: routeReq("orders"),
			check: func(e env, _ *remoting.Command) {
				r := e.route("orders")
				if len(r.Brokers) != 2 || len(r.Queues) != 2 {
					e.t.Fatalf("route %+v", r)
				}
				queues := map[string]int32{}
				for _, q := range r.Queues {
					queues[q.BrokerName] = q.WriteQueueNums
				}
				if queues["broker-a"] != 4 || queues["broker-b"] != 2 {
					e.t.Errorf("queues %v", queues)
				}
			}},

		{name: "cluster info lists every group by cluster", setup: []broker{masterA, slaveA, masterB},
			req: topicsReq(remoting.GetBrokerClusterInfo),
			check: func(e env, _ *remoting.Command) {
				info := e.clusterInfo()
				if got := info.Clusters["DefaultCluster"]; !slices.Equal(got, []string{"broker-a"}) {
					e.t.Errorf("DefaultCluster %v", got)
				}
				if got := info.Clusters["OtherCluster"]; !slices.Equal(got, []string{"broker-b"}) {
					e.t.Errorf("OtherCluster %v", got)
				}
				if a := info.Brokers["broker-a"]; a.Cluster != "DefaultCluster" || a.Addrs[0] != masterA.addr || a.Addrs[1] != slaveA.addr {
					e.t.Errorf("broker-a %+v", a)
				}
			}},
		{name: "empty NameServer answers empty cluster tables", req: topicsReq(remoting.GetBrokerClusterInfo),
			check: func(e env, resp *remoting.Command) {
				if string(resp.Body) != `{"brokerAddrTable":{},"clusterAddrTable":{}}` {
					e.t.Errorf("body %s", resp.Body)
				}
			}},

		{name: "topic list names every routed topic", setup: []broker{masterA, masterB},
			req: topicsReq(remoting.GetAllTopicListFromNameServer),
			check: func(e env, resp *remoting.Command) {
				if got := topicList(e.t, resp.Body); !slices.Equal(got, []string{"TBW102", "orders", "payments"}) {
					e.t.Errorf("topics %v", got)
				}
			}},

		{name: "deleting a topic removes its route", setup: []broker{masterA, masterB},
			req: topicsReq(remoting.DeleteTopicInNameServer, remoting.Field{Key: "topic", Value: "orders"}),
			check: func(e env, _ *remoting.Command) {
				if e.route("orders") != nil {
					e.t.Errorf("orders still routed")
				}
			}},
		{name: "deleting a topic in one cluster keeps the other cluster's queues", setup: []broker{masterA, masterB},
			req: topicsReq(remoting.DeleteTopicInNameServer, remoting.Field{Key: "topic", Value: "orders"},
				remoting.Field{Key: "clusterName", Value: "DefaultCluster"}),
			check: func(e env, _ *remoting.Command) {
				r := e.route("orders")
				if r == nil || len(r.Queues) != 1 || r.Queues[0].BrokerName != "broker-b" {
					e.t.Errorf("route %+v", r)
				}
			}},
		{name: "deleting without a topic changes nothing", setup: []broker{masterA},
			req: topicsReq(remoting.DeleteTopicInNameServer),
			check: func(e env, _ *remoting.Command) {
				if e.route("orders") == nil {
					e.t.Errorf("orders gone")
				}
			}},

		{name: "topics by cluster lists the topics of its groups", setup: []broker{masterA, masterB},
			req: topicsReq(remoting.GetTopicsByCluster, remoting.Field{Key: "cluster", Value: "OtherCluster"}),
			check: func(e env, resp *remoting.Command) {
				if got := topicList(e.t, resp.Body); !slices.Equal(got, []string{"orders", "payments"}) {
					e.t.Errorf("topics %v", got)
				}
			}},
		{name: "topics of an unknown cluster is an empty list", setup: []broker{masterA},
			req: topicsReq(remoting.GetTopicsByCluster, remoting.Field{Key: "cluster", Value: "nope"}),
			check: func(e env, resp *remoting.Command) {
				if string(resp.Body) != `{"topicList":[]}` {
					e.t.Errorf("body %s", resp.Body)
				}
			}},

		{name: "order topic config is not found",
			req: topicsReq(remoting.GetKVConfig, remoting.Field{Key: "namespace", Value: "ORDER_TOPIC_CONFIG"},
				remoting.Field{Key: "key", Value: "orders"}),
			code: remoting.QueryNotFound, remark: "No config item, Namespace: ORDER_TOPIC_CONFIG Key: orders"},
		{name: "KV request without fields is not found for null", req: topicsReq(remoting.GetKVConfig),
			code: remoting.QueryNotFound, remark: "No config item, Namespace: null Key: null"},

		{name: "unknown code answers REQUEST_CODE_NOT_SUPPORTED", req: topicsReq(remoting.RequestCode(9999)),
			code: remoting.RequestCodeNotSupported, remark: " request type 9999 not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{})
			e := env{t: t, cl: newClient(t), addr: s.Addr()}
			for _, b := range tc.setup {
				if resp := call(t, e.cl, e.addr, b.register()); resp.Code != int32(remoting.Success) {
					t.Fatalf("setup: registering %s: %s %q", b.addr, remoting.ResponseCode(resp.Code), resp.Remark)
				}
			}
			resp := call(t, e.cl, e.addr, tc.req)
			if resp.Code != int32(tc.code) {
				t.Fatalf("code %s %q, want %s", remoting.ResponseCode(resp.Code), resp.Remark, tc.code)
			}
			if tc.code != remoting.Success && resp.Remark != tc.remark {
				t.Errorf("remark %q\nwant   %q", resp.Remark, tc.remark)
			}
			if tc.check != nil {
				tc.check(e, resp)
			}
		})
	}
}

// TestJavaOrder checks the hash-order helpers against Java's definitions.
func TestJavaOrder(t *testing.T) {
	// String.hashCode values as Java computes them (UTF-16 code units).
	for s, want := range map[string]int32{"hello": 99162322, "TBW102": -1826525782, "": 0, "é": 233, "😀": 1772899} {
		if got := int32(javaStringHash(s)); got != want {
			t.Errorf("hash of %q = %d, want %d", s, got, want)
		}
	}
	// In a 16-bucket HashSet "a" (97) and "q" (113) share bucket 1 and "b" (98) is in
	// bucket 2: inserted as q, b, a they iterate as q, a, b.
	if got := javaOrder([]string{"q", "b", "a"}, defaultTable); !slices.Equal(got, []string{"q", "a", "b"}) {
		t.Errorf("order %v, want [q a b]", got)
	}
	if got := (hashTable{initial: 1024}).size(769); got != 2048 {
		t.Errorf("a 1024 table with 769 keys has %d buckets, want 2048", got)
	}
	if got := defaultTable.size(13); got != 32 {
		t.Errorf("a default table with 13 keys has %d buckets, want 32", got)
	}
}
