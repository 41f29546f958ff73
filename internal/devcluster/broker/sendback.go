package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The consumer send-back: SendMessageProcessor.asyncConsumerSendMsgBack. A consumer that
// failed to consume a message hands back its commit log offset; the broker stores a copy
// in the group's retry topic with one more reconsume time, delayed by the level asked for
// (3 + reconsume times when 0), or in the group's dead letter topic once the message has
// been reconsumed as often as allowed or the level is negative.

func init() {
	extensions = append(extensions, extension{name: "sendback", install: func(b *Broker) error {
		b.handle(remoting.ConsumerSendMessageBack, b.handleSendBack)
		return nil
	}})
}

// dlqQueueNums is DLQ_NUMS_PER_GROUP.
const dlqQueueNums = 1

func (b *Broker) handleSendBack(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerSendMsgBackRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	g := b.groups.find(h.Group)
	if g == nil {
		return response(req, remoting.SubscriptionGroupNotExist, "subscription group not exist, "+h.Group+" "+faqURL)
	}
	if g.RetryQueueNums <= 0 {
		return response(req, remoting.Success, "")
	}
	topic := message.RetryTopic(h.Group)
	queueID := rand.Int32N(99999999) % g.RetryQueueNums
	var topicSysFlag int32
	if h.UnitMode {
		topicSysFlag = topicSysFlagUnitSub
	}
	tc := b.topics.createInSendBack(topic, g.RetryQueueNums, permRW, topicSysFlag)
	if tc.Perm&permWrite == 0 {
		return response(req, remoting.NoPermission, fmt.Sprintf("the topic[%s] sending message is forbidden", topic))
	}
	ext, err := b.store.Lookup(h.Offset)
	if err != nil {
		return response(req, remoting.SystemError, "look message by offset failed, "+strconv.FormatInt(h.Offset, 10))
	}

	// The original's properties, changed in Java's order: RETRY_TOPIC, WAIT, DELAY, then
	// ORIGIN_MESSAGE_ID (the first original's, else this message's offset id).
	var props javaProps
	props.parse(ext.Properties.Encode())
	if _, ok := props.get(message.PropertyRetryTopic); !ok {
		props.put(message.PropertyRetryTopic, ext.Topic)
	}
	props.put(message.PropertyWaitStoreMsgOK, "false")
	maxTimes := g.RetryMaxTimes
	if v, ok := h.MaxReconsumeTimes.Get(); ok && req.Version >= versionV3_4_9 {
		maxTimes = v
	}
	delayLevel := h.DelayLevel
	if ext.ReconsumeTimes >= maxTimes || delayLevel < 0 {
		topic = message.DLQTopic(h.Group)
		queueID = rand.Int32N(99999999) % dlqQueueNums
		b.topics.createInSendBack(topic, dlqQueueNums, permRW, 0)
		delayLevel = 0
	} else if delayLevel == 0 {
		delayLevel = 3 + ext.ReconsumeTimes
	}
	props.put(message.PropertyDelayTimeLevel, strconv.Itoa(int(delayLevel)))
	origin, _ := props.get(message.PropertyOriginMessageID)
	if isBlank(origin) {
		origin = ext.OffsetMsgID()
	}
	props.put(message.PropertyOriginMessageID, origin)

	m := &message.Ext{Message: message.Message{Topic: topic, Body: ext.Body, Flag: ext.Flag}, QueueID: queueID,
		SysFlag: ext.SysFlag, BornTimestamp: ext.BornTimestamp, BornHost: ext.BornHost, StoreHost: ext.StoreHost,
		ReconsumeTimes: ext.ReconsumeTimes + 1}
	_, err = b.putInner(m, &props)
	switch {
	case err == nil:
		return response(req, remoting.Success, "")
	case errors.Is(err, store.ErrFlushFailed):
		return response(req, remoting.SystemError, "FLUSH_DISK_TIMEOUT")
	case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrInvalidMessage):
		return response(req, remoting.SystemError, "MESSAGE_ILLEGAL")
	case errors.Is(err, store.ErrClosed):
		return response(req, remoting.SystemError, "SERVICE_NOT_AVAILABLE")
	}
	var je javaException
	if errors.As(err, &je) {
		return response(req, remoting.SystemError, je.Error())
	}
	b.log.Error("broker: send back failed", "group", h.Group, "err", err)
	return response(req, remoting.SystemError, "UNKNOWN_ERROR")
}

// javaException is an error a store hook reports as Java's CommitLog would throw it: its
// text is RemotingHelper.exceptionSimpleDesc of the exception.
type javaException string

func (e javaException) Error() string { return string(e) }

// isBlank is UtilAll.isBlank: empty or only whitespace.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > ' ' {
			return false
		}
	}
	return true
}
