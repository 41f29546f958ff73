package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
)

// Defaults, those of Java's DefaultMQPushConsumer and its services in 4.9.4 unless said
// otherwise.
const (
	DefaultConsumeGoroutines         = 20   // consumeThreadMin
	DefaultConsumeBatchMaxSize       = 1    // consumeMessageBatchMaxSize
	DefaultPullBatchSize             = 32   // pullBatchSize
	DefaultPullThresholdForQueue     = 1000 // messages
	DefaultPullThresholdSizeForQueue = 100  // MiB
	DefaultMaxSpan                   = 2000 // consumeConcurrentlyMaxSpan
	// DefaultMaxReconsumeTimes is the maximum of concurrent consumption; orderly
	// consumption retries without limit unless MaxReconsumeTimes is set.
	DefaultMaxReconsumeTimes = 16
	// NoReconsume, as MaxReconsumeTimes, consumes a failed message no more: it goes to
	// the dead letter queue at once (Java's maxReconsumeTimes 0; 0 here is the default).
	NoReconsume                = -1
	DefaultSuspendCurrentQueue = time.Second      // suspendCurrentQueueTimeMillis
	DefaultConsumeTimeout      = 15 * time.Minute // consumeTimeout
	DefaultRebalanceInterval   = 20 * time.Second // RebalanceService
	DefaultLockInterval        = 20 * time.Second // REBALANCE_LOCK_INTERVAL
	DefaultLockMaxLive         = 30 * time.Second // REBALANCE_LOCK_MAX_LIVE_TIME
	DefaultPullExpiry          = 2 * time.Minute  // PULL_MAX_IDLE_TIME
	DefaultBrokerSuspend       = 15 * time.Second // BROKER_SUSPEND_MAX_TIME_MILLIS
	DefaultPullTimeout         = 30 * time.Second // CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND
	DefaultPullDelayOnError    = 3 * time.Second  // PULL_TIME_DELAY_MILLS_WHEN_EXCEPTION
	DefaultConsumeRetryDelay   = 5 * time.Second  // submitConsumeRequestLater
	DefaultSendBackTimeout     = 5 * time.Second
	DefaultLockTimeout         = time.Second // lockBatchMQ, unlockBatchMQ
	DefaultOrderlyDropWait     = time.Second // Java's tryLock of the consume lock, here at shutdown
	// DefaultConsumeTimestampAge is how far back CONSUME_FROM_TIMESTAMP starts when no
	// timestamp is set: Java's consumeTimestamp default, half an hour before the start.
	DefaultConsumeTimestampAge = 30 * time.Minute
)

// MinRebalanceInterval is a floor Java lacks: every rebalance asks a broker for the
// group's members, so rebalances back to back would spin the CPU and load the broker.
const MinRebalanceInterval = 100 * time.Millisecond

// Config configures a PushConsumer. Group and Handler are required; the zero value of
// everything else is Java's default (see Validate).
type Config struct {
	// Group is the consumer group.
	Group string
	// Handler consumes the deliveries.
	Handler Handler

	// Model is remoting.Clustering (default) or remoting.Broadcasting.
	Model remoting.MessageModel
	// ConsumeFromWhere says where a group without a stored offset starts:
	// remoting.ConsumeFromLastOffset (default), ConsumeFromFirstOffset or
	// ConsumeFromTimestamp (from ConsumeTimestamp).
	ConsumeFromWhere remoting.ConsumeFromWhere
	// ConsumeTimestamp is where ConsumeFromTimestamp starts; zero means half an hour
	// before Start.
	ConsumeTimestamp time.Time
	// Orderly consumes each queue in order: one batch at a time per queue, the queue
	// locked on its broker (clustering), a failed batch suspended and delivered again.
	Orderly bool
	// Strategy allocates the queues among the group's consumers (clustering); default
	// Averagely().
	Strategy instance.AllocateStrategy
	// Hooks run before and after each batch is consumed, in order (instance.ConsumeHook).
	Hooks []instance.ConsumeHook
	// Telemetry, when set, traces and measures the deliveries (telemetry.go); nil is off.
	Telemetry *telemetry.Instruments

	// ConsumeGoroutines is the worker pool of concurrent consumption (Java's consume
	// threads); default 20.
	ConsumeGoroutines int
	// ConsumeBatchMaxSize is the most messages one delivery holds; default 1.
	ConsumeBatchMaxSize int
	// PullBatchSize is the most messages one pull asks for; default 32.
	PullBatchSize int
	// PullInterval pauses between pulls of a queue that found messages; default 0.
	PullInterval time.Duration
	// Flow control: a queue holding more than PullThresholdForQueue messages (default
	// 1000) or PullThresholdSizeForQueue MiB of bodies (default 100) is not pulled until
	// acknowledgements bring it back under. PullThresholdForTopic and
	// PullThresholdSizeForTopic, when set, replace the per-queue thresholds by the
	// topic's divided among the queues this consumer holds (Java's messageQueueChanged).
	PullThresholdForQueue     int
	PullThresholdSizeForQueue int
	PullThresholdForTopic     int
	PullThresholdSizeForTopic int
	// MaxSpan holds back the pull of a queue (concurrent consumption) whose oldest
	// message still in process is more than MaxSpan offsets behind its newest; default
	// 2000.
	MaxSpan int
	// MaxReconsumeTimes is how often a failed message is consumed again before it goes
	// to the dead letter queue: default 16 for concurrent consumption, unlimited for
	// orderly consumption (Java's -1); NoReconsume sends it there at its first failure
	// (Java's 0).
	MaxReconsumeTimes int
	// SuspendCurrentQueue is how long an orderly queue pauses after a failed batch;
	// default 1s, within 10ms..30s.
	SuspendCurrentQueue time.Duration
	// ConsumeTimeout is how long a delivery may stay uncompleted: a concurrent delivery
	// older than that is completed as failed (sent back, Java's cleanExpiredMsg with
	// delay level 3); an orderly delivery in flight when its queue is rebalanced away is
	// waited for that long after it began, the queue's next owner waiting meanwhile.
	// Default 15 minutes.
	ConsumeTimeout time.Duration
	// PostSubscriptionWhenPull sends the subscription expression with every pull.
	PostSubscriptionWhenPull bool
	// UnitMode is carried in heartbeats and send-backs.
	UnitMode bool

	// Timers.
	RebalanceInterval time.Duration // periodic rebalance; 20s
	LockInterval      time.Duration // orderly lock renewal; 20s
	LockMaxLive       time.Duration // an orderly lock not renewed for this long is not trusted; 30s
	PullExpiry        time.Duration // a queue not pulled for this long is dropped and taken anew; 2m
	BrokerSuspend     time.Duration // how long the broker may hold a pull; 15s
	PullTimeout       time.Duration // a pull's timeout; 30s
	PullDelayOnError  time.Duration // back-off after a failed pull; 3s
	ConsumeRetryDelay time.Duration // local retry of messages that could not be sent back; 5s
	SendBackTimeout   time.Duration // CONSUMER_SEND_MSG_BACK; 5s
	LockTimeout       time.Duration // LOCK_BATCH_MQ and UNLOCK_BATCH_MQ; 1s
	OrderlyDropWait   time.Duration // at shutdown, the wait for an orderly batch claimed past its Consume call, within the drain; 1s

	// OffsetStoreDir is where broadcasting consumers keep offsets, as Java's
	// LocalFileOffsetStore: <dir>/<client id>/<group>/offsets.json. Default
	// $HOME/.rocketmq_offsets. The client id includes the instance name: set
	// instance.Config.InstanceName for the offsets to survive a restart.
	OffsetStoreDir string

	Logger *slog.Logger // default: the instance's
	Clock  clock.Clock  // default: the instance's
}

// Validate applies the defaults and reports the first invalid setting.
func (c *Config) Validate() error {
	if err := message.ValidateGroup(c.Group); err != nil {
		return fmt.Errorf("consumer config: %w", err)
	}
	if c.Group == message.DefaultConsumerGroup {
		return fmt.Errorf("consumer config: group %s is reserved", c.Group)
	}
	if c.Handler == nil {
		return errors.New("consumer config: no Handler")
	}
	switch c.Model {
	case "":
		c.Model = remoting.Clustering
	case remoting.Clustering, remoting.Broadcasting:
	default:
		return fmt.Errorf("consumer config: Model %q: want CLUSTERING or BROADCASTING", c.Model)
	}
	switch c.ConsumeFromWhere {
	case "":
		c.ConsumeFromWhere = remoting.ConsumeFromLastOffset
	case remoting.ConsumeFromLastOffset, remoting.ConsumeFromFirstOffset, remoting.ConsumeFromTimestamp:
	default:
		return fmt.Errorf("consumer config: ConsumeFromWhere %q is not supported", c.ConsumeFromWhere)
	}
	if c.Strategy == nil {
		c.Strategy = Averagely()
	}
	for i, h := range c.Hooks {
		if h == nil {
			return fmt.Errorf("consumer config: Hooks[%d] is nil", i)
		}
	}
	ints := []struct {
		name     string
		v        *int
		def, max int
	}{
		{"ConsumeGoroutines", &c.ConsumeGoroutines, DefaultConsumeGoroutines, 1000},
		{"ConsumeBatchMaxSize", &c.ConsumeBatchMaxSize, DefaultConsumeBatchMaxSize, 1024},
		{"PullBatchSize", &c.PullBatchSize, DefaultPullBatchSize, 1024},
		{"PullThresholdForQueue", &c.PullThresholdForQueue, DefaultPullThresholdForQueue, 65535},
		{"PullThresholdSizeForQueue", &c.PullThresholdSizeForQueue, DefaultPullThresholdSizeForQueue, 1024},
		{"PullThresholdForTopic", &c.PullThresholdForTopic, 0, 6553500},
		{"PullThresholdSizeForTopic", &c.PullThresholdSizeForTopic, 0, 102400},
		{"MaxSpan", &c.MaxSpan, DefaultMaxSpan, 65535},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 || *f.v > f.max {
			return fmt.Errorf("consumer config: %s %d out of range [1, %d]", f.name, *f.v, f.max)
		}
	}
	if c.MaxReconsumeTimes < NoReconsume {
		return fmt.Errorf("consumer config: MaxReconsumeTimes %d is negative (NoReconsume is %d)", c.MaxReconsumeTimes, NoReconsume)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"SuspendCurrentQueue", &c.SuspendCurrentQueue, DefaultSuspendCurrentQueue},
		{"ConsumeTimeout", &c.ConsumeTimeout, DefaultConsumeTimeout},
		{"RebalanceInterval", &c.RebalanceInterval, DefaultRebalanceInterval},
		{"LockInterval", &c.LockInterval, DefaultLockInterval},
		{"LockMaxLive", &c.LockMaxLive, DefaultLockMaxLive},
		{"PullExpiry", &c.PullExpiry, DefaultPullExpiry},
		{"BrokerSuspend", &c.BrokerSuspend, DefaultBrokerSuspend},
		{"PullTimeout", &c.PullTimeout, DefaultPullTimeout},
		{"PullDelayOnError", &c.PullDelayOnError, DefaultPullDelayOnError},
		{"ConsumeRetryDelay", &c.ConsumeRetryDelay, DefaultConsumeRetryDelay},
		{"SendBackTimeout", &c.SendBackTimeout, DefaultSendBackTimeout},
		{"LockTimeout", &c.LockTimeout, DefaultLockTimeout},
		{"OrderlyDropWait", &c.OrderlyDropWait, DefaultOrderlyDropWait},
	}
	for _, d := range durations {
		if *d.v == 0 {
			*d.v = d.def
		} else if *d.v < 0 {
			return fmt.Errorf("consumer config: %s %v is negative", d.name, *d.v)
		}
	}
	if c.RebalanceInterval < MinRebalanceInterval {
		return fmt.Errorf("consumer config: RebalanceInterval %v is under %v: every rebalance asks a broker for the group's members", c.RebalanceInterval, MinRebalanceInterval)
	}
	if c.PullInterval < 0 {
		return fmt.Errorf("consumer config: PullInterval %v is negative", c.PullInterval)
	}
	c.SuspendCurrentQueue = clampSuspend(c.SuspendCurrentQueue)
	if c.PullTimeout <= c.BrokerSuspend {
		return fmt.Errorf("consumer config: PullTimeout %v must exceed BrokerSuspend %v", c.PullTimeout, c.BrokerSuspend)
	}
	// A queue whose long poll is held by the broker is idle, not stuck: expired sooner, an
	// idle queue would be dropped and taken anew at every rebalance.
	if c.PullExpiry <= c.PullTimeout {
		return fmt.Errorf("consumer config: PullExpiry %v must exceed PullTimeout %v", c.PullExpiry, c.PullTimeout)
	}
	// A lock renewed less often than it is trusted stalls orderly queues between renewals.
	if c.Orderly && c.LockMaxLive <= c.LockInterval {
		return fmt.Errorf("consumer config: LockMaxLive %v must exceed LockInterval %v", c.LockMaxLive, c.LockInterval)
	}
	if c.Model == remoting.Broadcasting && c.OffsetStoreDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("consumer config: OffsetStoreDir: %w", err)
		}
		c.OffsetStoreDir = filepath.Join(home, ".rocketmq_offsets")
	}
	return nil
}

// clampSuspend keeps an orderly suspension within Java's 10ms..30s.
func clampSuspend(d time.Duration) time.Duration {
	return min(max(d, 10*time.Millisecond), 30*time.Second)
}

// maxReconsumeTimes is the effective maximum: Java's getMaxReconsumeTimes of each
// consume service.
func (c *Config) maxReconsumeTimes() int32 {
	switch {
	case c.MaxReconsumeTimes == NoReconsume:
		return 0
	case c.MaxReconsumeTimes > 0:
		return int32(min(c.MaxReconsumeTimes, 1<<31-1))
	case c.Orderly:
		return 1<<31 - 1
	}
	return DefaultMaxReconsumeTimes
}
