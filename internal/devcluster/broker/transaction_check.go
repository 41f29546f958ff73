package broker

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The transaction check: TransactionalMessageCheckService, which runs
// TransactionalMessageServiceImpl.check every TransactionCheckInterval. For each half
// queue it reads the op messages from the op queue's offset, then the half messages from
// the half queue's offset: a half message with an op message is done; one younger than
// TransactionTimeout (or its CHECK_IMMUNITY_TIME_IN_SECONDS) stops the scan until the
// next round; an older one is stored again in the half queue with TRANSACTION_CHECK_TIMES
// counted up and a CHECK_TRANSACTION_STATE is sent to a producer of its group about the
// new copy, unless it has been checked TransactionCheckMax times already (or is older
// than the 72 h of fileReservedTime): then it is moved to TRANS_CHECK_MAX_TIME_TOPIC.
// Both offsets advance past what is done, as the consumer offsets of CID_RMQ_SYS_TRANS.

const (
	// maxCheckTime is MAX_PROCESS_TIME_LIMIT: one queue's scan stops after it.
	maxCheckTime = 60 * time.Second
	// fileReservedTime is MessageStoreConfig.fileReservedTime (72 h): a half message older
	// than this is discarded unchecked.
	fileReservedTime = 72 * time.Hour
	// opBatch is the number of op messages read at a time.
	opBatch = 32
	// checkSendTimeout is the oneway send's wait for the connection (Broker2Client's 10 ms).
	checkSendTimeout = 10 * time.Millisecond
)

// pullStatus is the client-side view the check has of a store read
// (TransactionalMessageBridge.getMessage).
type pullStatus uint8

const (
	pullFound pullStatus = iota
	pullNoNewMsg
	pullNoMatchedMsg
	pullOffsetIllegal
)

// opRead is a read of op messages: the PullResult the check keeps.
type opRead struct {
	next int64
	msgs []message.Ext // nil unless found
}

// run checks every TransactionCheckInterval, the first time one interval after start.
func (t *transactionService) run(ctx context.Context) {
	ticker := t.b.cfg.Timers.NewTicker(t.b.cfg.TransactionCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			t.check(ctx)
		}
	}
}

// check is TransactionalMessageServiceImpl.check over every half queue.
func (t *transactionService) check(ctx context.Context) {
	tc := t.b.topics.get(message.SystemTopicTransactionHalf)
	if tc == nil { // fetchMessageQueues' selectTopicConfig creates it
		tc = t.b.topics.createInSendBack(message.SystemTopicTransactionHalf, 1, permRW, 0)
	}
	for q := range tc.ReadQueueNums {
		if ctx.Err() != nil {
			return
		}
		t.checkQueue(ctx, q)
	}
}

func (t *transactionService) checkQueue(ctx context.Context, q int32) {
	start := t.b.now()
	startMs := start.UnixMilli()
	timeout := t.b.cfg.TransactionTimeout.Milliseconds()
	halfOff := t.consumeOffset(message.SystemTopicTransactionHalf, q)
	opOff := t.consumeOffset(message.SystemTopicTransactionOpHalf, q)

	var done []int64             // op offsets whose half message is done
	removed := map[int64]int64{} // half offset -> op offset, read but not yet met
	ops := t.fillRemoved(removed, q, opOff, halfOff, &done)
	nullReads := 1
	newOff := halfOff
	for i := halfOff; ctx.Err() == nil; {
		if t.b.now().Sub(start) > maxCheckTime {
			t.b.log.Info("broker: transaction check reached its time limit", "queue", q)
			break
		}
		if op, ok := removed[i]; ok {
			delete(removed, i)
			done = append(done, op)
		} else {
			half, props, status, next := t.halfMessage(q, i)
			if half == nil {
				nullReads++
				if nullReads-1 > 1 || status == pullNoNewMsg { // MAX_RETRY_COUNT_WHEN_HALF_NULL
					break
				}
				i, newOff = next, next
				continue
			}
			if t.needDiscard(props) || t.needSkip(half) {
				t.discard(half, props)
				i++
				newOff = i
				continue
			}
			if half.StoreTimestamp >= startMs {
				break // stored during this round: the next one checks it
			}
			age := t.b.now().UnixMilli() - half.BornTimestamp
			immunity := timeout
			if v, ok := props.get(message.PropertyCheckImmunityTimeInSeconds); ok {
				immunity = immunityTime(v, timeout)
				if age < immunity && t.checkPreparedQueueOffset(removed, &done, half, props) {
					i++
					newOff = i
					continue
				}
			} else if 0 <= age && age < immunity {
				break // not due yet
			}
			needCheck := (ops.msgs == nil && age > immunity) ||
				(ops.msgs != nil && ops.msgs[len(ops.msgs)-1].BornTimestamp-startMs > timeout) || age <= -1
			if !needCheck {
				if ops.msgs == nil {
					// Nothing more to read and not due: Java would read the empty op
					// queue again until its time limit; the next round looks again.
					break
				}
				ops = t.fillRemoved(removed, q, ops.next, halfOff, &done)
				continue
			}
			if !t.putBack(half, props) {
				break // Java tries again at once; the next round does here
			}
			t.sendCheck(ctx, half, props)
		}
		i++
		newOff = i
	}
	if newOff != halfOff {
		t.b.offsets.commit(message.SystemTransactionCheckGroup, message.SystemTopicTransactionHalf, q, newOff)
	}
	if newOpOff := nextOpOffset(done, opOff); newOpOff != opOff {
		t.b.offsets.commit(message.SystemTransactionCheckGroup, message.SystemTopicTransactionOpHalf, q, newOpOff)
	}
}

// consumeOffset is fetchConsumeOffset: the system group's offset, or the queue's min.
func (t *transactionService) consumeOffset(topic string, q int32) int64 {
	if off := t.b.offsets.query(message.SystemTransactionCheckGroup, topic, q); off >= 0 {
		return off
	}
	return t.b.store.MinOffset(topic, q)
}

// read is TransactionalMessageBridge.getMessage: up to n messages of a queue, decoded.
func (t *transactionService) read(topic string, q int32, off int64, n int32) ([]message.Ext, pullStatus, int64) {
	r := t.b.store.Get(topic, q, off, n, nil)
	switch r.Status {
	case store.Found:
		d := message.Decoder{ZeroCopy: true, KeepCompressed: true} // segments are never reused
		var msgs []message.Ext
		for _, raw := range r.Messages {
			if m, err := d.DecodeStored(nil, raw); err == nil && len(m) == 1 {
				msgs = append(msgs, m[0])
			}
		}
		return msgs, pullFound, r.NextBeginOffset
	case store.NoMatchedMessage:
		return nil, pullNoMatchedMsg, r.NextBeginOffset
	case store.NoMessageInQueue, store.OffsetOverflowOne:
		return nil, pullNoNewMsg, r.NextBeginOffset
	}
	return nil, pullOffsetIllegal, r.NextBeginOffset
}

// fillRemoved is fillOpRemoveMap: the next op messages, each naming a half offset that is
// done (below the half queue's offset: its op is done too).
func (t *transactionService) fillRemoved(removed map[int64]int64, q int32, opOff, halfOff int64, done *[]int64) opRead {
	msgs, status, next := t.read(message.SystemTopicTransactionOpHalf, q, opOff, opBatch)
	r := opRead{next: next, msgs: msgs}
	switch status {
	case pullOffsetIllegal, pullNoMatchedMsg:
		t.b.offsets.commit(message.SystemTransactionCheckGroup, message.SystemTopicTransactionOpHalf, q, next)
		return r
	case pullNoNewMsg:
		return r
	}
	for i := range msgs {
		op := &msgs[i]
		halfOffset, err := strconv.ParseInt(string(op.Body), 10, 64)
		if err != nil {
			halfOffset = -1 // getLong
		}
		if op.Properties.Get(message.PropertyTags) != removeTag {
			t.b.log.Error("broker: an op message with an illegal tag", "offset", op.QueueOffset, "tags", op.Properties.Get(message.PropertyTags))
			continue
		}
		if halfOffset < halfOff {
			*done = append(*done, op.QueueOffset)
		} else {
			removed[halfOffset] = op.QueueOffset
		}
	}
	return r
}

// halfMessage is getHalfMsg: the half message at an offset with its properties as Java's
// map, or nil with the read's status and next offset.
func (t *transactionService) halfMessage(q int32, off int64) (*message.Ext, *javaProps, pullStatus, int64) {
	msgs, status, next := t.read(message.SystemTopicTransactionHalf, q, off, 1)
	if len(msgs) == 0 {
		return nil, nil, status, next
	}
	props := new(javaProps)
	props.parse(msgs[0].Properties.Encode())
	return &msgs[0], props, status, next
}

// needDiscard counts the check in TRANSACTION_CHECK_TIMES, unless the message has been
// checked TransactionCheckMax times: then it is discarded.
func (t *transactionService) needDiscard(props *javaProps) bool {
	checkTimes := 1
	if v, ok := props.get(message.PropertyTransactionCheckTimes); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || !isJavaInt(v) {
			n = -1 // getInt
		}
		if int(n) >= t.b.cfg.TransactionCheckMax {
			return true
		}
		checkTimes = int(n) + 1
	}
	props.put(message.PropertyTransactionCheckTimes, strconv.Itoa(checkTimes))
	return false
}

// needSkip: a half message older than the commit log's retention is given up.
func (t *transactionService) needSkip(half *message.Ext) bool {
	return t.b.now().UnixMilli()-half.BornTimestamp > fileReservedTime.Milliseconds()
}

// immunityTime is getImmunityTime: seconds, or the timeout for -1 (or a bad value).
func immunityTime(v string, timeout int64) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == -1 {
		return timeout
	}
	return n * 1000
}

// checkPreparedQueueOffset: a half message within its immunity time is done when the op
// of the half it was copied from is read; else it is stored again, remembering that
// offset (TRAN_PREPARED_QUEUE_OFFSET). It reports whether the scan may pass it.
func (t *transactionService) checkPreparedQueueOffset(removed map[int64]int64, done *[]int64, half *message.Ext, props *javaProps) bool {
	v, ok := props.get(message.PropertyTransactionPreparedQueueOffset)
	if !ok {
		return t.putImmunityBack(half, props)
	}
	prepared, err := strconv.ParseInt(v, 10, 64)
	if err != nil || prepared == -1 {
		return false
	}
	if op, ok := removed[prepared]; ok {
		delete(removed, prepared)
		*done = append(*done, op)
		return true
	}
	return t.putImmunityBack(half, props)
}

// renewed is renewHalfMessageInner: a copy of the half message for the half queue; flag
// and reconsume times are not copied, as in Java.
func (t *transactionService) renewed(half *message.Ext, props *javaProps) *message.Ext {
	m := &message.Ext{Message: message.Message{Topic: half.Topic, Body: half.Body}, QueueID: half.QueueID,
		SysFlag: half.SysFlag, BornTimestamp: half.BornTimestamp, BornHost: half.BornHost, StoreHost: half.StoreHost}
	props.writeTo(&m.Properties)
	return m
}

// putImmunityBack is putImmunityMsgBackToHalfQueue.
func (t *transactionService) putImmunityBack(half *message.Ext, props *javaProps) bool {
	copied := *props
	copied.entries = slices.Clone(props.entries)
	if _, ok := copied.get(message.PropertyTransactionPreparedQueueOffset); !ok {
		copied.put(message.PropertyTransactionPreparedQueueOffset, strconv.FormatInt(half.QueueOffset, 10))
	}
	_, err := t.b.putMessage(t.renewed(half, &copied))
	return err == nil
}

// putBack is putBackHalfMsgQueue: the half message is stored again with its check counted;
// half then describes the copy, whose offsets the check names. Java's renewHalfMessageInner
// sets WAIT=false in the shared map after serializing it, so the check's body has it.
func (t *transactionService) putBack(half *message.Ext, props *javaProps) bool {
	r, err := t.b.putMessage(t.renewed(half, props))
	if err != nil {
		t.b.log.Error("broker: putting a half message back failed", "offset", half.QueueOffset, "err", err)
		return false
	}
	half.QueueOffset, half.CommitLogOffset = r.QueueOffset, r.CommitLogOffset
	props.put(message.PropertyWaitStoreMsgOK, "false")
	return true
}

// discard is DefaultTransactionalMessageCheckListener.resolveDiscardMsg: the half message
// goes to TRANS_CHECK_MAX_TIME_TOPIC.
func (t *transactionService) discard(half *message.Ext, props *javaProps) {
	realTopic, _ := props.get(message.PropertyRealTopic)
	t.b.log.Error("broker: a half message was checked too many times, discarded to "+message.SystemTopicTransactionCheckMax,
		"offset", half.QueueOffset, "real_topic", realTopic)
	t.b.topics.createInSendBack(message.SystemTopicTransactionCheckMax, 1, permRW, 0)
	// Queue 0: Java picks nextInt(99999999) % TCMT_QUEUE_NUMS, which is 1.
	m := &message.Ext{Message: message.Message{Topic: message.SystemTopicTransactionCheckMax, Body: half.Body, Flag: half.Flag},
		QueueID: 0, SysFlag: half.SysFlag, BornTimestamp: half.BornTimestamp, BornHost: half.BornHost,
		StoreHost: half.StoreHost, ReconsumeTimes: half.ReconsumeTimes}
	props.writeTo(&m.Properties)
	if _, err := t.b.putMessage(m); err != nil {
		t.b.log.Error("broker: discarding a half message failed", "err", err)
	}
}

// sendCheck is AbstractTransactionalMessageCheckListener.sendCheckMessage and
// Broker2Client.checkProducerTransactionState: CHECK_TRANSACTION_STATE, oneway, to one
// connection of the producer group, about the copy just stored; the body is the message
// as the producer sent it (real topic and queue), with the copy's offsets.
func (t *transactionService) sendCheck(ctx context.Context, half *message.Ext, props *javaProps) {
	uniq, _ := props.get(message.PropertyUniqKey)
	h := &remoting.CheckTransactionStateRequest{TranStateTableOffset: half.QueueOffset, CommitLogOffset: half.CommitLogOffset,
		MsgID: uniq, TransactionID: uniq, OffsetMsgID: message.OffsetMsgID(half.StoreHost, half.CommitLogOffset)}
	body := *half
	body.Topic, _ = props.get(message.PropertyRealTopic)
	qid, _ := props.get(message.PropertyRealQueueID)
	queueID, err := strconv.ParseInt(qid, 10, 32)
	if err != nil {
		t.b.log.Error("broker: send check message error: no real queue", "offset", half.QueueOffset, "queue", qid)
		return
	}
	body.QueueID = int32(queueID)
	props.writeTo(&body.Properties)
	group, _ := props.get(message.PropertyProducerGroup)
	conns := t.b.producers.conns(group)
	if len(conns) == 0 {
		t.b.log.Warn("broker: check transaction failed, no connection of the group", "group", group)
		return
	}
	conn := conns[int(t.next.Add(1)%uint32(len(conns)))]
	raw, err := message.AppendStored(nil, &body)
	if err != nil {
		t.b.log.Error("broker: encoding a check message", "err", err)
		return
	}
	req := &remoting.Command{Code: int32(remoting.CheckTransactionState), Version: remoting.Version494, Header: h, Body: raw}
	sendCtx, cancel := context.WithTimeout(ctx, checkSendTimeout)
	defer cancel()
	if err := conn.InvokeOneway(sendCtx, req); err != nil {
		t.b.log.Error("broker: check transaction failed because invoke producer exception", "group", group,
			"msg_id", uniq, "err", err)
	}
}

// nextOpOffset is calculateOpOffset: the op offset moves over the done ops that follow it
// without a gap.
func nextOpOffset(done []int64, old int64) int64 {
	slices.Sort(done)
	next := old
	for _, off := range done {
		if off != next {
			break
		}
		next++
	}
	return next
}
