package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// segmentFile is the file of a segment; an interface so that tests can make writes fail.
type segmentFile interface {
	WriteAt(b []byte, off int64) (int, error)
	Sync() error
	Close() error
}

// flusher owns the segment files of a file-mode store: it writes what was put, fsyncs it,
// and deletes the files of dropped segments. Puts wait for it when FlushInterval is 0.
type flusher struct {
	s        *Store
	dir      string // Dir/commitlog
	interval time.Duration
	open     func(path string) (segmentFile, error)
	kick     chan struct{}
	stop     chan struct{}
	exited   chan struct{}

	mu      sync.Mutex
	next    *flushRound // the round that starts next: waiters wait on it
	durable int64       // the commit log is on disk below this offset
	closed  bool

	// owned by the flusher's goroutine
	pending []*segment // segments with bytes still to write, ascending
	last    int64      // base of the newest segment in pending or done
}

// flushRound is one pass of the flusher; done is closed when it ends.
type flushRound struct {
	done chan struct{}
	err  error
}

func newFlushRound() *flushRound { return &flushRound{done: make(chan struct{})} }

func newFlusher(s *Store, dir string, durable int64) *flusher {
	return &flusher{
		s:        s,
		dir:      dir,
		interval: s.cfg.FlushInterval,
		open: func(path string) (segmentFile, error) {
			return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
		next:    newFlushRound(),
		durable: durable,
		last:    -1,
	}
}

// start takes the active segment (its bytes are on disk) and runs the flusher.
func (f *flusher) start(active *segment) {
	if !active.sealed.Load() {
		f.pending = append(f.pending, active)
	}
	f.last = active.base
	go f.run()
}

func (f *flusher) run() {
	defer close(f.exited)
	var tick <-chan time.Time
	if f.interval > 0 {
		t := time.NewTicker(f.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-f.stop:
			err := f.round()
			for _, seg := range f.pending {
				if seg.file != nil {
					err = errors.Join(err, seg.file.Close())
					seg.file = nil
				}
			}
			f.mu.Lock()
			f.closed = true
			r := f.next
			r.err = ErrClosed
			f.mu.Unlock()
			close(r.done)
			if err != nil {
				f.s.log.Error("final commit log flush failed", "err", err)
			}
			f.s.closeErr = err
			return
		case <-f.kick:
		case <-tick:
		}
		if err := f.round(); err != nil {
			f.s.log.Error("commit log flush failed", "err", err)
		}
	}
}

// kickNow asks for a round without waiting for it.
func (f *flusher) kickNow() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// round writes and syncs everything published when it starts, and deletes the files of
// dropped segments.
func (f *flusher) round() error {
	f.mu.Lock()
	r := f.next
	f.next = newFlushRound()
	f.mu.Unlock()

	target := f.s.maxCL.Load()
	err := f.write()
	f.mu.Lock()
	if err == nil {
		f.durable = max(f.durable, target)
	}
	r.err = err
	f.mu.Unlock()
	close(r.done)
	return err
}

func (f *flusher) write() error {
	s := f.s
	dirChanged := f.removeDropped()
	for _, seg := range s.segs.Load().segs {
		if seg.base > f.last {
			f.pending = append(f.pending, seg)
			f.last = seg.base
		}
	}

	var synced []*segment
	var wrote []int64
	for _, seg := range f.pending {
		w := seg.written.Load()
		if w == seg.flushed {
			continue
		}
		if seg.file == nil {
			file, err := f.open(f.path(seg.base))
			if err != nil {
				return fmt.Errorf("store: opening segment file: %w", err)
			}
			seg.file = file
			dirChanged = true
		}
		if _, err := seg.file.WriteAt(seg.buf[seg.flushed:w], seg.flushed); err != nil {
			return fmt.Errorf("store: writing segment %d: %w", seg.base, err)
		}
		synced = append(synced, seg)
		wrote = append(wrote, w)
	}
	for _, seg := range synced {
		if err := seg.file.Sync(); err != nil {
			return fmt.Errorf("store: syncing segment %d: %w", seg.base, err)
		}
	}
	if dirChanged {
		if err := syncDir(f.dir); err != nil {
			return err
		}
	}
	for i, seg := range synced {
		seg.flushed = wrote[i]
	}
	keep := f.pending[:0]
	for _, seg := range f.pending {
		// sealed before written: a sealed segment's written is final.
		if seg.sealed.Load() && seg.flushed == seg.written.Load() {
			if seg.file != nil {
				seg.file.Close()
				seg.file = nil
			}
			continue
		}
		keep = append(keep, seg)
	}
	clear(f.pending[len(keep):])
	f.pending = keep
	return nil
}

// removeDropped deletes the files of the segments retention dropped and reports whether
// there were any. Called by the flusher's goroutine, or before it starts.
func (f *flusher) removeDropped() bool {
	s := f.s
	s.mu.Lock()
	dropped, offsets := s.dropped, s.dropOffsets
	s.dropped, s.dropOffsets = nil, nil
	s.mu.Unlock()
	keepFiles := false
	if offsets != nil {
		// Saved before the files go: a queue whose every message they held keeps its
		// offsets across a restart.
		if err := SaveJSON(queueOffsetsPath(s.cfg.Dir), offsets); err != nil {
			s.log.Error("saving the queues' offsets; the dropped commit log segments stay on disk", "err", err)
			keepFiles = true
		}
	}
	for _, seg := range dropped {
		if i := indexOf(f.pending, seg); i >= 0 {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
		}
		if seg.file != nil {
			seg.file.Close()
			seg.file = nil
		}
		// A file left behind is only old data: recovery reads it and retention drops it
		// again, so the flusher goes on.
		if keepFiles {
			continue
		}
		if err := os.Remove(f.path(seg.base)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("removing a dropped commit log segment", "err", err)
		}
	}
	return len(dropped) > 0
}

func (f *flusher) path(base int64) string { return filepath.Join(f.dir, segmentName(base)) }

// waitFlushed returns once the commit log is on disk below end, or the error of the
// round that tried to write it.
func (f *flusher) waitFlushed(end int64) error {
	for {
		f.mu.Lock()
		if f.durable >= end {
			f.mu.Unlock()
			return nil
		}
		if f.closed {
			f.mu.Unlock()
			return ErrClosed
		}
		r := f.next
		f.mu.Unlock()
		f.kickNow()
		<-r.done
		f.mu.Lock()
		ok := f.durable >= end
		f.mu.Unlock()
		if ok {
			return nil
		}
		if r.err != nil {
			if errors.Is(r.err, ErrClosed) {
				return r.err
			}
			return fmt.Errorf("store: %w: %w", ErrFlushFailed, r.err)
		}
	}
}

// waitFlushed waits for end to be durable when puts flush synchronously.
func (s *Store) waitFlushed(end int64) error {
	if s.flusher == nil || s.cfg.FlushInterval > 0 {
		return nil
	}
	return s.flusher.waitFlushed(end)
}

// Flush writes and syncs everything put so far; a no-op in memory mode.
func (s *Store) Flush() error {
	if s.flusher == nil {
		return nil
	}
	return s.flusher.waitFlushed(s.maxCL.Load())
}

func indexOf(segs []*segment, seg *segment) int {
	for i, x := range segs {
		if x == seg {
			return i
		}
	}
	return -1
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// syncDir fsyncs a directory, so that files created, renamed or removed in it stay so.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: syncing directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: syncing directory %s: %w", dir, err)
	}
	return nil
}
