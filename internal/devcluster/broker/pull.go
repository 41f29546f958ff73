package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// pullMode says where a pull comes from, which decides what it may do (Java's
// brokerAllowSuspend, and the hold service's wake-up filter).
type pullMode uint8

const (
	// pullRequest is a request as received: it may be held, and it commits the offset.
	pullRequest pullMode = iota
	// pullWoken is a held request re-run because a message arrived on its queue: when
	// nothing matches its filter yet it keeps waiting, as Java wakes a held pull only for
	// a message its filter matches.
	pullWoken
	// pullExpired is a held request re-run at its deadline: it is answered whatever it finds.
	pullExpired
)

// pullState is the pooled state of one pull: the header, the store's result, the body and
// the response, which the pull writes (Conn.Respond copies it) before going back to the
// pool. A pull allocates nothing on its way.
type pullState struct {
	hdr      remoting.PullRequest
	res      store.GetResult
	filter   tagFilter
	body     []byte
	reply    remoting.Command
	replyHdr remoting.PullResponse
}

var pullStates = sync.Pool{New: func() any { return new(pullState) }}

func (s *pullState) release() {
	s.hdr = remoting.PullRequest{}
	clear(s.res.Messages)
	s.res.Messages = s.res.Messages[:0]
	s.reply, s.replyHdr = remoting.Command{}, remoting.PullResponse{}
	if cap(s.body) > 4<<20 {
		s.body = nil
	}
	pullStates.Put(s)
}

// handlePull serves PULL_MESSAGE; the answer goes out from pull, now or once held.
func (b *Broker) handlePull(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	b.pull(c, req, pullRequest)
	return nil
}

// pull is PullMessageProcessor.processRequest. It answers req on c and reports true,
// unless it holds the request (pullRequest, nothing new, the suspend flag set) or, woken,
// finds nothing its filter matches (pullWoken): then it reports false.
func (b *Broker) pull(c *netpoll.Conn, req *remoting.Command, mode pullMode) bool {
	s := pullStates.Get().(*pullState)
	defer s.release()
	resp, answered := b.pullResponse(s, c, req, mode)
	if answered {
		if err := c.Respond(req, resp); err != nil {
			b.log.Debug("broker: pull response lost", "remote", c.Addr(), "err", err)
		}
	}
	return answered
}

func (b *Broker) pullResponse(s *pullState, c *netpoll.Conn, req *remoting.Command, mode pullMode) (*remoting.Command, bool) {
	h := &s.hdr
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err), true
	}
	if b.permission.Load()&permRead == 0 {
		return pullError(req, remoting.NoPermission, "the broker["+b.brokerIP+"] pulling message is forbidden"), true
	}
	g := b.groups.find(h.ConsumerGroup)
	if g == nil {
		return pullError(req, remoting.SubscriptionGroupNotExist,
			fmt.Sprintf("subscription group [%s] does not exist, %s", h.ConsumerGroup, faqURL)), true
	}
	if !g.ConsumeEnable {
		return pullError(req, remoting.NoPermission, "subscription group no permission, "+h.ConsumerGroup), true
	}
	suspend := h.SysFlag&remoting.PullFlagSuspend != 0
	commit := h.SysFlag&remoting.PullFlagCommitOffset != 0
	tc := b.topics.get(h.Topic)
	if tc == nil {
		return pullError(req, remoting.TopicNotExist,
			fmt.Sprintf("topic[%s] not exist, apply first please! %s", h.Topic, faqURL)), true
	}
	if tc.Perm&permRead == 0 {
		return pullError(req, remoting.NoPermission, "the topic["+h.Topic+"] pulling message is forbidden"), true
	}
	if h.QueueID < 0 || h.QueueID >= tc.ReadQueueNums {
		return pullError(req, remoting.SystemError, fmt.Sprintf(
			"queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[/%s]",
			h.QueueID, h.Topic, tc.ReadQueueNums, remoteAddr(c))), true
	}

	var filter store.Filter
	if h.SysFlag&remoting.PullFlagSubscription != 0 {
		if !isTagType(h.ExpressionType) {
			if h.Subscription == "" {
				return pullError(req, remoting.SubscriptionParseFailed, "parse the consumer's subscription failed"), true
			}
			return pullError(req, remoting.SystemError, "The broker does not support consumer to filter message by "+h.ExpressionType), true
		}
		all, ok := s.filter.parse(h.Subscription)
		if typ, typed := req.Ext.Lookup("expressionType"); typed && typ == "" {
			// FilterAPI.build parses tags for TAG or null only: an empty type keeps
			// the expression as it is, with no tag codes, and refuses an empty one.
			s.filter.codes = s.filter.codes[:0]
			all, ok = h.Subscription == remoting.SubAll, h.Subscription != ""
		}
		if !ok {
			return pullError(req, remoting.SubscriptionParseFailed, "parse the consumer's subscription failed"), true
		}
		if !all {
			filter = &s.filter
		}
	} else {
		sub, found, broadcast := b.consumers.subscriptionOf(h.ConsumerGroup, h.Topic)
		switch {
		case !found:
			return pullError(req, remoting.SubscriptionNotExist, "the consumer's group info not exist"+faqURL), true
		case broadcast && !g.ConsumeBroadcastEnable:
			return pullError(req, remoting.NoPermission,
				"the consumer group["+h.ConsumerGroup+"] can not consume by broadcast way"), true
		case sub == nil:
			return pullError(req, remoting.SubscriptionNotExist, "the consumer's subscription not exist"+faqURL), true
		case sub.data.SubVersion < h.SubVersion:
			return pullError(req, remoting.SubscriptionNotLatest, "the consumer's subscription not latest"), true
		case !isTagType(sub.data.ExpressionType):
			return pullError(req, remoting.SystemError,
				"The broker does not support consumer to filter message by "+sub.data.ExpressionType), true
		}
		if sub.filter != nil {
			filter = sub.filter
		}
	}

	r := &s.res
	b.store.GetInto(r, h.Topic, h.QueueID, h.QueueOffset, h.MaxMsgNums, filter)
	if h.MaxMsgNums < 0 {
		switch r.Status {
		case store.Found, store.NoMatchedMessage, store.MessageWasRemoving:
			// Java sizes its result list by maxMsgNums once it starts scanning the
			// queue, and the exception answers the pull before any offset is committed.
			// (Java's hold service drops a woken pull that throws; this one answers it.)
			return response(req, remoting.SystemError, illegalCapacityRemark(h.MaxMsgNums)), true
		}
	}
	var code remoting.ResponseCode
	switch r.Status {
	case store.Found:
		code = remoting.Success
	case store.MessageWasRemoving, store.NoMatchedMessage:
		code = remoting.PullRetryImmediately
	case store.NoMatchedLogicQueue, store.NoMessageInQueue:
		code = remoting.PullNotFound
		if h.QueueOffset != 0 {
			code = remoting.PullOffsetMoved
		}
	case store.OffsetFoundNull, store.OffsetOverflowOne:
		code = remoting.PullNotFound
	case store.OffsetOverflowBadly, store.OffsetTooSmall:
		code = remoting.PullOffsetMoved
	default:
		return pullError(req, remoting.SystemError, "store getMessage return null"), true
	}
	if mode == pullWoken && r.Status == store.NoMatchedMessage {
		return nil, false
	}

	answered := true
	switch code {
	case remoting.PullNotFound:
		if mode == pullRequest && suspend {
			b.holds.hold(c, req, h.Topic, h.QueueID, h.QueueOffset, h.SuspendTimeoutMillis)
			answered = false
		}
	case remoting.PullOffsetMoved:
		b.offsetMoved(h, r.NextBeginOffset)
	}
	if mode == pullRequest && commit {
		b.offsets.commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	}
	if !answered {
		return nil, false
	}

	s.replyHdr = remoting.PullResponse{NextBeginOffset: r.NextBeginOffset, MinOffset: r.MinOffset, MaxOffset: r.MaxOffset}
	s.reply = remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: remoting.Version494,
		Opaque: req.Opaque, Flag: remoting.FlagResponse, Remark: r.Status.String(), Serialize: req.Serialize,
		Header: &s.replyHdr}
	if mode != pullRequest {
		// Java answers a held pull from the hold service in JSON whatever the request's
		// serialization (recording 142). Conn.Respond answers in the request's, so a
		// ROCKETMQ request gets ROCKETMQ, with the fields in the order JSON has them.
		s.reply.Header = hashOrdered{&s.replyHdr}
	}
	if code == remoting.Success {
		body := s.body[:0]
		for _, m := range r.Messages {
			body = append(body, m...)
		}
		s.body = body
		s.reply.Body = body
	}
	return &s.reply, true
}

// hashOrdered encodes a header's fields in java.util.HashMap order in a ROCKETMQ header
// too (the remoting package orders only the headers Java encodes itself by declaration).
type hashOrdered struct{ h remoting.HeaderEncoder }

func (w hashOrdered) EncodeFields(fw *remoting.FieldWriter) { w.h.EncodeFields(fw) }

// pullError is an answer without offsets: Java's PullMessageResponseHeader with every
// field null, which it writes as an empty extFields.
func pullError(req *remoting.Command, code remoting.ResponseCode, remark string) *remoting.Command {
	resp := response(req, code, remark)
	resp.Header = remoting.EmptyHeader{}
	return resp
}

// isTagType is ExpressionType.isTagType.
func isTagType(t string) bool { return t == "" || t == "TAG" }

// offsetMoved is generateOffsetMovedEvent: a master answering PULL_OFFSET_MOVED records an
// OffsetMovedEvent in OFFSET_MOVED_EVENT.
func (b *Broker) offsetMoved(h *remoting.PullRequest, newOffset int64) {
	body := []byte(`{"consumerGroup":`)
	body = append(body, jsonString(h.ConsumerGroup)...)
	body = append(body, `,"messageQueue":{"brokerName":`...)
	body = append(body, jsonString(b.cfg.BrokerName)...)
	body = fmt.Appendf(body, `,"queueId":%d,"topic":`, h.QueueID)
	body = append(body, jsonString(h.Topic)...)
	body = fmt.Appendf(body, `},"offsetNew":%d,"offsetRequest":%d}`, newOffset, h.QueueOffset)
	var props javaProps
	props.reset()
	props.put(message.PropertyTags, h.ConsumerGroup)
	props.put(message.PropertyDelayTimeLevel, "0")
	props.put(message.PropertyKeys, h.ConsumerGroup)
	m := &message.Ext{Message: message.Message{Topic: message.SystemTopicOffsetMovedEvent, Body: body},
		BornTimestamp: b.now().UnixMilli(), BornHost: b.host, StoreHost: b.host}
	props.writeTo(&m.Properties)
	if _, err := b.putMessage(m); err != nil {
		b.log.Warn("broker: storing the offset moved event", "err", err)
	}
}

// tagFilter is a TAG subscription's filter (ExpressionMessageFilter.isMatchedByConsumeQueue):
// a message matches when the hash code of its tags is in the subscription's code set.
type tagFilter struct {
	codes []int32
}

// MatchTagsCode reports whether tagsCode, truncated to an int as Java's Long.intValue,
// is in the set.
func (f *tagFilter) MatchTagsCode(tagsCode int64) bool {
	for _, c := range f.codes {
		if c == int32(tagsCode) {
			return true
		}
	}
	return false
}

// MatchStored matches every message: tags are filtered by code alone.
func (f *tagFilter) MatchStored([]byte) bool { return true }

// parse builds the filter of an expression as FilterAPI.buildSubscriptionData: "" and "*"
// match everything (all); otherwise the tags between "||", trimmed. It fails, as Java
// does, when splitting leaves nothing (only separators).
func (f *tagFilter) parse(expr string) (all, ok bool) {
	f.codes = f.codes[:0]
	if expr == "" || expr == remoting.SubAll {
		return true, true
	}
	anyPart := false
	for rest := expr; ; {
		part := rest
		i := strings.Index(rest, "||")
		if i >= 0 {
			part = rest[:i]
		}
		if part != "" {
			anyPart = true
		}
		if tag := strings.TrimFunc(part, func(r rune) bool { return r <= ' ' }); tag != "" {
			if code := remoting.TagHashCode(tag); !containsCode(f.codes, code) {
				f.codes = append(f.codes, code)
			}
		}
		if i < 0 {
			break
		}
		rest = rest[i+2:]
	}
	return false, anyPart
}

func containsCode(codes []int32, c int32) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// newSubscription keeps a heartbeat's subscription with its filter: by the codes the
// client computed, as Java's broker uses codeSet; "*" and class filter mode match all.
func newSubscription(d remoting.SubscriptionData) *subscription {
	s := &subscription{data: d}
	if d.SubString != remoting.SubAll && !d.ClassFilterMode {
		s.filter = &tagFilter{codes: d.CodeSet}
	}
	return s
}
