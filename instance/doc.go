// Package instance is the RocketMQ client instance: the Go counterpart of Java's
// MQClientInstance, shared by every producer and consumer of a gateway. It holds the group
// tables, the broker address and version tables and the topic route cache, runs the
// periodic tasks (NameServer address refresh, route refresh, heartbeats and offline-broker
// clean-up, consumer offset persistence), offers a typed remoting API over package netpoll
// and answers the requests brokers initiate.
//
// It defines the small interfaces through which the client is extended — send hooks,
// consume hooks, the RPC hook and queue allocation strategies — and knows nothing of who
// implements them: native Go here, WebAssembly plugins in package host.
//
// # Lifecycle
//
// New validates a Config; producers and consumers register their groups (Producer,
// Consumer) before or after Start; Start opens the transport and starts the periodic
// tasks; Shutdown persists consumer offsets, unregisters every group from every broker and
// stops every goroutine. An instance starts once (see State).
//
// # Routes and brokers
//
// UpdateTopicRoute and UpdateTopicRouteFromDefault fetch a route from a NameServer and,
// when it changed, hand the publish info (writable queues in Java's order) and the
// subscribe info (readable queues) to every producer and consumer. PublishInfo,
// SubscribeInfo, TopicRoute and the FindBrokerAddr* methods read the cache, which is kept
// when every NameServer is down. One NameServer is used while it works; a dead one is
// skipped within the call.
//
// # Typed remoting API
//
// One method per request the producer, the consumer and the admin need: SendMessage (and
// Async, Oneway; batches with SendRequest.Batch), PullMessage (and Async), the offset calls,
// Heartbeat, UnregisterClient, GetConsumerIDList, LockBatchMQ, UnlockBatchMQ,
// ConsumerSendMessageBack, EndTransactionOneway, GetRouteInfo, GetClusterInfo, CreateTopic,
// ViewMessage, GetConsumerConnectionList, GetConsumerRunningInfo, ConsumeMessageDirectly.
// Each takes its deadline from its context (RequestTimeout when it has none), runs the RPC
// hooks around the request, and reports a broker's refusal as a *BrokerError that
// errors.Is matches against ErrTopicNotExist, ErrSystemBusy, ErrNoPermission and the other
// sentinels; transport failures match ErrTimeout or ErrConnClosed.
//
// Requests carry the language code GO and version 401 (4.9.4, the protocol implemented)
// with ROCKETMQ binary headers by default; see Config.
package instance
