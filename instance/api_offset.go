package instance

import (
	"context"

	"github.com/mqgate/mqgate/remoting"
)

// QueryConsumerOffset returns the offset the broker at addr stores for a group's queue
// (Java's queryConsumerOffset). A group without one gets a *BrokerError matching
// ErrOffsetNotFound.
func (i *Instance) QueryConsumerOffset(ctx context.Context, addr string, h *remoting.QueryConsumerOffsetRequest) (int64, error) {
	var out remoting.QueryConsumerOffsetResponse
	if err := i.call(ctx, addr, remoting.QueryConsumerOffset, h, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}

// UpdateConsumerOffset stores a group's offset of a queue and waits for the broker's
// answer (Java's updateConsumerOffset: explicit persistence, shutdown).
func (i *Instance) UpdateConsumerOffset(ctx context.Context, addr string, h *remoting.UpdateConsumerOffsetRequest) error {
	return i.call(ctx, addr, remoting.UpdateConsumerOffset, h, nil)
}

// UpdateConsumerOffsetOneway stores a group's offset of a queue without waiting (Java's
// updateConsumerOffsetOneway: the periodic persistence).
func (i *Instance) UpdateConsumerOffsetOneway(ctx context.Context, addr string, h *remoting.UpdateConsumerOffsetRequest) error {
	return i.invokeOneway(ctx, addr, i.request(remoting.UpdateConsumerOffset, h))
}

// GetMaxOffset returns the offset after the last message of a queue (Java's getMaxOffset).
func (i *Instance) GetMaxOffset(ctx context.Context, addr, topic string, queueID int32) (int64, error) {
	var out remoting.MaxOffsetResponse
	h := &remoting.MaxOffsetRequest{Topic: topic, QueueID: queueID}
	if err := i.call(ctx, addr, remoting.GetMaxOffset, h, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}

// GetMinOffset returns the offset of the first message of a queue (Java's getMinOffset).
func (i *Instance) GetMinOffset(ctx context.Context, addr, topic string, queueID int32) (int64, error) {
	var out remoting.MinOffsetResponse
	h := &remoting.MinOffsetRequest{Topic: topic, QueueID: queueID}
	if err := i.call(ctx, addr, remoting.GetMinOffset, h, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}

// SearchOffset returns the offset of the first message of a queue stored at or after
// timestamp, in milliseconds since the epoch (Java's searchOffset).
func (i *Instance) SearchOffset(ctx context.Context, addr, topic string, queueID int32, timestamp int64) (int64, error) {
	var out remoting.SearchOffsetResponse
	h := &remoting.SearchOffsetRequest{Topic: topic, QueueID: queueID, Timestamp: timestamp}
	if err := i.call(ctx, addr, remoting.SearchOffsetByTimestamp, h, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}
