package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Request-reply: Java's ReplyMessageProcessor. A consumer answers a request message
// (producer.request) with SEND_REPLY_MESSAGE(_V2) to the cluster's reply topic; the
// broker pushes the reply to the requesting producer, named by REPLY_TO_CLIENT, with
// PUSH_REPLY_MESSAGE_TO_CLIENT, answers with the push's outcome, and stores the reply
// too (storeReplyMessageEnable, on by default).

func init() {
	extensions = append(extensions, extension{name: "reply", install: func(b *Broker) error {
		b.handle(remoting.SendReplyMessage, b.handleReply)
		b.handle(remoting.SendReplyMessageV2, b.handleReply)
		return nil
	}})
}

func (b *Broker) handleReply(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.SendRequest
	var err error
	if req.Code == int32(remoting.SendReplyMessage) {
		err = h.DecodeFields(req.Ext)
	} else {
		err = h.V2().DecodeFields(req.Ext)
	}
	if err != nil {
		return headerErrorResponse(req, err)
	}
	tc, resp := b.msgCheck(c, &h)
	if resp != nil {
		return withRequest(resp, req)
	}
	queueID := h.QueueID
	if queueID < 0 {
		if tc.WriteQueueNums == 0 { // thrown: no header
			return response(req, remoting.SystemError, "java.lang.ArithmeticException: / by zero, "+
				"org.apache.rocketmq.broker.processor.ReplyMessageProcessor.processReplyMessageRequest(ReplyMessageProcessor.java:131)")
		}
		queueID = rand.Int32N(99999999) % tc.WriteQueueNums
	}
	var props javaProps
	props.parse(h.Properties)
	senderID, ok := props.get(message.PropertyMessageReplyToClient)
	if !ok {
		return b.replyResult(c, req, &h, queueID, "reply message properties["+message.PropertyMessageReplyToClient+"] is null")
	}
	ch, ok := b.producers.findChannel(senderID)
	if !ok {
		return b.replyResult(c, req, &h, queueID, "push reply message fail, channel of <"+senderID+"> not found.")
	}
	props.put(message.PropertyPushReplyTime, strconv.FormatInt(b.now().UnixMilli(), 10))
	push := &remoting.Command{Code: int32(remoting.PushReplyMessageToClient), Version: remoting.Version494,
		Ext: b.replyPushFields(c, &h, string(props.appendEncoded(nil))), Body: req.Body}
	callCtx, cancel := context.WithTimeout(context.Background(), callClientTimeout)
	err = ch.InvokeAsync(callCtx, push, func(pushed *remoting.Command, err error) {
		cancel()
		remark := ""
		if err != nil || pushed.Code != int32(remoting.Success) {
			remark = "push reply message to " + senderID + "fail." // sic
			if err == nil {
				b.log.Warn("broker: push reply message refused", "client", senderID, "remark", pushed.Remark)
			}
		}
		if err := c.Respond(req, b.replyResult(c, req, &h, queueID, remark)); err != nil {
			b.log.Debug("broker: reply response lost", "remote", c.Addr(), "err", err)
		}
	})
	if err != nil {
		cancel()
		return b.replyResult(c, req, &h, queueID, "push reply message to "+senderID+"fail.")
	}
	return nil
}

// replyResult stores the reply (the request's properties string as it came) and answers
// with the push's outcome: remark "" is a push that succeeded. A stored reply's id and
// offsets are in the answer either way; one the store refused leaves them out, or "0"
// after a push that succeeded.
func (b *Broker) replyResult(c *netpoll.Conn, req *remoting.Command, h *remoting.SendRequest, queueID int32, remark string) *remoting.Command {
	m := &message.Ext{Message: message.Message{Topic: h.Topic, Body: req.Body, Flag: h.Flag}, QueueID: queueID,
		BornTimestamp: h.BornTimestamp, BornHost: remoteAddrPort(c), StoreHost: b.host, ReconsumeTimes: h.ReconsumeTimes}
	m.Properties.Parse(h.Properties)
	var props javaProps
	props.parse(h.Properties)
	changed := false
	for _, hook := range b.storeHooks {
		ch, err := hook(m, &props)
		if err != nil { // thrown by CommitLog: no header
			return response(req, remoting.SystemError, err.Error())
		}
		changed = changed || ch
	}
	if changed {
		props.writeTo(&m.Properties)
	}
	r, err := b.putMessage(m)
	hdr := &remoting.SendResponse{Region: regionID, TraceOn: traceOn}
	stored := err == nil || errors.Is(err, store.ErrFlushFailed)
	if stored {
		hdr.MsgID, hdr.QueueID, hdr.QueueOffset = string(r.AppendOffsetMsgID(nil)), queueID, r.QueueOffset
	} else {
		b.log.Warn("broker: storing a reply message", "topic", h.Topic, "err", err)
	}
	if remark != "" {
		resp := response(req, remoting.SystemError, remark)
		resp.Header = sendErrorHeader{}
		if stored {
			resp.Header = hdr
		}
		return resp
	}
	if !stored {
		hdr.MsgID, hdr.QueueID, hdr.QueueOffset = "0", queueID, 0
	}
	resp := response(req, remoting.Success, "")
	resp.Header = hdr
	return resp
}

// replyPushFields are the ReplyMessageRequestHeader of the push, in the order of the
// HashMap Java writes them from.
func (b *Broker) replyPushFields(c *netpoll.Conn, h *remoting.SendRequest, properties string) remoting.ExtFields {
	born := remoteAddrPort(c)
	var f javaProps
	f.reset()
	f.put("producerGroup", h.ProducerGroup)
	f.put("topic", h.Topic)
	f.put("defaultTopic", h.DefaultTopic)
	f.put("defaultTopicQueueNums", strconv.Itoa(int(h.DefaultTopicQueueNums)))
	f.put("queueId", strconv.Itoa(int(h.QueueID)))
	f.put("sysFlag", strconv.Itoa(int(h.SysFlag)))
	f.put("bornTimestamp", strconv.FormatInt(h.BornTimestamp, 10))
	f.put("flag", strconv.Itoa(int(h.Flag)))
	f.put("properties", properties)
	f.put("reconsumeTimes", strconv.Itoa(int(h.ReconsumeTimes)))
	f.put("unitMode", strconv.FormatBool(h.UnitMode))
	f.put("bornHost", born.Addr().String()+":"+strconv.Itoa(int(born.Port())))
	f.put("storeHost", b.host.Addr().String()+":"+strconv.Itoa(int(b.host.Port())))
	f.put("storeTimestamp", strconv.FormatInt(b.now().UnixMilli(), 10))
	f.order()
	ext := make(remoting.ExtFields, 0, len(f.entries))
	for _, e := range f.entries {
		ext = append(ext, remoting.Field{Key: e.key, Value: e.value})
	}
	return ext
}
