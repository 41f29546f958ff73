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
package instance
