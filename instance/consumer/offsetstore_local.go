package consumer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// localOffsetStore keeps a broadcasting consumer's offsets in a file (Java's
// LocalFileOffsetStore): <dir>/<client id>/<group>/offsets.json, in Java's
// OffsetSerializeWrapper format ({"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:
// offset}}), which Java reads and writes too. A write goes to a temporary file, synced,
// then renamed over the file, the previous content kept as offsets.json.bak (which a
// reader falls back to, as Java's); a write happens only when an offset changed.
type localOffsetStore struct {
	offsetTable
	path string

	mu      sync.Mutex // serialises writes
	written int64      // offsetTable.version last written
	wroteN  int        // queues last written
}

func newLocalOffsetStore(dir, clientID, group string) *localOffsetStore {
	s := &localOffsetStore{path: filepath.Join(dir, clientID, group, "offsets.json"), written: -1}
	s.init()
	return s
}

func (s *localOffsetStore) load() error {
	t, err := s.readFile()
	if err != nil {
		return err
	}
	for mq, off := range t {
		s.update(mq, off, false)
	}
	s.written = s.version.Load()
	return nil
}

// readFile reads the offsets file, or its backup when it is missing or unreadable.
func (s *localOffsetStore) readFile() (map[instance.MessageQueue]int64, error) {
	var firstErr error
	for _, p := range []string{s.path, s.path + ".bak"} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) || err == nil && len(data) == 0 {
			continue
		}
		if err == nil {
			var body remoting.ResetOffsetBody // the same shape as OffsetSerializeWrapper
			if err = body.Decode(data); err == nil {
				return body.OffsetTable, nil
			}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("consumer: local offsets %s: %w", p, err)
		}
	}
	return nil, firstErr
}

func (s *localOffsetStore) readStore(_ context.Context, mq instance.MessageQueue) (int64, bool, error) {
	t, err := s.readFile()
	if err != nil {
		return 0, false, err
	}
	off, ok := t[mq]
	if !ok {
		return 0, false, nil
	}
	s.update(mq, off, false)
	return off, true, nil
}

// persist is nothing for one queue, as in Java: persistAll writes the file.
func (s *localOffsetStore) persist(context.Context, instance.MessageQueue) error { return nil }

func (s *localOffsetStore) persistAll(_ context.Context, mqs []instance.MessageQueue, _ bool) error {
	if len(mqs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	version := s.version.Load()
	if version == s.written && len(mqs) == s.wroteN {
		return nil
	}
	all := s.table("")
	out := make(remoting.QueueTable[int64], len(mqs))
	for _, mq := range mqs {
		if off, ok := all[mq]; ok {
			out[mq] = off
		}
	}
	body := remoting.ResetOffsetBody{OffsetTable: out}
	if err := writeFileAtomic(s.path, body.Encode()); err != nil {
		return fmt.Errorf("consumer: persisting local offsets: %w", err)
	}
	s.written, s.wroteN = version, len(mqs)
	return nil
}

// writeFileAtomic replaces path with data: a synced temporary file renamed over it, the
// previous content kept as path.bak (Java's MixAll.string2File, made crash-safe).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if prev, err := os.ReadFile(path); err == nil && len(prev) > 0 {
		_ = os.WriteFile(path+".bak", prev, 0o644)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
