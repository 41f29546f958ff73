package instance

import (
	"context"

	"github.com/mqgate/mqgate/remoting"
)

// Heartbeat sends a heartbeat to the broker at addr and returns the version the broker
// answered with (Java's sendHeartbeat). SendHeartbeat sends this client's own to every
// broker; this is the single call.
func (i *Instance) Heartbeat(ctx context.Context, addr string, data *remoting.HeartbeatData) (int32, error) {
	req := i.request(remoting.Heartbeat, nil)
	req.Body = data.Encode()
	return i.heartbeat(ctx, addr, req)
}

func (i *Instance) heartbeat(ctx context.Context, addr string, req *remoting.Command) (int32, error) {
	resp, err := i.invoke(ctx, addr, req)
	if err != nil {
		return 0, err
	}
	if err := expect(resp, addr, remoting.Heartbeat); err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// UnregisterClient tells the broker at addr that this client left a producer group or a
// consumer group (one of the two; Java's unregisterClient).
func (i *Instance) UnregisterClient(ctx context.Context, addr, producerGroup, consumerGroup string) error {
	h := &remoting.UnregisterClientRequest{ClientID: i.clientID, ProducerGroup: producerGroup, ConsumerGroup: consumerGroup}
	return i.call(ctx, addr, remoting.UnregisterClient, h, nil)
}

// GetConsumerIDList returns the client ids of a group's consumers connected to the broker
// at addr (Java's getConsumerIdListByGroup).
func (i *Instance) GetConsumerIDList(ctx context.Context, addr, group string) ([]string, error) {
	resp, err := i.invoke(ctx, addr, i.request(remoting.GetConsumerListByGroup, &remoting.ConsumerListRequest{ConsumerGroup: group}))
	if err != nil {
		return nil, err
	}
	// Java takes a SUCCESS without body for an error too.
	if resp.ResponseCode() != remoting.Success || len(resp.Body) == 0 {
		return nil, brokerError(resp, addr, remoting.GetConsumerListByGroup)
	}
	var body remoting.ConsumerListBody
	if err := body.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.GetConsumerListByGroup, addr, err)
	}
	return body.ConsumerIDs, nil
}

// LockBatchMQ locks queues on the broker at addr for this client's orderly consumer and
// returns those now locked by it (Java's lockBatchMQ).
func (i *Instance) LockBatchMQ(ctx context.Context, addr string, body *remoting.LockBatchRequestBody) ([]MessageQueue, error) {
	req := i.request(remoting.LockBatchMQ, nil)
	req.Body = body.Encode()
	resp, err := i.invoke(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if err := expect(resp, addr, remoting.LockBatchMQ); err != nil {
		return nil, err
	}
	var out remoting.LockBatchResponseBody
	if err := out.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.LockBatchMQ, addr, err)
	}
	return out.LockOKMQSet, nil
}

// UnlockBatchMQ releases queues locked on the broker at addr, waiting for the answer
// unless oneway (Java's unlockBatchMQ).
func (i *Instance) UnlockBatchMQ(ctx context.Context, addr string, body *remoting.LockBatchRequestBody, oneway bool) error {
	req := i.request(remoting.UnlockBatchMQ, nil)
	req.Body = body.Encode()
	if oneway {
		return i.invokeOneway(ctx, addr, req)
	}
	resp, err := i.invoke(ctx, addr, req)
	if err != nil {
		return err
	}
	return expect(resp, addr, remoting.UnlockBatchMQ)
}

// ConsumerSendMessageBack hands a message the consumer failed to consume back to the
// broker at addr, for the retry topic or the DLQ (Java's consumerSendMessageBack).
func (i *Instance) ConsumerSendMessageBack(ctx context.Context, addr string, h *remoting.ConsumerSendMsgBackRequest) error {
	return i.call(ctx, addr, remoting.ConsumerSendMessageBack, h, nil)
}

// EndTransactionOneway sends a producer's verdict on a half message to the broker at addr
// (Java's endTransactionOneway; remark carries the reason of an unknown state or the
// listener's exception, "" for none).
func (i *Instance) EndTransactionOneway(ctx context.Context, addr string, h *remoting.EndTransactionRequest, remark string) error {
	req := i.request(remoting.EndTransaction, h)
	req.Remark = remark
	return i.invokeOneway(ctx, addr, req)
}
