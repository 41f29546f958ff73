package consumer

import (
	"context"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// sendBack hands a message the application failed to consume back to the broker it came
// from (Java's DefaultMQPushConsumerImpl.sendMessageBack with CONSUMER_SEND_MSG_BACK):
// the broker stores it in %RETRY%group with the delay of delayLevel (0: 3 + reconsume
// times), or in %DLQ%group once it has been consumed MaxReconsumeTimes times, or at once
// for delayLevel -1. Java falls back to sending the message to the retry topic with its
// inner producer when the broker refuses; here the caller consumes it again locally
// instead (the broker that cannot take the send-back would most likely not take the
// message either).
func (c *PushConsumer) sendBack(ctx context.Context, m *message.Ext, delayLevel int, brokerName string) error {
	h := &remoting.ConsumerSendMsgBackRequest{
		Offset:            m.CommitLogOffset,
		Group:             c.cfg.Group,
		DelayLevel:        int32(delayLevel),
		OriginMsgID:       m.MsgID(),
		OriginTopic:       m.Topic,
		UnitMode:          c.cfg.UnitMode,
		MaxReconsumeTimes: remoting.Some(c.maxReconsume),
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SendBackTimeout)
	defer cancel()
	if err := c.remote.sendBack(ctx, brokerName, m, h); err != nil {
		return err
	}
	c.retryTopicUsed()
	return nil
}

// retryTopicUsed asks for the retry topic's route when it has none yet: the broker
// creates %RETRY%group with the first send-back, and its messages are consumed as soon
// as the consumer knows its queues, rather than at the next route refresh (Java waits
// for it).
func (c *PushConsumer) retryTopicUsed() {
	if c.cfg.Model != remoting.Clustering {
		return
	}
	retry := message.RetryTopic(c.cfg.Group)
	if c.remote.subscribeInfo(retry) == nil {
		c.needRoute(retry)
	}
}
