package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/message"
)

// Store is a commit log with its consume queues. Its methods are safe for concurrent use.
type Store struct {
	cfg           Config
	log           *slog.Logger
	delays        []int64 // delay levels in milliseconds
	cqFileEntries int64   // cqFileEntries; tests lower it

	// Published state, read without locks.
	segs   atomic.Pointer[segTable]
	maxCL  atomic.Int64 // commit log offset after the last published byte
	topics atomic.Pointer[map[string]*topicQueues]

	mu      sync.Mutex // serializes writers
	closed  bool
	active  *segment
	scratch message.Ext // the message being encoded, with the store's fields
	dropped []*segment  // dropped by retention, files not yet deleted
	// dropOffsets: the queues' offsets when retention last dropped segments, to save
	// before their files are deleted (queueOffsetsFile).
	dropOffsets *queueOffsetsFile

	flusher   *flusher // nil in memory mode
	closeOnce sync.Once
	closeErr  error
}

// Open opens a store: in memory, or from Config.Dir, recovering the commit log there.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, log: cfg.Logger, cqFileEntries: cqFileEntries}
	for _, d := range cfg.DelayLevels {
		s.delays = append(s.delays, d.Milliseconds())
	}
	if cfg.Dir == "" {
		seg := newSegment(0, cfg.SegmentSize)
		s.segs.Store(&segTable{segs: []*segment{seg}})
		s.active = seg
		empty := map[string]*topicQueues{}
		s.topics.Store(&empty)
		return s, nil
	}

	dir := filepath.Join(cfg.Dir, "commitlog")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := s.recover(dir); err != nil {
		return nil, err
	}
	s.flusher = newFlusher(s, dir, s.maxCL.Load())
	s.mu.Lock()
	s.retain()
	s.mu.Unlock()
	if s.flusher.removeDropped() {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	s.flusher.start(s.active)
	var msgs int64
	for _, q := range s.allQueues() {
		msgs += q.max.Load() - q.min.Load()
	}
	s.log.Info("commit log recovered", "dir", dir, "min_offset", s.MinCommitLogOffset(),
		"max_offset", s.MaxCommitLogOffset(), "queues", len(s.allQueues()), "messages", msgs)
	return s, nil
}

// DelayLevels returns the delay of each level (level n at index n-1): the table the store
// computes the delivery times of SCHEDULE_TOPIC_XXXX messages with, which the broker's
// delay service waits for. The slice is the store's; do not modify it.
func (s *Store) DelayLevels() []time.Duration { return s.cfg.DelayLevels }

// MaxMessageSize returns the largest body Put accepts (Java's maxMessageSize), which the
// broker quotes in its MESSAGE_ILLEGAL remarks.
func (s *Store) MaxMessageSize() int { return s.cfg.MaxMessageSize }

// Close stops accepting puts, writes and syncs what was put (file mode) and stops the
// flusher. Reads keep working on what is in memory. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.flusher != nil {
			close(s.flusher.stop)
			<-s.flusher.exited // the flusher set closeErr
		}
	})
	return s.closeErr
}
