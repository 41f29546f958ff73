// Package allocate holds the five queue allocation strategies of the Java client
// (org.apache.rocketmq.client.consumer.rebalance, 4.9.4) in plain Go: Averagely,
// AveragelyByCircle, ConsistentHash, ByConfig and ByMachineRoom. Each answers exactly
// what its Java class answers for the same inputs, as indices into the queue list.
//
// The same source serves twice: the consumer calls these functions as its native
// strategies, and the built-in WebAssembly plugins (plugins/averagely, ...) wrap them in a
// thin sdk main, so a plugin and the native strategy cannot drift apart. The package
// imports only the standard library and compiles for GOOS=wasip1.
//
// Inputs follow Java's RebalanceImpl: clients are the consumer ids of the group, sorted;
// queues are the topic's queues sorted by (topic, broker name, queue id). Java's strategies
// throw IllegalArgumentException for an empty client id, no queues or no clients (the
// rebalance then keeps its current assignment); Check reports those cases as errors, and
// the strategies answer nil for them. A client id that is not among clients gets nothing,
// as in Java.
package allocate
