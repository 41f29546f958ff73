package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// offsetKey names a group's offsets of one topic: Java's "topic@group".
type offsetKey struct{ topic, group string }

// offsetManager is Java's ConsumerOffsetManager: the offset each consumer group committed
// for each queue, kept in consumerOffset.json in Java's form,
// {"offsetTable":{"topic@group":{0:12,1:3}}}.
type offsetManager struct {
	mu    sync.RWMutex
	table map[offsetKey]map[int32]int64
	dirty bool // changed since the last persist

	path      string
	persistMu sync.Mutex
}

func newOffsetManager(dataDir string) (*offsetManager, error) {
	m := &offsetManager{table: make(map[offsetKey]map[int32]int64)}
	if dataDir == "" {
		return m, nil
	}
	m.path = filepath.Join(dataDir, "consumerOffset.json")
	data, err := os.ReadFile(m.path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := m.decode(data); err != nil {
		return nil, fmt.Errorf("broker: %s: %w", m.path, err)
	}
	return m, nil
}

// commit is commitOffset: the offset replaces the stored one, even a larger one, as Java's.
func (m *offsetManager) commit(group, topic string, queueID int32, offset int64) {
	k := offsetKey{topic, group}
	m.mu.Lock()
	q := m.table[k]
	if q == nil {
		q = make(map[int32]int64)
		m.table[k] = q
	}
	q[queueID] = offset
	m.dirty = true
	m.mu.Unlock()
}

// query is queryOffset: -1 when the group never committed an offset for the queue.
func (m *offsetManager) query(group, topic string, queueID int32) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off, ok := m.table[offsetKey{topic, group}][queueID]; ok {
		return off
	}
	return -1
}

// removeGroup is removeOffset: every offset of a group goes.
func (m *offsetManager) removeGroup(group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.table {
		if k.group == group {
			delete(m.table, k)
			m.dirty = true
		}
	}
}

// topicsOf is whichTopicByConsumer.
func (m *offsetManager) topicsOf(group string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for k := range m.table {
		if k.group == group {
			out = append(out, k.topic)
		}
	}
	slices.Sort(out)
	return out
}

// groupsOf is whichGroupByTopic.
func (m *offsetManager) groupsOf(topic string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for k := range m.table {
		if k.topic == topic {
			out = append(out, k.group)
		}
	}
	slices.Sort(out)
	return out
}

// encode writes the table as fastjson does: integer queue ids as bare keys.
func (m *offsetManager) encode() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	keys := make([]offsetKey, 0, len(m.table))
	for k := range m.table {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b offsetKey) int {
		return strings.Compare(a.topic+"@"+a.group, b.topic+"@"+b.group)
	})
	var b bytes.Buffer
	b.WriteString(`{"offsetTable":{`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k.topic + "@" + k.group))
		b.WriteString(":{")
		q := m.table[k]
		ids := slices.Sorted(func(yield func(int32) bool) {
			for id := range q {
				if !yield(id) {
					return
				}
			}
		})
		for j, id := range ids {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(id)))
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(q[id], 10))
		}
		b.WriteByte('}')
	}
	b.WriteString("}}")
	return b.Bytes()
}

// decode reads consumerOffset.json, with queue ids bare (fastjson) or quoted.
func (m *offsetManager) decode(data []byte) error {
	var f struct {
		OffsetTable map[string]map[string]int64 `json:"offsetTable"`
	}
	if err := json.Unmarshal(quoteBareKeys(data), &f); err != nil {
		return err
	}
	for topicGroup, queues := range f.OffsetTable {
		topic, group, ok := strings.Cut(topicGroup, "@")
		if !ok {
			continue // Java skips a key without the separator too
		}
		q := make(map[int32]int64, len(queues))
		for id, off := range queues {
			n, err := strconv.ParseInt(id, 10, 32)
			if err != nil {
				return fmt.Errorf("queue id %q of %s: not an integer", id, topicGroup)
			}
			q[int32(n)] = off
		}
		m.table[offsetKey{topic, group}] = q
	}
	return nil
}

// persist writes consumerOffset.json when DataDir is set and something changed.
func (m *offsetManager) persist() error {
	if m.path == "" {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	m.mu.Lock()
	dirty := m.dirty
	m.dirty = false
	m.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := store.WriteFileAtomic(m.path, m.encode()); err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return err
	}
	return nil
}

// quoteBareKeys quotes the bare numeric object keys fastjson writes for integer map keys,
// so that encoding/json can read them.
func quoteBareKeys(src []byte) []byte {
	out := make([]byte, 0, len(src)+16)
	inString, escaped, expectKey := false, false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString, expectKey = true, false
		case c == '{' || c == ',':
			expectKey = true
		case expectKey && (c == '-' || '0' <= c && c <= '9'):
			j := i + 1
			for j < len(src) && '0' <= src[j] && src[j] <= '9' {
				j++
			}
			out = append(out, '"')
			out = append(out, src[i:j]...)
			out = append(out, '"')
			i = j - 1
			expectKey = false
			continue
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			expectKey = false
		}
		out = append(out, c)
	}
	return out
}

// handleQueryConsumerOffset is ConsumerManageProcessor.queryConsumerOffset. A group
// without a committed offset gets 0 when the queue's first message is still served from
// memory (Java's minOffset <= 0 && !checkInDiskByConsumeOffset), else QUERY_NOT_FOUND.
func (b *Broker) handleQueryConsumerOffset(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.QueryConsumerOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	off := b.offsets.query(h.ConsumerGroup, h.Topic, h.QueueID)
	if off < 0 {
		if b.store.MinOffset(h.Topic, h.QueueID) > 0 || b.firstMessageOnDisk(h.Topic, h.QueueID) {
			resp := response(req, remoting.QueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
			resp.Header = remoting.EmptyHeader{}
			return resp
		}
		off = 0
	}
	resp := response(req, remoting.Success, "")
	resp.Header = &remoting.QueryConsumerOffsetResponse{Offset: off}
	return resp
}

// firstMessageOnDisk is checkInDiskByConsumeOffset(topic, queue, 0): whether the message
// at offset 0 is beyond the store's memory window, which the store reports as its hint to
// pull from a slave.
func (b *Broker) firstMessageOnDisk(topic string, queueID int32) bool {
	if b.store.MaxOffset(topic, queueID) == 0 {
		return false
	}
	r := b.store.Get(topic, queueID, 0, 1, nil)
	return r.Status == store.Found && r.SuggestPullingFromSlave
}

// handleUpdateConsumerOffset is ConsumerManageProcessor.updateConsumerOffset.
func (b *Broker) handleUpdateConsumerOffset(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.UpdateConsumerOffsetRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return headerErrorResponse(req, err)
	}
	b.offsets.commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	resp := response(req, remoting.Success, "")
	resp.Header = remoting.EmptyHeader{}
	return resp
}
