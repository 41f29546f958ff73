package consumer

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// subscriptions is the group's subscription table (Java's subscriptionInner): one TAG
// expression per topic, plus %RETRY%group in clustering mode. It is fixed once the
// consumer starts, but for the version (SubVersion), which changes at each rebalance that
// changes the queues held, and which heartbeats and pulls read concurrently.
//
// A version change reaches the brokers with the next heartbeat; until that heartbeat is
// answered, pulls keep the version the brokers know (pullVersion), or a broker would
// answer them SUBSCRIPTION_NOT_LATEST and the queue would back off (Java's pulls read the
// new version at once and meet that race after every rebalance).
type subscriptions struct {
	mu          sync.RWMutex
	topics      map[string]*remoting.SubscriptionData
	pullVersion map[string]int64
	frozen      bool
}

func (s *subscriptions) init() {
	s.topics = make(map[string]*remoting.SubscriptionData)
	s.pullVersion = make(map[string]int64)
}

// add subscribes to topic with a TAG expression: "" or "*" for every message, otherwise
// tags joined by "||" (Java's FilterAPI.buildSubscriptionData).
func (s *subscriptions) add(topic, expression string) error {
	if err := message.ValidateTopic(topic); err != nil {
		return fmt.Errorf("consumer: subscribe: %w", err)
	}
	sub, err := remoting.BuildSubscription(topic, expression)
	if err != nil {
		return fmt.Errorf("consumer: subscribe to %s: %w", topic, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return fmt.Errorf("consumer: subscribe to %s: %w", topic, ErrStarted)
	}
	s.topics[topic] = &sub
	return nil
}

func (s *subscriptions) remove(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return fmt.Errorf("consumer: unsubscribe from %s: %w", topic, ErrStarted)
	}
	delete(s.topics, topic)
	return nil
}

// freeze ends the changes, adding the retry topic's subscription for a clustering group
// (Java's copySubscription), and stamps every version with now (Java's SubVersion is the
// time the subscription was built).
func (s *subscriptions) freeze(group string, model remoting.MessageModel, nowMs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = true
	if model == remoting.Clustering {
		retry := message.RetryTopic(group)
		sub, _ := remoting.BuildSubscription(retry, remoting.SubAll)
		s.topics[retry] = &sub
	}
	for topic, sub := range s.topics {
		sub.SubVersion = nowMs
		s.pullVersion[topic] = nowMs
	}
}

// get returns a copy of topic's subscription; ok is false when the topic is not
// subscribed.
func (s *subscriptions) get(topic string) (remoting.SubscriptionData, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub, ok := s.topics[topic]
	if !ok {
		return remoting.SubscriptionData{}, false
	}
	return *sub, true
}

// forPull returns topic's subscription with the version the brokers were told last.
func (s *subscriptions) forPull(topic string) (remoting.SubscriptionData, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub, ok := s.topics[topic]
	if !ok {
		return remoting.SubscriptionData{}, false
	}
	out := *sub
	out.SubVersion = s.pullVersion[topic]
	return out, true
}

// announced records that the brokers acknowledged a heartbeat carrying the versions
// current when it was built (see bump): pulls may use them.
func (s *subscriptions) announced(versions map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, v := range versions {
		if v > s.pullVersion[topic] {
			s.pullVersion[topic] = v
		}
	}
}

// versions returns every topic's current version.
func (s *subscriptions) versions() map[string]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int64, len(s.topics))
	for topic, sub := range s.topics {
		out[topic] = sub.SubVersion
	}
	return out
}

// version returns topic's subscription version, -1 when it is not subscribed.
func (s *subscriptions) version(topic string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sub, ok := s.topics[topic]; ok {
		return sub.SubVersion
	}
	return -1
}

func (s *subscriptions) has(topic string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.topics[topic]
	return ok
}

// bump sets topic's version to nowMs, or one more than it was if that is not later, so
// that the broker sees a new subscription (Java's messageQueueChanged).
func (s *subscriptions) bump(topic string, nowMs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.topics[topic]; ok {
		sub.SubVersion = max(nowMs, sub.SubVersion+1)
	}
}

// list returns copies of the subscriptions ordered by topic.
func (s *subscriptions) list() []remoting.SubscriptionData {
	s.mu.RLock()
	out := make([]remoting.SubscriptionData, 0, len(s.topics))
	for _, sub := range s.topics {
		c := *sub
		c.TagsSet = slices.Clone(sub.TagsSet)
		c.CodeSet = slices.Clone(sub.CodeSet)
		out = append(out, c)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b remoting.SubscriptionData) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// topicList returns the subscribed topics, sorted.
func (s *subscriptions) topicList() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.topics))
	for t := range s.topics {
		out = append(out, t)
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// tagFilter is the client-side re-check of a TAG subscription (Java's
// PullAPIWrapper.processPullResult): the broker filters on tag hash codes, which collide,
// so the client keeps only messages whose TAGS is one of the subscription's tags. A
// subscription to every tag keeps everything.
type tagFilter []string

func newTagFilter(sub *remoting.SubscriptionData) tagFilter {
	if sub.ClassFilterMode || len(sub.TagsSet) == 0 {
		return nil
	}
	return tagFilter(sub.TagsSet)
}

func (f tagFilter) match(m *message.Ext) bool {
	if f == nil {
		return true
	}
	tags, ok := m.Properties.Lookup(message.PropertyTags)
	return ok && slices.Contains(f, tags)
}
