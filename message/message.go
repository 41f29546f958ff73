package message

import (
	"iter"
	"slices"
	"strconv"
	"strings"
)

// Message is what a producer sends: Java's org.apache.rocketmq.common.message.Message.
type Message struct {
	Topic      string
	Flag       int32 // the application's flag, carried untouched
	Properties Properties
	Body       []byte
}

// Tags returns the TAGS property.
func (m *Message) Tags() string { return m.Properties.Get(PropertyTags) }

// SetTags sets the TAGS property; an empty tags removes it, as Java's constructor skips it.
func (m *Message) SetTags(tags string) { m.setOrDelete(PropertyTags, tags) }

// Keys returns the KEYS property: the keys joined by KeySeparator.
func (m *Message) Keys() string { return m.Properties.Get(PropertyKeys) }

// KeyList returns the keys of the KEYS property.
func (m *Message) KeyList() []string { return SplitKeys(m.Keys()) }

// SplitKeys splits a KEYS property into its keys (KeysSeq).
func SplitKeys(keys string) []string { return slices.Collect(KeysSeq(keys)) }

// KeysSeq yields the keys of a KEYS property: split at KeySeparator, as the broker's
// index splits them, empty fields left out. A key may hold other spaces (U+00A0, U+3000),
// which strings.Fields would split it at.
func KeysSeq(keys string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range strings.SplitSeq(keys, KeySeparator) {
			if k != "" && !yield(k) {
				return
			}
		}
	}
}

// SetKeys sets the KEYS property to keys joined by KeySeparator; no keys removes it.
func (m *Message) SetKeys(keys ...string) {
	m.setOrDelete(PropertyKeys, strings.Join(keys, KeySeparator))
}

// DelayLevel returns the DELAY property, the delay level of a scheduled message; 0 when
// absent or not a number.
func (m *Message) DelayLevel() int {
	v := m.Properties.Get(PropertyDelayTimeLevel)
	if v == "" { // most messages: no error value to allocate
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

// SetDelayLevel sets the DELAY property; level 0 removes it.
func (m *Message) SetDelayLevel(level int) {
	if level == 0 {
		m.Properties.Delete(PropertyDelayTimeLevel)
		return
	}
	m.Properties.Set(PropertyDelayTimeLevel, strconv.Itoa(level))
}

// WaitStoreMsgOK returns the WAIT property: whether the broker answers a send only once the
// message is stored (flushed as configured). Absent means true, as in Java.
func (m *Message) WaitStoreMsgOK() bool {
	v, ok := m.Properties.Lookup(PropertyWaitStoreMsgOK)
	return !ok || strings.EqualFold(v, "true")
}

// SetWaitStoreMsgOK sets the WAIT property.
func (m *Message) SetWaitStoreMsgOK(wait bool) {
	m.Properties.Set(PropertyWaitStoreMsgOK, strconv.FormatBool(wait))
}

// UniqKey returns the UNIQ_KEY property, the unique message id the producer assigned.
func (m *Message) UniqKey() string { return m.Properties.Get(PropertyUniqKey) }

// SetUniqKey sets the UNIQ_KEY property.
func (m *Message) SetUniqKey(id string) { m.Properties.Set(PropertyUniqKey, id) }

// TransactionPrepared reports whether TRAN_MSG is "true": a transactional half message.
func (m *Message) TransactionPrepared() bool {
	return strings.EqualFold(m.Properties.Get(PropertyTransactionPrepared), "true")
}

// ProducerGroup returns the PGROUP property, set on transactional messages.
func (m *Message) ProducerGroup() string { return m.Properties.Get(PropertyProducerGroup) }

// RetryTopic returns the RETRY_TOPIC property: the original topic of a message redelivered
// through a retry topic.
func (m *Message) RetryTopic() string { return m.Properties.Get(PropertyRetryTopic) }

// MaxReconsumeTimes returns the MAX_RECONSUME_TIMES property, or -1 when absent or invalid.
func (m *Message) MaxReconsumeTimes() int {
	v := m.Properties.Get(PropertyMaxReconsumeTimes)
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

func (m *Message) setOrDelete(name, value string) {
	if value == "" {
		m.Properties.Delete(name)
		return
	}
	m.Properties.Set(name, value)
}

// Clone returns a deep copy of m: its body and property list are copied.
func (m *Message) Clone() Message {
	c := *m
	c.Properties = m.Properties.Clone()
	if m.Body != nil {
		c.Body = append([]byte(nil), m.Body...)
	}
	return c
}
