package producer

import (
	"context"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/trace"
)

// QueueSelector chooses the queue of an ordered send (Java's MessageQueueSelector): it
// returns an index into queues, the topic's writable queues in Java's order (brokers by
// name, then queue ids; topics without the namespace). A send whose selector returns an
// index out of range fails.
type QueueSelector interface {
	Select(queues []instance.MessageQueue, msg *message.Message, arg any) int
}

// QueueSelectorFunc adapts a function to QueueSelector.
type QueueSelectorFunc func(queues []instance.MessageQueue, msg *message.Message, arg any) int

func (f QueueSelectorFunc) Select(queues []instance.MessageQueue, msg *message.Message, arg any) int {
	return f(queues, msg, arg)
}

// HashSelector returns Java's SelectMessageQueueByHash: |arg.hashCode() % n|, with Java's
// hashCode, so that a Go and a Java producer send a key to the same queue: String.hashCode
// (over UTF-16) for a string, the value for int8/16/32 and uint8/16 (Byte, Short,
// Integer; uint16 as Character), Long.hashCode for int, int64, uint, uint32 and uint64,
// and HashCode() for a type that has one. Other types select no queue (-1).
func HashSelector() QueueSelector { return hashSelector{} }

type hashSelector struct{}

func (hashSelector) Select(queues []instance.MessageQueue, _ *message.Message, arg any) int {
	h, ok := javaHashCode(arg)
	if !ok || len(queues) == 0 {
		return -1
	}
	return hashIndex(h, len(queues))
}

// HashCoder is implemented by selector arguments that know their Java hashCode.
type HashCoder interface{ HashCode() int32 }

func javaHashCode(arg any) (int32, bool) {
	switch v := arg.(type) {
	case string:
		return javaStringHash(v), true
	case int8:
		return int32(v), true
	case int16:
		return int32(v), true
	case int32:
		return v, true
	case uint8:
		return int32(v), true
	case uint16:
		return int32(v), true
	case int:
		return javaLongHash(int64(v)), true
	case int64:
		return javaLongHash(v), true
	case uint:
		return javaLongHash(int64(v)), true
	case uint32:
		return javaLongHash(int64(v)), true
	case uint64:
		return javaLongHash(int64(v)), true
	case HashCoder:
		return v.HashCode(), true
	}
	return 0, false
}

// hashIndex is SelectMessageQueueByHash's arithmetic: Java's % keeps the dividend's sign.
func hashIndex(h int32, n int) int {
	v := h % int32(n)
	if v < 0 {
		v = -v
	}
	return int(v)
}

// javaLongHash is Long.hashCode: (int)(v ^ (v >>> 32)).
func javaLongHash(v int64) int32 { return int32(uint64(v) ^ uint64(v)>>32) }

// javaStringHash is String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units.
func javaStringHash(s string) int32 {
	var h uint32
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			h = 31*h + uint32(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + uint32(0xD800+(r>>10))
			h = 31*h + uint32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + uint32(r)
	}
	return int32(h)
}

// selectQueue picks the queue of an attempt, as Java's MQFaultStrategy.selectOneMessageQueue:
// with the latency fault strategy, the next queue in turn whose broker is available;
// without, the next queue in turn, skipping the broker of the previous attempt (last)
// when another has queues.
func (p *Producer) selectQueue(e *topicEntry, info *instance.TopicPublishInfo, last string) instance.MessageQueue {
	if p.fault != nil {
		return p.selectAvoidingFaults(e, info)
	}
	qs := info.Queues
	n := uint32(len(qs))
	if last != "" {
		for range qs {
			if q := qs[e.next.Add(1)%n]; q.BrokerName != last {
				return q
			}
		}
	}
	return qs[e.next.Add(1)%n]
}

// selectAvoidingFaults is the strategy's half of Java's selectOneMessageQueue. Like Java's
// it does not look at the previous attempt's broker: a broker that failed is unavailable
// for 10 minutes anyway (a failure counts as isolationLatency).
func (p *Producer) selectAvoidingFaults(e *topicEntry, info *instance.TopicPublishInfo) instance.MessageQueue {
	qs := info.Queues
	n := uint32(len(qs))
	index := e.next.Add(1)
	for i := range n {
		if q := qs[(index+i)%n]; p.fault.available(q.BrokerName) {
			return q
		}
	}
	// Every broker is unavailable: take one of the least bad and a queue of it in turn.
	if notBest := p.fault.pickOneAtLeast(); notBest != "" {
		if nums := writeQueueNums(info, notBest); nums > 0 {
			return instance.MessageQueue{Topic: info.Topic, BrokerName: notBest, QueueID: int32(e.next.Add(1) % uint32(nums))}
		}
		p.fault.remove(notBest)
	}
	return qs[e.next.Add(1)%n]
}

// writeQueueNums is the write queue count of brokerName in info's route, -1 when it has
// none (Java's getQueueIdByBroker).
func writeQueueNums(info *instance.TopicPublishInfo, brokerName string) int32 {
	if info.Route == nil {
		return -1
	}
	for _, qd := range info.Route.Queues {
		if qd.BrokerName == brokerName {
			return qd.WriteQueueNums
		}
	}
	return -1
}

// SendWithSelector sends msg to the queue sel chooses among the topic's writable queues,
// and waits, as Java's send(msg, selector, arg) (sendSelectImpl): one attempt, never
// retried, so that messages of one key stay in one queue and in order. Coalescing, when
// on, keeps that order (see coalesce.go).
func (p *Producer) SendWithSelector(ctx context.Context, msg *message.Message, sel QueueSelector, arg any) (instance.SendResult, error) {
	if sel == nil {
		return instance.SendResult{}, errors.New("producer: SendWithSelector without a selector")
	}
	return p.sendSelected(ctx, msg, "", func(ps *publishState) int { return sel.Select(ps.queues, msg, arg) })
}

// SendOrderly sends msg to the queue of shardingKey, HashSelector's choice: Java's
// String.hashCode of the key modulo the queue count, so that every message of a key goes
// to one queue, in order, the same one a Java producer would choose.
func (p *Producer) SendOrderly(ctx context.Context, msg *message.Message, shardingKey string) (instance.SendResult, error) {
	return p.sendSelected(ctx, msg, shardingKey, func(ps *publishState) int {
		return hashIndex(javaStringHash(shardingKey), len(ps.queues))
	})
}

// shardingKey, when known, is the message group the telemetry records.
func (p *Producer) sendSelected(ctx context.Context, msg *message.Message, shardingKey string, choose func(*publishState) int) (instance.SendResult, error) {
	if p.tel != nil {
		return p.tel.observeSend(ctx, p, msg, &fifoSend{shardingKey}, func(ctx context.Context, span trace.Span, msg *message.Message) (instance.SendResult, error) {
			return p.sendSelectedOnce(ctx, span, msg, choose)
		})
	}
	return p.sendSelectedOnce(ctx, nil, msg, choose)
}

func (p *Producer) sendSelectedOnce(ctx context.Context, span trace.Span, msg *message.Message, choose func(*publishState) int) (instance.SendResult, error) {
	if err := p.checkRunning("send"); err != nil {
		return instance.SendResult{}, err
	}
	c := p.getCall(ctx, span, msg, modeSync)
	defer putCall(c)
	if err := p.prepare(c); err != nil {
		return instance.SendResult{}, err
	}
	ps, err := p.publishInfo(&c.ctx, c.te)
	if err != nil {
		return instance.SendResult{}, err
	}
	i := choose(ps)
	if i < 0 || i >= len(ps.info.Queues) {
		return instance.SendResult{}, errors.New("producer: the selector chose queue " + strconv.Itoa(i) +
			" of " + strconv.Itoa(len(ps.info.Queues)))
	}
	if err := c.ctx.Err(); err != nil {
		return instance.SendResult{}, err
	}
	if c.ctx.expired(time.Now()) {
		return instance.SendResult{}, &timeoutError{topic: msg.Topic}
	}
	c.selected = true
	return p.attempt(c, ps.info.Queues[i])
}
