package consumer

import "errors"

var (
	// ErrCompleted: the delivery was completed already (the first completion wins).
	ErrCompleted = errors.New("consumer: delivery completed already")
	// ErrQueueDropped: the delivery's queue left this consumer (rebalanced away, reset,
	// shut down) before the delivery completed, and its outcome was not recorded (see
	// Delivery.Complete): the queue's new owner consumes the messages again from the
	// committed offset.
	ErrQueueDropped = errors.New("consumer: queue dropped; completion ignored")
	// ErrStarted: a subscription change after Start.
	ErrStarted = errors.New("consumer: started already")
	// ErrStrategy: the allocation strategy failed or answered indices that do not name
	// the queues; the rebalance keeps the queues as they were.
	ErrStrategy = errors.New("consumer: allocation strategy")
)
