// Package consumer is the push consumer of a gateway's client instance: Java's
// DefaultMQPushConsumerImpl with its RebalancePushImpl, PullMessageService, consume
// services and offset stores, shaped for a gateway whose deliveries complete later.
//
// A PushConsumer consumes the topics its group subscribes to (Subscribe, before Start)
// with the clustering model (the group's consumers share the queues; failures go back
// through %RETRY%group and, after the maximum reconsume times, to %DLQ%group) or the
// broadcasting model (every consumer gets every message; offsets in a local file).
//
// # Goroutines
//
// A consumer owns a fixed set of goroutines, all started by Start and waited for by
// Shutdown: one service goroutine (rebalance every RebalanceInterval and at once when the
// broker says the group changed, lock renewal for orderly consumption, statistics), one
// scheduler that issues pulls and runs delayed work on the injected clock, and, for
// concurrent consumption, ConsumeGoroutines workers. Long polls are asynchronous requests
// (instance.PullMessageAsync): a queue waiting for messages costs no goroutine, so a
// consumer holds hundreds of queues with the same few goroutines. Orderly consumption adds
// one goroutine per queue, which exits when the queue is dropped. Nothing polls: a queue
// held back by flow control resumes when its messages are acknowledged, and errors back
// off (PullDelayOnError).
//
// # Deliveries
//
// Messages reach the application as a *Delivery handed to the Handler. A delivery
// completes exactly once, by Ack, Retry or Complete, from any goroutine and at any time:
// a webhook or a lease may complete it long after Consume returned. Until then its
// messages hold back the queue's committed offset, which is the smallest offset still
// being processed in the queue (Java's ProcessQueue.removeMessage). Orderly consumption
// delivers a queue's next batch only once the previous one completed, so per-queue order
// holds whatever the completion's timing, across the consumers of a group too: a queue
// moves to another consumer once its batch in flight completed, or was withdrawn while
// the Handler held it unclaimed (Delivery.Unclaim, Claim). Shutdown drains: pulls and new
// deliveries stop, orderly deliveries held unclaimed are withdrawn, the Handler's calls
// under way finish while its budget allows (an orderly batch completed after its call,
// OrderlyDropWait more) and their outcomes count, and only then does the Handler's
// context end; orderly queues are unlocked but for those whose batch is still consumed.
//
// # Allocation, offsets, the broker's requests
//
// The queues are allocated by Config.Strategy, an instance.AllocateStrategy: the five Java
// strategies are built in (Averagely, AveragelyByCircle, ConsistentHash, ByConfig,
// ByMachineRoom, over package plugins/allocate), and a WebAssembly plugin adapted by the
// host fits the same slot. Clustering offsets live on the brokers (persisted every
// instance.Config.PersistOffsetInterval, when a queue is dropped, and at Shutdown);
// broadcasting offsets in a local file in Java's format. A PushConsumer is the instance's
// instance.Consumer: it answers GET_CONSUMER_RUNNING_INFO, RESET_CONSUMER_CLIENT_OFFSET,
// GET_CONSUMER_STATUS_FROM_CLIENT and CONSUME_MESSAGE_DIRECTLY. Status reports what the
// gateway shows: queues held with their lag, messages cached and in flight, rates, the
// last error.
package consumer
