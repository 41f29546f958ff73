package consumer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// localOffsetStore keeps a broadcasting consumer's offsets in a file (Java's
// LocalFileOffsetStore): <dir>/<client id>/<group>/offsets.json, in Java's
// OffsetSerializeWrapper format ({"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:
// offset}}), which Java reads and writes too. A write goes to a temporary file, synced,
// then renamed over the file and the directory synced, the previous content kept as
// offsets.json.bak (which a reader falls back to, as Java's); a write happens only when
// an offset changed since the last write that completed.
//
// Unlike Java's, the file keeps the offsets of queues no longer held and persist writes
// one queue's offset: a queue dropped and taken anew (after PULL_OFFSET_MOVED, a reset or
// a rebalance) reads its offset from the file, and Java's, which forgets such a queue's
// offset and persists nothing for one queue, has it start from its old offset again.
type localOffsetStore struct {
	offsetTable
	path string

	mu   sync.Mutex                      // serialises writes
	file map[instance.MessageQueue]int64 // what the file holds
}

func newLocalOffsetStore(dir, clientID, group string) *localOffsetStore {
	s := &localOffsetStore{path: filepath.Join(dir, clientID, group, "offsets.json"),
		file: make(map[instance.MessageQueue]int64)}
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
	s.mu.Lock()
	maps.Copy(s.file, t)
	s.mu.Unlock()
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

// persist writes mq's offset in memory to the file, which keeps the others'.
func (s *localOffsetStore) persist(_ context.Context, mq instance.MessageQueue) error {
	return s.write([]instance.MessageQueue{mq})
}

// persistAll writes the offsets in memory of mqs to the file, which keeps the others'.
func (s *localOffsetStore) persistAll(_ context.Context, mqs []instance.MessageQueue, _ bool) error {
	return s.write(mqs)
}

func (s *localOffsetStore) write(mqs []instance.MessageQueue) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.file)
	for _, mq := range mqs {
		if off, ok := s.readMemory(mq); ok {
			out[mq] = off
		}
	}
	if maps.Equal(out, s.file) {
		return nil
	}
	body := remoting.ResetOffsetBody{OffsetTable: out}
	if err := writeFileAtomic(s.path, body.Encode()); err != nil {
		return fmt.Errorf("consumer: persisting local offsets: %w", err)
	}
	s.file = out
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
	// Until the directory is synced the rename may not survive a crash: the caller must
	// not count the offsets as written, so that the next persist writes them again.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// syncDir makes dir's entries durable. EINVAL is a file system that cannot sync a
// directory: nothing more can be done there. A variable, for tests to fail it.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}
