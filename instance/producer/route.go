package producer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/instance"
)

// topicEntry is what the producer keeps per topic it sends to: Java's TopicPublishInfo
// (the publish info and the queue cursor) plus the coalescing queues.
type topicEntry struct {
	topic string // as callers name it
	wire  string // as the brokers know it: with the namespace
	pub   atomic.Pointer[publishState]
	// next is the round-robin cursor over the queues (Java's sendWhichQueue, a
	// ThreadLocalIndex there: a shared atomic here, one cache line per topic).
	next atomic.Uint32

	bmu      sync.Mutex                      // serialises writers of batchers
	batchers atomic.Pointer[[]*queueBatcher] // coalescing queues, copied on insert
}

// publishState is a topic's publish info with its queues as selectors see them.
type publishState struct {
	info *instance.TopicPublishInfo
	// queues are info.Queues with the namespace removed from their topics (the same slice
	// without a namespace), as Java hands them to a MessageQueueSelector.
	queues []instance.MessageQueue
}

func (p *Producer) newPublishState(info *instance.TopicPublishInfo) *publishState {
	ps := &publishState{info: info, queues: info.Queues}
	if p.cfg.Namespace != "" {
		ps.queues = slices.Clone(info.Queues)
		for i := range ps.queues {
			ps.queues[i].Topic = unwrapNamespace(p.cfg.Namespace, ps.queues[i].Topic)
		}
	}
	return ps
}

// topicTable maps topics, as callers name them, to their entries. Read on every send
// without a lock; copied on insert.
type topicTable struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*topicEntry]
}

func (t *topicTable) init() {
	empty := map[string]*topicEntry{}
	t.m.Store(&empty)
}

func (t *topicTable) get(topic string) *topicEntry { return (*t.m.Load())[topic] }

// getOrAdd returns topic's entry, adding one when there is none.
func (t *topicTable) getOrAdd(topic, wire string) *topicEntry {
	if e := t.get(topic); e != nil {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if e := old[topic]; e != nil {
		return e
	}
	m := make(map[string]*topicEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &topicEntry{topic: topic, wire: wire}
	empty := []*queueBatcher(nil)
	e.batchers.Store(&empty)
	m[topic] = e
	t.m.Store(&m)
	return e
}

// remove drops e, if it is still topic's entry.
func (t *topicTable) remove(e *topicEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if old[e.topic] != e {
		return
	}
	m := make(map[string]*topicEntry, len(old))
	for k, v := range old {
		if v != e {
			m[k] = v
		}
	}
	t.m.Store(&m)
}

func (t *topicTable) all() []*topicEntry {
	m := *t.m.Load()
	out := make([]*topicEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	return out
}

// entry returns the entry of msg's topic, with the wire name computed once per topic.
func (p *Producer) entry(topic string) *topicEntry {
	if e := p.topics.get(topic); e != nil {
		return e
	}
	return p.topics.getOrAdd(topic, wrapNamespace(p.cfg.Namespace, topic))
}

// publishInfo returns where e's topic can be sent, asking the NameServers when nothing
// usable is cached, as Java's tryToFindTopicPublishInfo: the topic's own route, or, when
// no NameServer knows the topic, CreateTopicKey's route cut to DefaultTopicQueueNums
// queues (the broker creates the topic on the first message). A topic nobody can route is
// forgotten again, so that it is not refreshed forever.
func (p *Producer) publishInfo(ctx context.Context, e *topicEntry) (*publishState, error) {
	if ps := e.pub.Load(); ps != nil && ps.info.OK() {
		return ps, nil
	}
	return p.updatePublishInfo(ctx, e)
}

func (p *Producer) updatePublishInfo(ctx context.Context, e *topicEntry) (*publishState, error) {
	// A send's deadline travels without a timer (deadlineCtx), which the wait for a route
	// needs: without one a send would wait out the NameServers' request timeout, twice,
	// past its own deadline. The fetch goes on without the send, for the next one.
	if dl, ok := ctx.Deadline(); ok {
		if d, ok := ctx.(*deadlineCtx); ok {
			// Not under the send's own deadlineCtx: it lives in a pooled call, and a timer
			// firing as the send gives up removes its context from the parent after the
			// call may have been recycled. A copy carries the same deadline, values and
			// span; a route lookup is rare enough to allocate it.
			cp := *d
			ctx = &cp
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	_, err := p.inst.UpdateTopicRoute(ctx, e.wire)
	if info := p.inst.PublishInfo(e.wire); info != nil { // Java's haveTopicRouterInfo
		ps := p.storePublishInfo(e, info)
		if info = ps.info; !info.OK() { // the latest, which a concurrent update may have brought
			return nil, &noQueueError{topic: e.topic, routed: info.Route != nil && len(info.Route.Queues) > 0}
		}
		return ps, nil
	}
	if err != nil && !errors.Is(err, instance.ErrTopicNotExist) {
		return nil, err // no NameServer answered: the default topic would fail alike
	}
	_, derr := p.inst.UpdateTopicRouteFromDefault(ctx, e.wire, p.cfg.CreateTopicKey, int32(p.cfg.DefaultTopicQueueNums))
	if info := p.inst.PublishInfo(e.wire); info.OK() {
		return p.storePublishInfo(e, info), nil
	}
	p.topics.remove(e)
	if derr != nil {
		return nil, errors.Join(err, derr)
	}
	if err == nil {
		err = &noQueueError{topic: e.topic}
	}
	return nil, err
}

func (p *Producer) storePublishInfo(e *topicEntry, info *instance.TopicPublishInfo) *publishState {
	for {
		ps := e.pub.Load()
		if ps == nil || ps.info != info {
			ps = p.newPublishState(info)
			e.pub.Store(ps)
		}
		// A route lookup may store what it read after the instance handed this producer a
		// newer route (UpdateTopicPublishInfo): the instance's latest wins.
		cur := p.inst.PublishInfo(e.wire)
		if cur == nil || cur == info {
			return ps
		}
		info = cur
	}
}

// PublishTopics returns the topics the producer sends to, as the brokers name them, and
// CreateTopicKey, whose routes the instance refreshes (Java's getPublishTopicList).
func (p *Producer) PublishTopics() []string {
	entries := p.topics.all()
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.wire) // CreateTopicKey's entry is added by Start
	}
	return out
}

// UpdateTopicPublishInfo takes a topic's new route from the instance (Java's
// updateTopicPublishInfo); topics this producer does not send to are ignored.
func (p *Producer) UpdateTopicPublishInfo(topic string, info *instance.TopicPublishInfo) {
	if info == nil {
		return
	}
	for _, e := range *p.topics.m.Load() {
		if e.wire == topic {
			p.storePublishInfo(e, info)
		}
	}
}
