package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Remarks of SendMessageProcessor.handlePutMessageResult.
const (
	illegalRemarkFormat = "the message is illegal, maybe msg body or properties length not matched. msg body length limit %dB, msg properties length limit 32KB."
	serviceNotAvailable = "service not available now. It may be caused by one of the following reasons: the broker's disk is full [CL:  0.00 CQ:  0.00 INDEX:  0.00], messages are put to the slave, message store has been shut down, etc."
)

// MQVersion ordinals the broker compares client versions with.
const (
	versionV3_0_7Snapshot = 28  // V3_0_7_SNAPSHOT: resetting offsets
	versionV3_1_8Snapshot = 62  // V3_1_8_SNAPSHOT: calling consumers
	versionV3_4_9         = 121 // V3_4_9: maxReconsumeTimes in send headers
)

// sendState is the per-request state of a send, pooled so that a send allocates little
// more than its message id: the decoded header, the properties in Java's order, the
// message handed to the store, the batch buffers and the response itself, which the
// handler writes (Conn.Respond copies it) before the state goes back to the pool.
type sendState struct {
	hdr   remoting.SendRequest
	props javaProps
	msg   message.Ext
	sc    sendContext

	dec     message.Decoder
	batch   []message.Message
	exts    []message.Ext
	results []store.PutResult
	buf     []byte
	bounds  []int

	reply    remoting.Command
	replyHdr remoting.SendResponse
	idBuf    [message.OffsetMsgIDLenV6]byte
}

var sendStates = sync.Pool{New: func() any {
	s := new(sendState)
	s.dec.ZeroCopy, s.dec.KeepCompressed = true, true // bodies stay in the request, which the store copies
	return s
}}

// release drops every reference to the request and returns s to the pool.
func (s *sendState) release() {
	s.hdr = remoting.SendRequest{}
	s.props.reset()
	props := s.msg.Properties
	props.Reset()
	s.msg = message.Ext{}
	s.msg.Properties = props
	s.sc = sendContext{}
	for i := range s.exts {
		props := s.exts[i].Properties
		props.Reset()
		s.exts[i] = message.Ext{}
		s.exts[i].Properties = props
	}
	for i := range s.batch { // keep the property lists, not the request's bytes
		s.batch[i].Body = nil
		s.batch[i].Properties.Reset()
	}
	s.reply, s.replyHdr = remoting.Command{}, remoting.SendResponse{}
	if cap(s.buf) > 64<<10 {
		s.buf = nil
	}
	if cap(s.exts) > 1024 {
		s.exts, s.batch, s.results, s.bounds = nil, nil, nil, nil
	}
	sendStates.Put(s)
}

// handleSend serves SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE: Java's
// SendMessageProcessor. It answers the producer itself, then wakes the pulls held on the
// queue, so a producer never waits for consumers.
func (b *Broker) handleSend(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	s := sendStates.Get().(*sendState)
	defer s.release()
	var err error
	if req.Code == int32(remoting.SendMessage) {
		err = s.hdr.DecodeFields(req.Ext)
	} else {
		err = s.hdr.V2().DecodeFields(req.Ext)
	}
	if err != nil {
		// Java reads a send header leniently (SendMessageRequestHeaderV2 is a
		// FastCodesHeader): a missing topic is caught by msgCheck.
		var he *remoting.HeaderError
		topicKey := "b"
		if req.Code == int32(remoting.SendMessage) {
			topicKey = "topic"
		}
		if _, ok := req.Ext.Lookup(topicKey); !ok && errors.As(err, &he) && he.Reason == "missing" {
			return sendError(req, remoting.SystemError, "The specified topic is blank.")
		}
		return headerErrorResponse(req, err)
	}
	tc, resp := b.msgCheck(c, &s.hdr)
	if resp != nil {
		return withRequest(resp, req)
	}
	queueID := s.hdr.QueueID
	if queueID < 0 {
		if tc.WriteQueueNums == 0 {
			// Thrown: NettyRemotingAbstract answers without the send's header.
			return response(req, remoting.SystemError, "java.lang.ArithmeticException: / by zero, "+
				"org.apache.rocketmq.broker.processor.SendMessageProcessor.randomQueueId(SendMessageProcessor.java:690)")
		}
		queueID = rand.Int32N(99999999) % tc.WriteQueueNums
	}
	var stored *message.Ext
	var maxOffset int64
	if s.hdr.Batch {
		resp, stored, maxOffset = b.sendBatch(s, c, req, tc, queueID)
	} else {
		resp, stored, maxOffset = b.sendOne(s, c, req, tc, queueID)
	}
	if err := c.Respond(req, resp); err != nil {
		b.log.Debug("broker: send response lost", "remote", c.Addr(), "err", err)
	}
	if stored != nil {
		b.arrived(stored, maxOffset)
	}
	return nil
}

// msgCheck is AbstractSendMessageProcessor.msgCheck: the topic's name, whether a client
// may send to it, its config (auto-created when allowed) and the queue id. It returns the
// topic's config, or the response refusing the send.
func (b *Broker) msgCheck(c *netpoll.Conn, h *remoting.SendRequest) (*remoting.TopicConfig, *remoting.Command) {
	if remark := validateTopic(h.Topic); remark != "" {
		return nil, sendErrorCommand(remoting.SystemError, remark)
	}
	if message.IsNotAllowedSendTopic(h.Topic) {
		return nil, sendErrorCommand(remoting.NoPermission, "Sending message to topic["+h.Topic+"] is forbidden.")
	}
	tc := b.topics.get(h.Topic)
	if tc == nil {
		var sysFlag int32
		if h.UnitMode {
			sysFlag = 1 // TopicSysFlag.buildSysFlag(true, false)
			if strings.HasPrefix(h.Topic, message.RetryTopicPrefix) {
				sysFlag = topicSysFlagUnitSub
			}
		}
		b.log.Warn("broker: the topic does not exist", "topic", h.Topic, "producer", c.Addr())
		tc = b.topics.createInSendMessage(h.Topic, h.DefaultTopic, h.DefaultTopicQueueNums, sysFlag)
		if tc == nil && strings.HasPrefix(h.Topic, message.RetryTopicPrefix) {
			tc = b.topics.createInSendBack(h.Topic, 1, permRW, sysFlag)
		}
		if tc == nil {
			return nil, sendErrorCommand(remoting.TopicNotExist, "topic["+h.Topic+"] not exist, apply first please!"+faqURL)
		}
	}
	if h.QueueID >= max(tc.WriteQueueNums, tc.ReadQueueNums) {
		return nil, sendErrorCommand(remoting.SystemError, fmt.Sprintf("request queueId[%d] is illegal, %s Producer: %s",
			h.QueueID, topicString(tc), remoteAddr(c)))
	}
	return tc, nil
}

// sendOne stores a single message: SendMessageProcessor.asyncSendMessage. It returns the
// response, and the stored message with its queue's new max offset for the long polls
// (nil when nothing was stored).
func (b *Broker) sendOne(s *sendState, c *netpoll.Conn, req *remoting.Command, tc *remoting.TopicConfig, queueID int32) (*remoting.Command, *message.Ext, int64) {
	h := &s.hdr
	m := &s.msg
	m.Topic, m.QueueID = h.Topic, queueID
	sc := &s.sc
	*sc = sendContext{conn: c, req: req, header: h, topic: tc, queueID: queueID, msg: m, props: &s.props}
	if resp := b.retryOrDLQ(sc); resp != nil {
		return withRequest(resp, req), nil, 0
	}
	m.SysFlag = h.SysFlag
	if tc.TopicFilterType == multiTag {
		m.SysFlag |= message.SysFlagMultiTags
	}
	m.Body = req.Body
	m.Flag = h.Flag
	// The stored properties: the producer's, CLUSTER added, WAIT left out (to save 9 bytes,
	// says Java) and put back into the map for whoever serializes it again.
	s.props.parse(h.Properties)
	s.props.put(message.PropertyCluster, b.cfg.ClusterName)
	wait, hadWait := s.props.remove(message.PropertyWaitStoreMsgOK)
	s.props.writeTo(&m.Properties)
	if hadWait {
		s.props.put(message.PropertyWaitStoreMsgOK, wait)
	}
	m.BornTimestamp = h.BornTimestamp
	m.BornHost = remoteAddrPort(c)
	m.StoreHost = b.host
	m.ReconsumeTimes = h.ReconsumeTimes

	if v, _ := s.props.get(message.PropertyTransactionPrepared); strings.EqualFold(v, "true") {
		if b.prepareTransaction == nil {
			return sendError(req, remoting.NoPermission, "the broker["+b.brokerIP+"] sending transaction message is forbidden"), nil, 0
		}
		if resp := b.prepareTransaction(b, sc); resp != nil {
			return withRequest(resp, req), nil, 0
		}
	}
	for _, hook := range b.putHooks {
		if resp := hook(b, sc); resp != nil {
			return withRequest(resp, req), nil, 0
		}
	}
	for _, hook := range b.storeHooks {
		changed, err := hook(m, &s.props)
		if err != nil { // an exception: NettyRemotingAbstract answers without the send's header
			return response(req, remoting.SystemError, err.Error()), nil, 0
		}
		sc.propsDirty = sc.propsDirty || changed
	}
	if sc.propsDirty {
		s.props.writeTo(&m.Properties)
	}
	if len(m.Body) > b.maxMsgSize || m.Properties.EncodedLen() > math.MaxInt16 {
		return sendError(req, remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize)), nil, 0
	}
	r, err := b.store.Put(m)
	code, remark, ok := b.putStatus(err)
	if !ok {
		return sendError(req, code, remark), nil, 0
	}
	return s.response(req, code, s.msgID(&r), queueID, r.QueueOffset), m, r.QueueOffset + 1
}

// retryOrDLQ is handleRetryAndDLQ: a message sent to a retry topic that has been
// reconsumed as often as its group allows goes to the group's dead letter topic instead.
// Java drops the DELAY it sets there when it replaces the message's properties, so the
// delay the producer asked for still applies.
func (b *Broker) retryOrDLQ(sc *sendContext) *remoting.Command {
	h := sc.header
	if !strings.HasPrefix(h.Topic, message.RetryTopicPrefix) {
		return nil
	}
	group := h.Topic[len(message.RetryTopicPrefix):]
	g := b.groups.find(group)
	if g == nil {
		return sendErrorCommand(remoting.SubscriptionGroupNotExist, "subscription group not exist, "+group+" "+faqURL)
	}
	maxTimes := g.RetryMaxTimes
	if v, ok := h.MaxReconsumeTimes.Get(); ok && sc.req.Version >= versionV3_4_9 {
		maxTimes = v
	}
	if h.ReconsumeTimes < maxTimes {
		return nil
	}
	dlq := message.DLQTopic(group)
	tc := b.topics.createInSendBack(dlq, 1, permRW, 0) // DLQ_NUMS_PER_GROUP
	sc.msg.Topic, sc.msg.QueueID = dlq, 0
	if tc == nil {
		return sendErrorCommand(remoting.SystemError, "topic["+dlq+"] not exist")
	}
	return nil
}

// sendBatch stores a SEND_BATCH_MESSAGE: asyncSendBatchMessage and CommitLog's batch
// encoder. Every message keeps its own properties, followed by the batch's (the request
// header's, CLUSTER added) after a separator: WAIT appears twice in a Java client's batch
// messages, as on a real broker.
func (b *Broker) sendBatch(s *sendState, c *netpoll.Conn, req *remoting.Command, tc *remoting.TopicConfig, queueID int32) (*remoting.Command, *message.Ext, int64) {
	h := &s.hdr
	sysFlag := h.SysFlag
	if tc.TopicFilterType == multiTag {
		sysFlag |= message.SysFlagMultiTags
	}
	s.props.parse(h.Properties)
	s.props.put(message.PropertyCluster, b.cfg.ClusterName)
	// DefaultMessageStore.checkMessages: Java's body is null when the request has none.
	if len(req.Body) == 0 {
		return response(req, remoting.SystemError, batchNullBodyRemark), nil, 0 // thrown: no send header
	}
	if len(req.Body) > b.maxMsgSize {
		return sendError(req, remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize)), nil, 0
	}
	// CommitLog.asyncPutMessages refuses transactional and delayed batches; the delay
	// level is parsed by Integer.parseInt.
	if message.TransactionType(sysFlag) != message.SysFlagTransactionNotType {
		return sendError(req, remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize)), nil, 0
	}
	if d, ok := s.props.get(message.PropertyDelayTimeLevel); ok {
		level, err := strconv.ParseInt(d, 10, 32)
		if err != nil {
			return response(req, remoting.SystemError, numberFormatRemark(d)), nil, 0
		}
		if level > 0 {
			return sendError(req, remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize)), nil, 0
		}
	}
	// The encoder refuses the batch's own properties over Short.MAX_VALUE, then reads
	// the messages.
	s.buf = s.props.appendEncoded(s.buf[:0])
	if len(s.buf) > math.MaxInt16 {
		return response(req, remoting.SystemError, batchPropertiesRemark), nil, 0
	}
	var err error
	s.batch, err = s.dec.DecodeBatch(s.batch[:0], req.Body)
	if err != nil {
		return response(req, remoting.SystemError, bufferUnderflowRemark), nil, 0 // thrown: no send header
	}
	if len(s.batch) == 0 { // not reached: a body holds a message or underflows
		return response(req, remoting.SystemError, bufferUnderflowRemark), nil, 0
	}
	// All properties strings of the batch in one allocation, after the batch's.
	batchProps := len(s.buf)
	bounds := s.bounds[:0]
	for i := range s.batch {
		start := len(s.buf)
		s.buf = s.batch[i].Properties.AppendTo(s.buf)
		if len(s.buf) > start && batchProps > 0 && s.buf[len(s.buf)-1] != message.PropertySeparator {
			s.buf = append(s.buf, message.PropertySeparator)
		}
		s.buf = append(s.buf, s.buf[:batchProps]...)
		bounds = append(bounds, start, len(s.buf))
	}
	s.bounds = bounds
	arena := string(s.buf)
	if cap(s.exts) < len(s.batch) {
		s.exts = make([]message.Ext, len(s.batch))
	}
	s.exts = s.exts[:len(s.batch)]
	bornHost := remoteAddrPort(c)
	for i := range s.batch {
		e := &s.exts[i]
		e.Topic, e.QueueID, e.Flag, e.Body = h.Topic, queueID, s.batch[i].Flag, s.batch[i].Body
		e.Properties.Parse(arena[bounds[2*i]:bounds[2*i+1]])
		if e.Properties.EncodedLen() > math.MaxInt16 {
			return sendError(req, remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize)), nil, 0
		}
		e.SysFlag, e.BornTimestamp, e.BornHost, e.StoreHost = sysFlag, h.BornTimestamp, bornHost, b.host
		e.ReconsumeTimes = h.ReconsumeTimes
	}
	s.results, err = b.store.PutBatch(s.exts, s.results[:0])
	code, remark, ok := b.putStatus(err)
	if !ok {
		return sendError(req, code, remark), nil, 0
	}
	ids := make([]byte, 0, len(s.results)*(message.OffsetMsgIDLenV4+1))
	for i := range s.results {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = s.results[i].AppendOffsetMsgID(ids)
	}
	last := s.results[len(s.results)-1].QueueOffset
	return s.response(req, code, string(ids), queueID, s.results[0].QueueOffset), &s.exts[0], last + 1
}

// msgID returns r's offset message id as a string over the state's buffer, saving its
// allocation: the response header is its only user, and Conn.Respond has copied it into
// the frame before the state is reused.
func (s *sendState) msgID(r *store.PutResult) string {
	id := r.AppendOffsetMsgID(s.idBuf[:0])
	return unsafe.String(unsafe.SliceData(id), len(id))
}

// putStatus maps a store error to handlePutMessageResult's code and remark; ok says the
// message was stored (FLUSH_DISK_TIMEOUT answers with the message's id too).
func (b *Broker) putStatus(err error) (remoting.ResponseCode, string, bool) {
	switch {
	case err == nil:
		return remoting.Success, "", true
	case errors.Is(err, store.ErrFlushFailed):
		return remoting.FlushDiskTimeout, "", true
	case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrInvalidMessage):
		return remoting.MessageIllegal, fmt.Sprintf(illegalRemarkFormat, b.maxMsgSize), false
	case errors.Is(err, store.ErrClosed):
		return remoting.ServiceNotAvailable, serviceNotAvailable, false
	}
	b.log.Error("broker: put failed", "err", err)
	return remoting.SystemError, "UNKNOWN_ERROR", false
}

// response fills the pooled success response: the SendMessageResponseHeader with
// MSG_REGION and TRACE_ON.
func (s *sendState) response(req *remoting.Command, code remoting.ResponseCode, msgID string, queueID int32, queueOffset int64) *remoting.Command {
	s.replyHdr = remoting.SendResponse{MsgID: msgID, QueueID: queueID, QueueOffset: queueOffset,
		Region: regionID, TraceOn: traceOn}
	s.reply = remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: remoting.Version494,
		Opaque: req.Opaque, Flag: remoting.FlagResponse, Serialize: req.Serialize, Header: &s.replyHdr}
	return &s.reply
}

// sendError is a failed send's response: its code and remark, with MSG_REGION and
// TRACE_ON as preSend added them.
func sendError(req *remoting.Command, code remoting.ResponseCode, remark string) *remoting.Command {
	return withRequest(sendErrorCommand(code, remark), req)
}

func sendErrorCommand(code remoting.ResponseCode, remark string) *remoting.Command {
	return &remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: remoting.Version494,
		Flag: remoting.FlagResponse, Remark: remark, Header: sendErrorHeader{}}
}

// withRequest addresses resp to req.
func withRequest(resp, req *remoting.Command) *remoting.Command {
	resp.Opaque, resp.Serialize = req.Opaque, req.Serialize
	resp.Flag |= remoting.FlagResponse
	return resp
}
