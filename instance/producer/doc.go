// Package producer sends messages for a producer group through a client instance: the Go
// counterpart of Java's DefaultMQProducer and TransactionMQProducer (4.9.4).
//
// New validates a Config; Start registers the group with the instance; Send, SendAsync,
// SendOneway, SendBatch, SendWithSelector, SendOrderly and SendInTransaction send;
// Shutdown waits for the async sends in flight and unregisters the group.
//
// # Behaviour, as Java's
//
//   - Queues are chosen in turn over the topic's writable queues; a failed attempt is sent
//     again to a queue of another broker when there is one (Send: RetriesWhenSyncFailed,
//     on transport failures and on the broker answers Java retries; SendAsync:
//     RetriesWhenAsyncFailed, when no answer came), all within SendTimeout.
//   - With LatencyFaultTolerance, a broker that answered slowly or failed is avoided for a
//     while, by Java's table (fault.go).
//   - A topic no NameServer knows is sent through CreateTopicKey's route (TBW102) with
//     DefaultTopicQueueNums queues; a broker with autoCreateTopicEnable creates it.
//   - Every message gets a unique id (UNIQ_KEY) from the client's address, pid and a
//     counter; a single message's body of CompressThreshold bytes or more is zlib-compressed.
//   - With a Namespace, topics and the group go on the wire as "namespace%name" and come
//     back without it.
//   - Send hooks (Config.Hooks) run around every attempt, the RPC hooks of the instance
//     around every request; hooks.go says how their verdicts and errors are handled, and
//     errors.go what each send returns.
//
// # Performance
//
// The send path allocates little and starts no goroutine: the per-send state is pooled,
// the properties are encoded once into the header's string (the id is set on the message
// and returned from it), the deadline travels in the context without a timer, the hooks
// get a reused one-element slice. Config.Coalesce lets concurrent single sends to one queue
// share a SEND_BATCH_MESSAGE, which a broker stores several times faster (coalesce.go).
package producer
