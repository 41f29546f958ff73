// Package namesrv is the dev cluster's NameServer: a double of Apache RocketMQ 4.9.4's
// namesrv (NamesrvController, DefaultRequestProcessor, RouteInfoManager and
// BrokerHousekeepingService) on the netpoll transport.
//
// Brokers register their topics with REGISTER_BROKER and leave with UNREGISTER_BROKER;
// clients ask for routes (GET_ROUTEINFO_BY_TOPIC), the cluster layout
// (GET_BROKER_CLUSTER_INFO) and topic lists. Answers are those of the Java NameServer,
// byte for byte where the recordings in shared/testdata/rocketmq-4.9.4 show them: the same
// response codes and remarks, the same JSON bodies (standard JSON for 4.9.4 clients, the
// legacy fastjson form for older ones such as rocketmq-client-go), and the same
// iteration order of Java's hash maps and sets.
//
// A broker is forgotten at once when its connection closes, and by a scan every
// Config.ScanInterval when it has not registered for Config.BrokerExpiry. Everything is
// kept in memory, as in Java: a restarted NameServer knows nothing until brokers register
// again. The KV config table (kv.go) and the admin requests mqadmin uses (admin.go: the
// NameServer's config, a broker's write permission, the system and unit topic lists,
// QUERY_DATA_VERSION) are Java's too; every request code of 4.9.4's
// DefaultRequestProcessor is served. Other codes get the transport's
// REQUEST_CODE_NOT_SUPPORTED (Java's NameServer leaves them unanswered, which only makes a
// client wait for its timeout).
package namesrv
