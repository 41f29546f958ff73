package broker

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// groupConfig is Java's SubscriptionGroupConfig: a consumer group's settings on the broker.
// Fields are in fastjson's (alphabetical) order, so encoding/json writes what Java does.
type groupConfig struct {
	BrokerID                       int64  `json:"brokerId"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	GroupName                      string `json:"groupName"`
	NotifyConsumerIDsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
}

// newGroupConfig returns SubscriptionGroupConfig's defaults.
func newGroupConfig(name string) *groupConfig {
	return &groupConfig{GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true,
		ConsumeBroadcastEnable: true, RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1,
		NotifyConsumerIDsChangedEnable: true}
}

// groupsFile is subscriptionGroup.json, SubscriptionGroupManager.encode's form.
type groupsFile struct {
	DataVersion remoting.DataVersion    `json:"dataVersion"`
	Groups      map[string]*groupConfig `json:"subscriptionGroupTable"`
}

// groupManager is Java's SubscriptionGroupManager. Lookups take no lock; the table is
// replaced when a group is created or changed.
type groupManager struct {
	b     *Broker
	table atomic.Pointer[map[string]*groupConfig] // values are never modified
	path  string

	mu        sync.Mutex // serializes changes
	version   remoting.DataVersion
	persistMu sync.Mutex // serializes writers of the file, so the last snapshot wins
}

func newGroupManager(b *Broker) (*groupManager, error) {
	m := &groupManager{b: b, version: remoting.DataVersion{Timestamp: b.now().UnixMilli()}}
	table := make(map[string]*groupConfig)
	// SubscriptionGroupManager.init: the system groups.
	for _, name := range []string{"TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP",
		"CID_ONS-HTTP-PROXY", "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER"} {
		table[name] = newGroupConfig(name)
	}
	if b.cfg.DataDir != "" {
		m.path = filepath.Join(b.cfg.DataDir, "subscriptionGroup.json")
		var f groupsFile
		found, err := store.LoadJSON(m.path, &f)
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		if found {
			for name, g := range f.Groups {
				if g != nil {
					g.GroupName = name
					table[name] = g
				}
			}
			m.version = f.DataVersion
		}
	}
	m.table.Store(&table)
	return m, nil
}

// find is findSubscriptionGroupConfig: an unknown group is created with the defaults when
// AutoCreateSubscriptionGroup is on or the group is a system one; else nil.
func (m *groupManager) find(group string) *groupConfig {
	if g := (*m.table.Load())[group]; g != nil {
		return g
	}
	if !m.b.autoCreateGroup.Load() && !strings.HasPrefix(group, message.SystemConsumerGroupPrefix) {
		return nil
	}
	m.mu.Lock()
	g := (*m.table.Load())[group]
	created := g == nil
	if created {
		g = newGroupConfig(group)
		m.putLocked(g)
	}
	m.mu.Unlock()
	if created {
		m.b.log.Info("broker: subscription group created", "group", group)
		if err := m.persist(); err != nil {
			m.b.log.Error("broker: persisting subscription groups", "err", err)
		}
	}
	return g
}

// update is updateSubscriptionGroupConfig.
func (m *groupManager) update(g *groupConfig) {
	m.mu.Lock()
	m.putLocked(g)
	m.mu.Unlock()
	if err := m.persist(); err != nil {
		m.b.log.Error("broker: persisting subscription groups", "err", err)
	}
}

// remove is deleteSubscriptionGroupConfig.
func (m *groupManager) remove(group string) {
	m.mu.Lock()
	next := maps.Clone(*m.table.Load())
	_, ok := next[group]
	delete(next, group)
	m.table.Store(&next)
	if ok {
		m.nextVersion()
	}
	m.mu.Unlock()
	if err := m.persist(); err != nil {
		m.b.log.Error("broker: persisting subscription groups", "err", err)
	}
}

func (m *groupManager) putLocked(g *groupConfig) {
	next := maps.Clone(*m.table.Load())
	next[g.GroupName] = g
	m.table.Store(&next)
	m.nextVersion()
}

func (m *groupManager) nextVersion() {
	m.version = remoting.DataVersion{Counter: m.version.Counter + 1, Timestamp: m.b.now().UnixMilli()}
}

// snapshot returns the table and its version.
func (m *groupManager) snapshot() groupsFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	return groupsFile{DataVersion: m.version, Groups: maps.Clone(*m.table.Load())}
}

// persist writes subscriptionGroup.json when DataDir is set.
func (m *groupManager) persist() error {
	if m.path == "" {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	return store.SaveJSON(m.path, m.snapshot())
}
