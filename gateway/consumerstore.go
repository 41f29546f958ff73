package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Consumers added through the admin API outlive a restart: the plugin store keeps them
// beside the uploaded plugins, in consumers.json, written as the manifest is (a temporary
// file, fsynced, renamed). Start runs them after the file's [[consumer]]s; a group the
// file names is the file's. Without a plugin store (no [plugins] dir and no admin API)
// nothing is kept.

const (
	consumersName   = "consumers.json"
	consumersFormat = 1
)

// storedConsumers is consumers.json.
type storedConsumers struct {
	Format    int              `json:"format"`
	Consumers []ConsumerConfig `json:"consumers"` // by group
}

func (s *pluginStore) consumersPath() string { return filepath.Join(s.dir, consumersName) }

// readConsumers reads the consumers kept; none when the file does not exist.
func (s *pluginStore) readConsumers() ([]ConsumerConfig, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.readConsumersLocked()
}

func (s *pluginStore) readConsumersLocked() ([]ConsumerConfig, error) {
	b, err := os.ReadFile(s.consumersPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin store: %w", err)
	}
	var sc storedConsumers
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("plugin store: %s: %w", s.consumersPath(), err)
	}
	if sc.Format != consumersFormat {
		return nil, fmt.Errorf("plugin store: %s: format %d, want %d", s.consumersPath(), sc.Format, consumersFormat)
	}
	return sc.Consumers, nil
}

// keepConsumer adds cc to the consumers kept, replacing one of its group.
func (s *pluginStore) keepConsumer(cc ConsumerConfig) error {
	return s.updateConsumers(func(list []ConsumerConfig) ([]ConsumerConfig, bool) {
		list = slices.DeleteFunc(list, func(c ConsumerConfig) bool { return c.Group == cc.Group })
		list = append(list, cc)
		slices.SortFunc(list, func(a, b ConsumerConfig) int { return strings.Compare(a.Group, b.Group) })
		return list, true
	})
}

// forgetConsumer drops group's consumer from those kept; it reports whether it was kept.
func (s *pluginStore) forgetConsumer(group string) (bool, error) {
	kept := false
	err := s.updateConsumers(func(list []ConsumerConfig) ([]ConsumerConfig, bool) {
		n := len(list)
		list = slices.DeleteFunc(list, func(c ConsumerConfig) bool { return c.Group == group })
		kept = len(list) != n
		return list, kept
	})
	return kept, err
}

// updateConsumers rewrites consumers.json with change applied, when it changed anything;
// one update at a time. An *unsyncedError is an update made, which the next start reads:
// nothing is kept in memory, each update reads the file afresh.
func (s *pluginStore) updateConsumers(change func([]ConsumerConfig) ([]ConsumerConfig, bool)) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	list, err := s.readConsumersLocked()
	if err != nil {
		return err
	}
	list, changed := change(list)
	if !changed {
		return nil
	}
	b, err := json.MarshalIndent(storedConsumers{Format: consumersFormat, Consumers: list}, "", "  ")
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	return s.writeAtomic(s.consumersPath(), append(b, '\n'), "consumers")
}
