package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// remote is what the rebalance, the offset computation and the send-back ask of the
// cluster, through the instance's typed API; unit tests answer instead. (Pulls and the
// broker offset store call the instance directly.)
type remote interface {
	clientID() string
	subscribeInfo(topic string) []instance.MessageQueue
	consumerIDs(ctx context.Context, topic, group string) ([]string, error)
	heartbeat(ctx context.Context) error
	maxOffset(ctx context.Context, mq instance.MessageQueue) (int64, error)
	searchOffset(ctx context.Context, mq instance.MessageQueue, timestampMs int64) (int64, error)
	// sendBack sends CONSUMER_SEND_MSG_BACK to brokerName's master, or to the message's
	// store host when the broker is unknown.
	sendBack(ctx context.Context, brokerName string, m *message.Ext, h *remoting.ConsumerSendMsgBackRequest) error
	// lock and unlock address brokerName's master; errNoBroker when it is unknown.
	lock(ctx context.Context, brokerName string, body *remoting.LockBatchRequestBody) ([]instance.MessageQueue, error)
	unlock(ctx context.Context, brokerName string, body *remoting.LockBatchRequestBody, oneway bool) error
}

var errNoBroker = errors.New("consumer: broker address unknown")

// instanceRemote is remote over an instance.
type instanceRemote struct{ inst *instance.Instance }

func (r instanceRemote) clientID() string { return r.inst.ClientID() }

func (r instanceRemote) subscribeInfo(topic string) []instance.MessageQueue {
	return r.inst.SubscribeInfo(topic)
}

func (r instanceRemote) consumerIDs(ctx context.Context, topic, group string) ([]string, error) {
	return r.inst.FindConsumerIDList(ctx, topic, group)
}

func (r instanceRemote) heartbeat(ctx context.Context) error { return r.inst.SendHeartbeat(ctx) }

// master returns the master address of mq's broker, updating the topic's route once when
// it is unknown (Java's MQAdminImpl).
func (r instanceRemote) master(ctx context.Context, mq instance.MessageQueue) (string, error) {
	if addr := r.inst.FindBrokerAddrInPublish(mq.BrokerName); addr != "" {
		return addr, nil
	}
	if _, err := r.inst.UpdateTopicRoute(ctx, mq.Topic); err != nil {
		return "", err
	}
	if addr := r.inst.FindBrokerAddrInPublish(mq.BrokerName); addr != "" {
		return addr, nil
	}
	return "", fmt.Errorf("consumer: broker %s of %s: %w", mq.BrokerName, mq, instance.ErrNoRoute)
}

func (r instanceRemote) maxOffset(ctx context.Context, mq instance.MessageQueue) (int64, error) {
	addr, err := r.master(ctx, mq)
	if err != nil {
		return 0, err
	}
	return r.inst.GetMaxOffset(ctx, addr, mq.Topic, mq.QueueID)
}

func (r instanceRemote) searchOffset(ctx context.Context, mq instance.MessageQueue, ts int64) (int64, error) {
	addr, err := r.master(ctx, mq)
	if err != nil {
		return 0, err
	}
	return r.inst.SearchOffset(ctx, addr, mq.Topic, mq.QueueID, ts)
}

func (r instanceRemote) sendBack(ctx context.Context, brokerName string, m *message.Ext, h *remoting.ConsumerSendMsgBackRequest) error {
	addr := r.inst.FindBrokerAddrInPublish(brokerName)
	if addr == "" && m.StoreHost.IsValid() {
		addr = m.StoreHost.String()
	}
	if addr == "" {
		return fmt.Errorf("consumer: send back %s: broker %s: %w", m.MsgID(), brokerName, errNoBroker)
	}
	return r.inst.ConsumerSendMessageBack(ctx, addr, h)
}

func (r instanceRemote) lock(ctx context.Context, brokerName string, body *remoting.LockBatchRequestBody) ([]instance.MessageQueue, error) {
	b, ok := r.inst.FindBrokerAddrInSubscribe(brokerName, 0, true)
	if !ok {
		return nil, fmt.Errorf("consumer: lock on %s: %w", brokerName, errNoBroker)
	}
	return r.inst.LockBatchMQ(ctx, b.Addr, body)
}

func (r instanceRemote) unlock(ctx context.Context, brokerName string, body *remoting.LockBatchRequestBody, oneway bool) error {
	b, ok := r.inst.FindBrokerAddrInSubscribe(brokerName, 0, true)
	if !ok {
		return fmt.Errorf("consumer: unlock on %s: %w", brokerName, errNoBroker)
	}
	return r.inst.UnlockBatchMQ(ctx, b.Addr, body, oneway)
}
