package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Transactions, after Java's queue-based TransactionalMessageService (broker/transaction/
// queue) and EndTransactionProcessor. A half message (TRAN_MSG=true) is stored in queue 0
// of RMQ_SYS_TRANS_HALF_TOPIC with its real topic and queue in REAL_TOPIC and REAL_QID.
// The producer's verdict (END_TRANSACTION) stores a committed copy in the real queue, and
// for commit and rollback alike an op message in RMQ_SYS_TRANS_OP_HALF_TOPIC whose body
// is the half message's queue offset: the record that it is decided. The check service
// (transaction_check.go) asks a producer of the group about half messages left undecided.
//
// Everything is kept as Java keeps it, so it survives a restart the same way: the half and
// op messages are in the commit log, and how far the check got in each queue is the
// consumer offset of the system group CID_RMQ_SYS_TRANS in consumerOffset.json.

func init() {
	extensions = append(extensions, extension{name: "transaction", install: installTransactions})
}

// removeTag is TransactionalMessageUtil.REMOVETAG, the tag of op messages.
const removeTag = "d"

type transactionService struct {
	b *Broker
	// next is ProducerManager's positiveAtomicCounter: checks go to a group's connections
	// in turn.
	next atomic.Uint32
}

func installTransactions(b *Broker) error {
	t := &transactionService{b: b}
	b.txn = t
	b.prepareTransaction = t.prepare
	b.handle(remoting.EndTransaction, t.handleEnd)
	b.services = append(b.services, t.run)
	return nil
}

// prepare is TransactionalMessageBridge.parseHalfMessageInner: the message goes to the
// half topic as not transactional, so that it enters the half queue.
func (t *transactionService) prepare(_ *Broker, sc *sendContext) *remoting.Command {
	sc.setProperty(message.PropertyRealTopic, sc.msg.Topic)
	sc.setProperty(message.PropertyRealQueueID, strconv.Itoa(int(sc.msg.QueueID)))
	sc.msg.SysFlag &^= message.SysFlagTransactionMask
	sc.msg.Topic, sc.msg.QueueID = message.SystemTopicTransactionHalf, 0
	return nil
}

// handleEnd is EndTransactionProcessor.processRequest. END_TRANSACTION comes oneway from
// clients, so its answers are seen only by a request sent with a response expected; an
// undecided verdict (UNKNOW) gets none at all, as in Java.
func (t *transactionService) handleEnd(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.EndTransactionRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		var he *remoting.HeaderError
		if errors.As(err, &he) && he.Field == "commitOrRollback" && he.Reason != "missing" && isJavaInt(req.Ext.Get(he.Field)) {
			return response(req, remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: "+
				"commitOrRollback field wrong, org.apache.rocketmq.common.protocol.header.EndTransactionRequestHeader."+
				"checkFields(EndTransactionRequestHeader.java:60)")
		}
		return headerErrorResponse(req, err)
	}
	switch h.CommitOrRollback {
	case remoting.TransactionNotType:
		t.b.log.Warn("broker: end transaction with an unknown state", "producer", remoteAddr(c), "group", h.ProducerGroup,
			"msg_id", h.MsgID, "from_check", h.FromTransactionCheck)
		return nil
	case remoting.TransactionRollbackType:
		t.b.log.Warn("broker: the producer rolled back", "producer", remoteAddr(c), "group", h.ProducerGroup,
			"msg_id", h.MsgID, "from_check", h.FromTransactionCheck)
	}
	half, err := t.b.store.Lookup(h.CommitLogOffset)
	if err != nil {
		return response(req, remoting.SystemError, "Find prepared transaction message failed")
	}
	if resp := t.checkPrepared(req, &half, &h); resp != nil {
		return resp
	}
	if h.CommitOrRollback == remoting.TransactionRollbackType {
		t.deletePrepared(&half)
		return response(req, remoting.Success, "")
	}
	resp := t.commit(req, &half, &h)
	if resp.Code == int32(remoting.Success) {
		t.deletePrepared(&half)
	}
	return resp
}

// checkPrepared is checkPrepareMessage: the message at the offset must be the group's half
// message at the queue offset named. It returns nil when it is.
func (t *transactionService) checkPrepared(req *remoting.Command, half *message.Ext, h *remoting.EndTransactionRequest) *remoting.Command {
	group, ok := half.Properties.Lookup(message.PropertyProducerGroup)
	switch {
	case !ok:
		return response(req, remoting.SystemError, `java.lang.NullPointerException: Cannot invoke "String.equals(Object)" `+
			`because "pgroupRead" is null, org.apache.rocketmq.broker.processor.EndTransactionProcessor.`+
			`checkPrepareMessage(EndTransactionProcessor.java:169)`)
	case group != h.ProducerGroup:
		return response(req, remoting.SystemError, "The producer group wrong")
	case half.QueueOffset != h.TranStateTableOffset:
		return response(req, remoting.SystemError, "The transaction state table offset wrong")
	case half.CommitLogOffset != h.CommitLogOffset:
		return response(req, remoting.SystemError, "The commit log offset wrong")
	}
	return nil
}

// commit is endMessageTransaction and sendFinalMessage: the half message is stored in its
// real queue as a committed transactional message pointing at it. Its properties are the
// half's as stored, REAL_TOPIC, REAL_QID and TRAN_MSG included: Java clears them from
// the map after serializing it.
func (t *transactionService) commit(req *remoting.Command, half *message.Ext, h *remoting.EndTransactionRequest) *remoting.Command {
	var props javaProps
	props.parse(half.Properties.Encode())
	topic, _ := props.get(message.PropertyRealTopic)
	qid, hasQID := props.get(message.PropertyRealQueueID)
	queueID, err := strconv.ParseInt(qid, 10, 32)
	switch {
	case !hasQID:
		return response(req, remoting.SystemError, nullNumberRemark)
	case err != nil || !isJavaInt(qid):
		return response(req, remoting.SystemError, numberFormatRemark(qid))
	}
	if topic == "" {
		return response(req, remoting.SystemError, "java.lang.NullPointerException")
	}
	m := &message.Ext{Message: message.Message{Topic: topic, Body: half.Body, Flag: half.Flag}, QueueID: int32(queueID),
		SysFlag:       half.SysFlag&^message.SysFlagTransactionMask | message.SysFlagTransactionCommit,
		BornTimestamp: half.BornTimestamp, BornHost: half.BornHost, StoreHost: half.StoreHost,
		ReconsumeTimes: half.ReconsumeTimes, PreparedTransactionOffset: h.CommitLogOffset}
	_, err = t.b.putInner(m, &props)
	var je javaException
	switch {
	case err == nil, errors.Is(err, store.ErrFlushFailed):
		return response(req, remoting.Success, "")
	case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrInvalidMessage):
		return response(req, remoting.MessageIllegal, fmt.Sprintf("The message is illegal, maybe msg body or properties "+
			"length not matched. msg body length limit %dB, msg properties length limit 32KB.", t.b.maxMsgSize))
	case errors.Is(err, store.ErrClosed):
		return response(req, remoting.ServiceNotAvailable, "Service not available now.")
	case errors.As(err, &je):
		return response(req, remoting.SystemError, je.Error())
	}
	t.b.log.Error("broker: storing a committed transactional message", "err", err)
	return response(req, remoting.SystemError, "UNKNOWN_ERROR")
}

// deletePrepared is deletePrepareMessage (addRemoveTagInTransactionOp): an op message,
// tag "d", body the half message's queue offset, in the op queue of the half's queue.
func (t *transactionService) deletePrepared(half *message.Ext) {
	var props javaProps
	props.reset()
	props.put(message.PropertyTags, removeTag)
	props.put(message.PropertyWaitStoreMsgOK, "true")
	m := &message.Ext{Message: message.Message{Topic: message.SystemTopicTransactionOpHalf,
		Body: strconv.AppendInt(nil, half.QueueOffset, 10)}, QueueID: half.QueueID,
		BornTimestamp: t.b.now().UnixMilli(), BornHost: t.b.host, StoreHost: t.b.host}
	props.writeTo(&m.Properties)
	if _, err := t.b.putMessage(m); err != nil && !errors.Is(err, store.ErrFlushFailed) {
		t.b.log.Error("broker: transaction op message write failed", "queue_offset", half.QueueOffset, "err", err)
	}
}
