package instance

import (
	"context"
	"errors"
	"runtime"
	"strconv"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The processor answers the requests brokers send to this client, each routed to the
// producer or consumer group it names, as Java's ClientRemotingProcessor.
//
// Requests sent oneway get no answer. CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED
// and RESET_CONSUMER_CLIENT_OFFSET are oneway from a 4.9.4 broker and Java answers them
// nothing; sent two-way, they are answered SUCCESS at once here rather than left to time
// out. A request whose header or body cannot be read is answered SYSTEM_ERROR with the
// reason, as Java's remoting layer answers the exception.

// maxJstack bounds the goroutine dump of a running info, well under the frame limit.
const maxJstack = 1 << 20

func (i *Instance) registerProcessor(cl *netpoll.Client) {
	cl.Handle(remoting.CheckTransactionState, i.processCheckTransactionState)
	cl.Handle(remoting.NotifyConsumerIDsChanged, i.processNotifyConsumerIDsChanged)
	cl.Handle(remoting.ResetConsumerClientOffset, i.processResetOffset)
	cl.Handle(remoting.GetConsumerStatusFromClient, i.processConsumerStatus)
	cl.Handle(remoting.GetConsumerRunningInfo, i.processConsumerRunningInfo)
	cl.Handle(remoting.ConsumeMessageDirectly, i.processConsumeMessageDirectly)
}

// processCheckTransactionState hands a half message to the producer of the group named by
// the message's PGROUP property (Java's checkTransactionState).
func (i *Instance) processCheckTransactionState(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.CheckTransactionStateRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	msg, err := decodeOne(req.Body)
	if err != nil {
		return i.processError(c, req, "message", err)
	}
	group := msg.ProducerGroup()
	if group == "" {
		i.log.Warn("instance: CHECK_TRANSACTION_STATE without producer group", "broker", c.Addr(), "msgId", h.MsgID)
		return ack(req)
	}
	p := i.groups.producer(group)
	if p == nil {
		i.log.Debug("instance: CHECK_TRANSACTION_STATE for an unknown producer group", "group", group, "broker", c.Addr())
		return ack(req)
	}
	p.CheckTransactionState(ctx, c.Addr(), msg, &h)
	return ack(req)
}

// processNotifyConsumerIDsChanged asks the group named to rebalance at once (Java's
// notifyConsumerIdsChanged, which wakes the rebalance of every group).
func (i *Instance) processNotifyConsumerIDsChanged(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.NotifyConsumerIDsChangedRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	i.log.Info("instance: consumers of the group changed, rebalancing", "group", h.ConsumerGroup, "broker", c.Addr())
	if cons := i.groups.consumer(h.ConsumerGroup); cons != nil {
		cons.RebalanceImmediately()
	}
	return ack(req)
}

// processResetOffset has the group named move its offsets of the topic (Java's
// resetOffset). The consumer works on a goroutine of its own: Java's takes seconds.
func (i *Instance) processResetOffset(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ResetOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	var body remoting.ResetOffsetBody
	if len(req.Body) > 0 {
		if err := body.Decode(req.Body); err != nil {
			return i.processError(c, req, "body", err)
		}
	}
	offsets := map[MessageQueue]int64(body.OffsetTable)
	if offsets == nil {
		offsets = map[MessageQueue]int64{}
	}
	i.log.Info("instance: offset reset requested", "broker", c.Addr(), "topic", h.Topic, "group", h.Group,
		"timestamp", h.Timestamp, "queues", len(offsets))
	cons := i.groups.consumer(h.Group)
	if cons == nil {
		i.log.Info("instance: offset reset for an unknown consumer group", "group", h.Group)
		return ack(req)
	}
	i.goOwned(func(ctx context.Context) { cons.ResetOffset(ctx, h.Topic, offsets) })
	return ack(req)
}

// processConsumerStatus answers the group's offsets of the topic (Java's
// getConsumeStatus): none for a group not here.
func (i *Instance) processConsumerStatus(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerStatusRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	body := remoting.ConsumerStatusBody{MessageQueueTable: remoting.QueueTable[int64]{}}
	if cons := i.groups.consumer(h.Group); cons != nil {
		body.MessageQueueTable = cons.OffsetTable(h.Topic)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body.Encode()
	return resp
}

// processConsumerRunningInfo answers the group's running info (Java's
// getConsumerRunningInfo with MQClientInstance.consumerRunningInfo), with a goroutine dump
// as the jstack when asked.
func (i *Instance) processConsumerRunningInfo(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumerRunningInfoRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	cons := i.groups.consumer(h.ConsumerGroup)
	var info *remoting.ConsumerRunningInfo
	if cons != nil {
		info = cons.RunningInfo()
	}
	if info == nil {
		return groupNotHere(req, h.ConsumerGroup)
	}
	info = i.completeRunningInfo(cons, info) // status.go: what GET /v1/status shows too
	if h.JstackEnable {
		info.Jstack = goroutineDump()
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = info.Encode()
	return resp
}

// processConsumeMessageDirectly has the group named consume the message of the body
// (Java's consumeMessageDirectly).
func (i *Instance) processConsumeMessageDirectly(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.ConsumeMessageDirectlyRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return i.processError(c, req, "header", err)
	}
	msg, err := decodeOne(req.Body)
	if err != nil {
		return i.processError(c, req, "message", err)
	}
	var result *remoting.ConsumeMessageDirectlyResult
	if cons := i.groups.consumer(h.ConsumerGroup); cons != nil {
		result = cons.ConsumeMessageDirectly(ctx, msg, h.BrokerName)
	}
	if result == nil {
		return groupNotHere(req, h.ConsumerGroup)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = result.Encode()
	return resp
}

// groupNotHere is Java's answer for a consumer group this client does not have.
func groupNotHere(req *remoting.Command, group string) *remoting.Command {
	return remoting.NewResponse(req, remoting.SystemError, "The Consumer Group <"+group+"> not exist in this consumer")
}

// ack answers a request Java answers nothing: nothing when it is oneway (the transport
// sends nothing anyway), SUCCESS otherwise.
func ack(req *remoting.Command) *remoting.Command {
	if req.IsOneway() {
		return nil
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

func (i *Instance) processError(c *netpoll.Conn, req *remoting.Command, what string, err error) *remoting.Command {
	err = decodeError(what, req.RequestCode(), c.Addr(), err)
	i.log.Warn("instance: broker request refused", "err", err)
	if req.IsOneway() {
		return nil
	}
	return remoting.NewResponse(req, remoting.SystemError, err.Error())
}

// decodeOne decodes the stored message of a request's body.
func decodeOne(body []byte) (*message.Ext, error) {
	msgs, err := message.DecodeStored(body)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, errors.New("no message in the body")
	}
	return &msgs[0], nil
}

// versionDesc names a client version as Java's MQVersion.getVersionDesc, for the one this
// client speaks; other values are given as numbers.
func versionDesc(v int32) string {
	if v == remoting.Version494 {
		return "V4_9_4"
	}
	return strconv.Itoa(int(v))
}

// goroutineDump is the Go counterpart of Java's UtilAll.jstack: every goroutine's stack,
// cut at maxJstack bytes.
func goroutineDump() string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		if len(buf) >= maxJstack {
			return string(buf[:n]) + "\n... (truncated)"
		}
		buf = make([]byte, 2*len(buf))
	}
}
