package store

import (
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"
)

// Defaults, Java's MessageStoreConfig values where Java has one.
const (
	DefaultSegmentSize    = 64 << 20 // Java's commit log files are 1 GiB; 64 MiB keeps a dev store small
	DefaultMaxBytes       = 1 << 30
	DefaultMaxMessageSize = 4 << 20 // maxMessageSize: the largest body
	MinSegmentSize        = 512
)

// DefaultDelayLevels are Java's messageDelayLevel "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m
// 10m 20m 30m 1h 2h": level n (from 1) delays by DefaultDelayLevels[n-1].
var DefaultDelayLevels = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute,
	6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
}

// Config configures a Store. The zero value is a memory-only store with Java's defaults.
type Config struct {
	// Dir is where the commit log is kept (Dir/commitlog/); "" keeps everything in memory.
	Dir string
	// SegmentSize is the size of a commit log segment (file); 0 means DefaultSegmentSize.
	// A message, or a whole batch, must fit in one segment with 8 bytes to spare.
	SegmentSize int
	// MaxBytes bounds the commit log: when its segments exceed it, the oldest are dropped
	// (their files deleted). 0 means DefaultMaxBytes, a negative value no limit. The
	// active segment is never dropped.
	MaxBytes int64
	// MaxMessageSize bounds a message body, as Java's maxMessageSize; 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// FlushInterval is the file mode's fsync cadence. 0 flushes on every put: the put
	// returns once its bytes are on disk, concurrent puts sharing one fsync (Java's
	// SYNC_FLUSH). With an interval, puts return at once and a crash may lose what was
	// put during the last interval (Java's ASYNC_FLUSH loses it only when the OS crashes).
	FlushInterval time.Duration
	// StoreHost is written into a stored message and its offset message id when the
	// message names none (message.Ext.StoreHost is the zero value); the broker sets it on
	// each message, as Java's broker does (a message redelivered from the schedule topic
	// keeps the host it was first stored by), so the store can be opened before the
	// broker's port is known.
	StoreHost netip.AddrPort
	// Clock gives store timestamps; nil means time.Now.
	Clock func() time.Time
	// Logger receives recovery and flush reports; nil means slog.Default().
	Logger *slog.Logger
	// OnArrival is called after a put became visible, with the queue's new max offset, on
	// the putting goroutine and outside the store's locks: the broker wakes its held pulls
	// (Java's MessageArrivingListener). It must not block for long. Messages that do not
	// enter a consume queue (prepared and rolled back transactional ones) call nothing.
	OnArrival func(topic string, queueID int32, maxOffset int64)
	// DelayLevels are the broker's delay levels (messageDelayLevel); nil means
	// DefaultDelayLevels. A message in SCHEDULE_TOPIC_XXXX with a DELAY property gets as
	// tags code its delivery time: store timestamp + the level's delay.
	DelayLevels []time.Duration
	// MemoryWindow is Java's in-memory window for pulls: a message further than this many
	// bytes behind the commit log's end counts as on disk, and a pull stops at 64 KiB or 8
	// messages instead of 256 KiB or 32. 0 means 40% of physical memory
	// (accessMessageInMemoryMaxRatio), as Java computes it; negative means never on disk.
	MemoryWindow int64
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.SegmentSize < 0 || (c.SegmentSize > 0 && c.SegmentSize < MinSegmentSize):
		return fmt.Errorf("store: segment size %d is below the minimum %d", c.SegmentSize, MinSegmentSize)
	case c.SegmentSize > math.MaxInt32:
		return fmt.Errorf("store: segment size %d exceeds %d: the end marker holds it in an int32", c.SegmentSize, math.MaxInt32)
	case c.MaxMessageSize < 0:
		return fmt.Errorf("store: max message size %d is negative", c.MaxMessageSize)
	case c.FlushInterval < 0:
		return fmt.Errorf("store: flush interval %v is negative", c.FlushInterval)
	}
	for i, d := range c.DelayLevels {
		if d < 0 {
			return fmt.Errorf("store: delay level %d is negative (%v)", i+1, d)
		}
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DelayLevels == nil {
		c.DelayLevels = DefaultDelayLevels
	}
	switch {
	case c.MemoryWindow == 0:
		c.MemoryWindow = physicalMemory() * 40 / 100
	case c.MemoryWindow < 0:
		c.MemoryWindow = 1<<63 - 1
	}
	return c
}
