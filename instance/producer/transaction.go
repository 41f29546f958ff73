package producer

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// LocalTransactionState is the outcome of a local transaction, Java's
// LocalTransactionState. The zero value is Unknown, so that a checker or local function
// that forgets to decide never commits.
type LocalTransactionState uint8

const (
	// Unknown leaves the half message pending: the broker asks the group's
	// TransactionChecker later (Java's UNKNOW).
	Unknown LocalTransactionState = iota
	// CommitMessage makes the half message visible to consumers.
	CommitMessage
	// RollbackMessage discards it.
	RollbackMessage
)

var stateNames = [...]string{"UNKNOW", "COMMIT_MESSAGE", "ROLLBACK_MESSAGE"}

// String returns Java's name of the state.
func (s LocalTransactionState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "LocalTransactionState(" + fmt.Sprint(uint8(s)) + ")"
}

// commitOrRollback is the END_TRANSACTION field for s.
func (s LocalTransactionState) commitOrRollback() int32 {
	switch s {
	case CommitMessage:
		return remoting.TransactionCommitType
	case RollbackMessage:
		return remoting.TransactionRollbackType
	}
	return remoting.TransactionNotType
}

// TransactionChecker decides, when a broker asks (CHECK_TRANSACTION_STATE), the state of
// the local transaction of a half message this group sent and left Unknown (Java's
// TransactionListener.checkLocalTransaction). msg is the half message as stored, its
// topic without the namespace; its UniqKey() is the MsgID SendInTransaction returned.
// Checks run on the producer's goroutines, a few at a time; ctx ends at Shutdown.
type TransactionChecker interface {
	CheckTransaction(ctx context.Context, msg *message.Ext) LocalTransactionState
}

// TransactionCheckerFunc adapts a function to TransactionChecker.
type TransactionCheckerFunc func(ctx context.Context, msg *message.Ext) LocalTransactionState

func (f TransactionCheckerFunc) CheckTransaction(ctx context.Context, msg *message.Ext) LocalTransactionState {
	return f(ctx, msg)
}

// TransactionResult is the outcome of SendInTransaction: the half message's send result
// and the state sent to the broker.
type TransactionResult struct {
	instance.SendResult
	State LocalTransactionState
}

// SendInTransaction sends msg as a transactional half message, runs local, and sends its
// verdict to the broker (END_TRANSACTION), as Java's sendMessageInTransaction: msg gets
// TRAN_MSG and PGROUP (a delay level is dropped), is sent as Send sends it (never
// coalesced); when the broker stored it (SEND_OK) local runs with the half message's id in
// msg.UniqKey(); a result stored without flush or replication is rolled back without
// running local. A panic in local is recovered and counts as Unknown, as Java treats an
// exception, with the panic in the END_TRANSACTION remark.
//
// The error is the half message's send error; END_TRANSACTION is oneway and its failure is
// only logged (the broker then asks the TransactionChecker), as in Java.
func (p *Producer) SendInTransaction(ctx context.Context, msg *message.Message,
	local func(ctx context.Context, msg *message.Message) LocalTransactionState) (TransactionResult, error) {
	if local == nil {
		return TransactionResult{}, fmt.Errorf("producer: SendInTransaction without a local transaction")
	}
	if err := p.checkRunning("send in transaction"); err != nil {
		return TransactionResult{}, err
	}
	msg.Properties.Delete(message.PropertyDelayTimeLevel)
	// Room for the two properties set below too.
	room := len(message.PropertyTransactionPrepared) + len("true") + len(message.PropertyProducerGroup) + len(p.group) + 4
	if err := msg.ValidateLeaving(p.cfg.MaxMessageSize, p.propertyRoom(msg)+room); err != nil {
		return TransactionResult{}, err
	}
	msg.Properties.Set(message.PropertyTransactionPrepared, "true")
	msg.Properties.Set(message.PropertyProducerGroup, p.group)
	res, err := p.Send(ctx, msg)
	if err != nil {
		return TransactionResult{}, err
	}
	state, remark := Unknown, ""
	switch res.Status {
	case instance.SendOK:
		if res.TransactionID != "" {
			msg.Properties.Set("__transactionId__", res.TransactionID)
		}
		state, remark = runLocal(ctx, msg, local)
	case instance.FlushDiskTimeout, instance.FlushSlaveTimeout, instance.SlaveNotAvailable:
		state = RollbackMessage
	}
	if state != CommitMessage {
		p.log.Info("producer: local transaction not committed", "topic", msg.Topic, "msgId", res.MsgID, "state", state)
	}
	p.endTransaction(ctx, res, state, remark)
	return TransactionResult{SendResult: res, State: state}, nil
}

// runLocal runs the local transaction, a panic counting as Unknown.
func runLocal(ctx context.Context, msg *message.Message,
	local func(context.Context, *message.Message) LocalTransactionState) (state LocalTransactionState, remark string) {
	defer func() {
		if r := recover(); r != nil {
			state, remark = Unknown, fmt.Sprintf("executeLocalTransactionBranch exception: %v", r)
		}
	}()
	return local(ctx, msg), ""
}

// endTransaction sends the verdict on a half message (Java's endTransaction).
func (p *Producer) endTransaction(ctx context.Context, res instance.SendResult, state LocalTransactionState, remark string) {
	_, offset, err := message.ParseOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		p.log.Warn("producer: END_TRANSACTION not sent: bad offset message id", "msgId", res.MsgID, "err", err)
		return
	}
	addr := p.inst.FindBrokerAddrInPublish(res.Queue.BrokerName)
	if addr == "" {
		p.log.Warn("producer: END_TRANSACTION not sent: broker unknown", "broker", res.Queue.BrokerName, "msgId", res.MsgID)
		return
	}
	h := &remoting.EndTransactionRequest{
		ProducerGroup:        p.group,
		TranStateTableOffset: res.QueueOffset,
		CommitLogOffset:      offset,
		CommitOrRollback:     state.commitOrRollback(),
		MsgID:                res.MsgID,
		TransactionID:        res.TransactionID,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.SendTimeout)
	defer cancel()
	if err := p.inst.EndTransactionOneway(ctx, addr, h, remark); err != nil {
		p.log.Warn("producer: END_TRANSACTION failed; the broker will check back", "broker", addr,
			"msgId", res.MsgID, "state", state, "err", err)
	}
}

// Transaction checks run on a few workers fed by a bounded queue, as Java's checkExecutor
// (one thread, 2000 requests queued); a check that does not fit is dropped, and the broker
// asks again later.
const (
	checkWorkers = 4
	checkQueue   = 2000
)

type transactionCheck struct {
	addr string
	msg  *message.Ext
	h    remoting.CheckTransactionStateRequest
}

// CheckTransactionState takes a broker's question about a half message of this group
// (instance.Producer); a worker asks the TransactionChecker and answers.
func (p *Producer) CheckTransactionState(_ context.Context, brokerAddr string, msg *message.Ext,
	h *remoting.CheckTransactionStateRequest) {
	if p.cfg.TransactionChecker == nil {
		p.log.Warn("producer: CHECK_TRANSACTION_STATE but no TransactionChecker configured",
			"broker", brokerAddr, "msgId", h.MsgID)
		return
	}
	select {
	case p.checks <- transactionCheck{addr: brokerAddr, msg: msg, h: *h}:
	default:
		p.log.Warn("producer: transaction check queue full, check dropped", "broker", brokerAddr, "msgId", h.MsgID)
	}
}

func (p *Producer) checkWorker(ctx context.Context) {
	defer p.workers.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case chk := <-p.checks:
			p.check(ctx, chk)
		}
	}
}

// check answers one CHECK_TRANSACTION_STATE (Java's checkTransactionState runnable).
func (p *Producer) check(ctx context.Context, chk transactionCheck) {
	msg := chk.msg
	msg.Topic = unwrapNamespace(p.cfg.Namespace, msg.Topic)
	state, remark := p.askChecker(ctx, msg)
	id := msg.UniqKey()
	if id == "" {
		id = msg.OffsetMsgID()
	}
	h := &remoting.EndTransactionRequest{
		ProducerGroup:        p.group,
		TranStateTableOffset: chk.h.TranStateTableOffset,
		CommitLogOffset:      chk.h.CommitLogOffset,
		CommitOrRollback:     state.commitOrRollback(),
		FromTransactionCheck: true,
		MsgID:                id,
		TransactionID:        chk.h.TransactionID,
	}
	if state != CommitMessage {
		p.log.Info("producer: transaction check did not commit", "msgId", id, "state", state)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second) // Java's endTransactionOneway timeout
	defer cancel()
	if err := p.inst.EndTransactionOneway(ctx, chk.addr, h, remark); err != nil && ctx.Err() == nil {
		p.log.Warn("producer: END_TRANSACTION after a check failed", "broker", chk.addr, "msgId", id, "err", err)
	}
}

func (p *Producer) askChecker(ctx context.Context, msg *message.Ext) (state LocalTransactionState, remark string) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("producer: TransactionChecker panicked", "msgId", msg.UniqKey(), "panic", r, "stack", string(debug.Stack()))
			state, remark = Unknown, fmt.Sprintf("checkLocalTransactionState Exception: %v", r)
		}
	}()
	return p.cfg.TransactionChecker.CheckTransaction(ctx, msg), ""
}
