package broker

import (
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Permission bits of a topic or a broker, Java's PermName.
const (
	permInherit int32 = 1 << 0
	permWrite   int32 = 1 << 1
	permRead    int32 = 1 << 2
	permRW            = permRead | permWrite
)

// Java's TopicFilterType names.
const (
	singleTag = "SINGLE_TAG"
	multiTag  = "MULTI_TAG"
)

// Topics Java's TopicConfigManager creates at start besides TBW102.
const (
	scheduleTopicQueues = 18   // SCHEDULE_TOPIC_QUEUE_NUM
	defaultQueueNums    = 16   // TopicConfig.defaultReadQueueNums and defaultWriteQueueNums
	benchmarkQueues     = 1024 // BenchmarkTest
	replyTopicPostfix   = "REPLY_TOPIC"
)

// topicManager is Java's TopicConfigManager: the topic table, its data version and
// topics.json. Readers take no lock: the table is replaced on every change (topics change
// rarely and are looked up on every send and pull).
type topicManager struct {
	b     *Broker
	table atomic.Pointer[map[string]*remoting.TopicConfig] // values are never modified
	path  string

	mu        sync.Mutex // serializes changes
	version   remoting.DataVersion
	persistMu sync.Mutex // serializes writers of the file, so the last snapshot wins
}

// topicsFile is topics.json, TopicConfigManager.encode's form.
type topicsFile struct {
	DataVersion remoting.DataVersion            `json:"dataVersion"`
	Topics      map[string]remoting.TopicConfig `json:"topicConfigTable"`
}

func newTopicManager(b *Broker) (*topicManager, error) {
	m := &topicManager{b: b}
	if b.cfg.DataDir != "" {
		m.path = filepath.Join(b.cfg.DataDir, "topics.json")
	}
	m.version = remoting.DataVersion{Timestamp: b.now().UnixMilli()}
	table := make(map[string]*remoting.TopicConfig)
	add := func(name string, queues, perm int32) {
		table[name] = &remoting.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues,
			Perm: perm, TopicFilterType: singleTag}
	}
	add(message.SystemTopicSelfTest, 1, permRW)
	if *b.cfg.AutoCreateTopic {
		add(message.AutoCreateTopicKey, int32(b.cfg.DefaultQueues), permInherit|permRW)
	}
	add(message.SystemTopicBenchmark, benchmarkQueues, permRW)
	add(b.cfg.ClusterName, defaultQueueNums, permInherit|permRW) // clusterTopicEnable
	add(b.cfg.BrokerName, 1, permInherit|permRW)                 // brokerTopicEnable
	add(message.SystemTopicOffsetMovedEvent, 1, permRW)
	add(message.SystemTopicSchedule, scheduleTopicQueues, permRW)
	add(b.cfg.ClusterName+"_"+replyTopicPostfix, 1, permRW)
	if m.path != "" {
		var f topicsFile
		found, err := store.LoadJSON(m.path, &f)
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		if found {
			for name, tc := range f.Topics {
				tc.TopicName = name
				table[name] = &tc
			}
			m.version = f.DataVersion
		}
	}
	m.table.Store(&table)
	return m, nil
}

// get returns a topic's config, nil when the topic does not exist.
func (m *topicManager) get(topic string) *remoting.TopicConfig { return (*m.table.Load())[topic] }

// put replaces the table with one holding tc and bumps the data version. Called with mu.
func (m *topicManager) putLocked(tc *remoting.TopicConfig) {
	next := maps.Clone(*m.table.Load())
	next[tc.TopicName] = tc
	m.table.Store(&next)
	m.nextVersion()
}

func (m *topicManager) nextVersion() {
	m.version = remoting.DataVersion{Counter: m.version.Counter + 1, Timestamp: m.b.now().UnixMilli()}
}

// createInSendMessage is createTopicInSendMessageMethod: an unknown topic a producer sends
// to is created from defaultTopic (TBW102) when that one's perm has the inherit bit, with
// min(the producer's defaultTopicQueueNums, the default topic's write queues) queues. It
// returns nil when the topic cannot be created; the broker then registers with the
// NameServers (oneway).
func (m *topicManager) createInSendMessage(topic, defaultTopic string, clientQueueNums, topicSysFlag int32) *remoting.TopicConfig {
	m.mu.Lock()
	if tc := m.get(topic); tc != nil {
		m.mu.Unlock()
		return tc
	}
	def := m.get(defaultTopic)
	if def == nil {
		m.mu.Unlock()
		m.b.log.Warn("broker: cannot create topic: the default topic does not exist", "topic", topic, "default", defaultTopic)
		return nil
	}
	perm := def.Perm
	if defaultTopic == message.AutoCreateTopicKey && !m.b.autoCreateTopic.Load() {
		perm = permRW // Java resets TBW102's perm when auto-creation is off
	}
	if perm&permInherit == 0 {
		m.mu.Unlock()
		m.b.log.Warn("broker: cannot create topic: the default topic does not allow it", "topic", topic,
			"default", defaultTopic, "perm", perm)
		return nil
	}
	queues := max(min(clientQueueNums, def.WriteQueueNums), 0)
	tc := &remoting.TopicConfig{TopicName: topic, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: perm &^ permInherit, TopicSysFlag: topicSysFlag, TopicFilterType: def.TopicFilterType}
	m.putLocked(tc)
	m.mu.Unlock()
	m.created(tc)
	return tc
}

// createInSendBack is createTopicInSendMessageBackMethod: retry and dead letter topics
// are created with the given queues and perm, whatever TBW102 says.
func (m *topicManager) createInSendBack(topic string, queues, perm, topicSysFlag int32) *remoting.TopicConfig {
	if tc := m.get(topic); tc != nil {
		return tc
	}
	m.mu.Lock()
	if tc := m.get(topic); tc != nil {
		m.mu.Unlock()
		return tc
	}
	tc := &remoting.TopicConfig{TopicName: topic, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: perm, TopicSysFlag: topicSysFlag, TopicFilterType: singleTag}
	m.putLocked(tc)
	m.mu.Unlock()
	m.created(tc)
	return tc
}

// created persists the table and has the broker register (registerBrokerAll with oneway).
func (m *topicManager) created(tc *remoting.TopicConfig) {
	m.b.log.Info("broker: topic created", "topic", tc.TopicName, "queues", tc.WriteQueueNums, "perm", tc.Perm)
	if err := m.persist(); err != nil {
		m.b.log.Error("broker: persisting topics", "err", err)
	}
	m.b.registerCreated()
}

// update is updateTopicConfig (UPDATE_AND_CREATE_TOPIC); it returns the new data version.
func (m *topicManager) update(tc *remoting.TopicConfig) remoting.DataVersion {
	m.mu.Lock()
	m.putLocked(tc)
	v := m.version
	m.mu.Unlock()
	if err := m.persist(); err != nil {
		m.b.log.Error("broker: persisting topics", "err", err)
	}
	return v
}

// remove is deleteTopicConfig.
func (m *topicManager) remove(topic string) bool {
	m.mu.Lock()
	if m.get(topic) == nil {
		m.mu.Unlock()
		return false
	}
	next := maps.Clone(*m.table.Load())
	delete(next, topic)
	m.table.Store(&next)
	m.nextVersion()
	m.mu.Unlock()
	if err := m.persist(); err != nil {
		m.b.log.Error("broker: persisting topics", "err", err)
	}
	return true
}

// wrapper is buildTopicConfigSerializeWrapper: a snapshot of the table and its version.
func (m *topicManager) wrapper() remoting.TopicConfigWrapper {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wrapperLocked()
}

func (m *topicManager) wrapperLocked() remoting.TopicConfigWrapper {
	table := *m.table.Load()
	w := remoting.TopicConfigWrapper{DataVersion: m.version, Topics: make(map[string]remoting.TopicConfig, len(table))}
	for name, tc := range table {
		w.Topics[name] = *tc
	}
	return w
}

// persist writes topics.json when DataDir is set.
func (m *topicManager) persist() error {
	if m.path == "" {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	w := m.wrapper()
	return store.SaveJSON(m.path, topicsFile{DataVersion: w.DataVersion, Topics: w.Topics})
}

// encode is TopicConfigManager.encode, the body of GET_ALL_TOPIC_CONFIG: the wrapper as
// fastjson writes it, which RegisterBrokerBody's encoder writes inside its own object.
func (m *topicManager) encode() []byte {
	body := (&remoting.RegisterBrokerBody{FilterServers: []string{}, TopicConfig: m.wrapper()}).Encode(false)
	const key = `"topicConfigSerializeWrapper":`
	if i := strings.Index(string(body), key); i >= 0 && len(body) > 0 {
		return body[i+len(key) : len(body)-1]
	}
	return body
}

// topicString is TopicConfig.toString, quoted in remarks.
func topicString(tc *remoting.TopicConfig) string {
	return "TopicConfig [topicName=" + tc.TopicName + ", readQueueNums=" + strconv.Itoa(int(tc.ReadQueueNums)) +
		", writeQueueNums=" + strconv.Itoa(int(tc.WriteQueueNums)) + ", perm=" + permString(tc.Perm) +
		", topicFilterType=" + tc.TopicFilterType + ", topicSysFlag=" + strconv.Itoa(int(tc.TopicSysFlag)) +
		", order=" + strconv.FormatBool(tc.Order) + "]"
}

// permString is PermName.perm2String.
func permString(perm int32) string {
	b := []byte("---")
	if perm&permRead != 0 {
		b[0] = 'R'
	}
	if perm&permWrite != 0 {
		b[1] = 'W'
	}
	if perm&permInherit != 0 {
		b[2] = 'X'
	}
	return string(b)
}

// validateTopic is TopicValidator.validateTopic: the remark of a SYSTEM_ERROR, "" when the
// name is fine.
func validateTopic(topic string) string {
	switch {
	case strings.TrimSpace(topic) == "":
		return "The specified topic is blank."
	case !validName(topic):
		return "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
	case len(topic) > message.MaxTopicLength:
		return "The specified topic is longer than topic max length."
	}
	return ""
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isSystemTopic is TopicValidator.isSystemTopic, with the topics TopicConfigManager adds to
// its set at start (the cluster, broker and reply topics).
func (b *Broker) isSystemTopic(topic string) bool {
	return message.IsSystemTopic(topic) || topic == b.cfg.ClusterName || topic == b.cfg.BrokerName ||
		topic == b.cfg.ClusterName+"_"+replyTopicPostfix
}
