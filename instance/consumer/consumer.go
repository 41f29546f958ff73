package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Lifecycle states of a PushConsumer.
const (
	stateCreated int32 = iota
	stateRunning
	stateStopped
)

// PushConsumer is a push consumer of one group on an instance (Java's
// DefaultMQPushConsumerImpl). Make it with New, Subscribe, Start it, and Shutdown it
// before the instance. Its methods are safe for concurrent use.
type PushConsumer struct {
	cfg              Config
	inst             *instance.Instance
	remote           remote
	log              *slog.Logger
	clock            clock.Clock
	maxReconsume     int32
	retryTopic       string
	consumeTimestamp time.Time

	subs       subscriptions
	offsets    offsetStore
	stats      atomic.Pointer[map[string]*topicStats] // by topic; set by Start
	thresholds thresholds

	lifeMu    sync.Mutex // serialises Start and Shutdown
	state     atomic.Int32
	startedAt time.Time

	// runCtx lives until Shutdown begins: pulls, rebalances and new deliveries run under
	// it. consumeCtx lives until Shutdown's drain ends: the Handler's calls and what
	// completes a delivery (hooks, send-backs) run under it, so that the deliveries in
	// flight at shutdown finish and count. wg counts every goroutine of the consumer.
	runCtx      context.Context
	stop        context.CancelFunc
	consumeCtx  context.Context
	stopConsume context.CancelFunc
	wg          sync.WaitGroup

	mu      sync.Mutex
	table   map[instance.MessageQueue]*processQueue // Java's processQueueTable
	closing map[instance.MessageQueue]*processQueue // orderly queues dropped, goroutine still exiting
	// resets are the queues an offset reset dropped, until a rebalance takes them anew or
	// gives them away (pendingReset).
	resets map[instance.MessageQueue]pendingReset
	known  map[string][]instance.MessageQueue // each topic's queues last handed by the instance

	rebalanceMu  sync.Mutex // one rebalance (or offset reset) at a time
	lockMu       sync.Mutex // orders lockAll's renewals and a dropped orderly queue's unlock
	rebalanceNow chan struct{}
	routeMu      sync.Mutex
	routeTopics  map[string]bool
	routeNow     chan struct{}

	sched *scheduler
	tasks *taskQueue

	tel *consumerTelemetry // nil: telemetry off (telemetry.go)

	consumeAvg       atomic.Int64 // moving average of Consume's time, ns
	flowControlTimes atomic.Int64
	suspended        atomic.Bool // an offset reset holds the pulls back
	rebalances       atomic.Int64
	lockRetry        atomic.Bool // a rebalance for queues whose lock was refused is scheduled
	rebalancing      atomic.Bool // a rebalance is running
	announced        atomic.Bool // Start sent the first heartbeat

	errMu     sync.Mutex
	lastErr   error
	lastErrAt time.Time
}

var _ instance.Consumer = (*PushConsumer)(nil)

// New validates cfg and returns a consumer of cfg.Group on inst. It registers nothing
// before Start.
func New(inst *instance.Instance, cfg Config) (*PushConsumer, error) {
	if inst == nil {
		return nil, errors.New("consumer: nil instance")
	}
	icfg := inst.Config()
	if cfg.Logger == nil {
		cfg.Logger = icfg.Logger
	}
	if cfg.Clock == nil {
		cfg.Clock = icfg.Clock
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &PushConsumer{
		cfg:          cfg,
		inst:         inst,
		remote:       instanceRemote{inst},
		log:          cfg.Logger.With("group", cfg.Group, "client", inst.ClientID()),
		clock:        cfg.Clock,
		maxReconsume: cfg.maxReconsumeTimes(),
		retryTopic:   message.RetryTopic(cfg.Group),
		table:        make(map[instance.MessageQueue]*processQueue),
		closing:      make(map[instance.MessageQueue]*processQueue),
		resets:       make(map[instance.MessageQueue]pendingReset),
		known:        make(map[string][]instance.MessageQueue),
		rebalanceNow: make(chan struct{}, 1),
		routeTopics:  make(map[string]bool),
		routeNow:     make(chan struct{}, 1),
	}
	c.runCtx, c.stop = context.WithCancel(context.Background())
	c.consumeCtx, c.stopConsume = context.WithCancel(context.Background())
	c.subs.init()
	c.thresholds.count.Store(int64(cfg.PullThresholdForQueue))
	c.thresholds.sizeMiB.Store(int64(cfg.PullThresholdSizeForQueue))
	if !cfg.Orderly {
		c.thresholds.maxSpan = int64(cfg.MaxSpan)
	}
	if cfg.Model == remoting.Broadcasting {
		c.offsets = newLocalOffsetStore(cfg.OffsetStoreDir, inst.ClientID(), cfg.Group)
	} else {
		c.offsets = newRemoteOffsetStore(inst, cfg.Group)
	}
	c.sched = newScheduler(c.clock, c.pull)
	c.tasks = newTaskQueue(c.runCtx)
	c.tel = newConsumerTelemetry(c, cfg.Telemetry)
	return c, nil
}

// Subscribe subscribes the group to topic with a TAG expression: "" or "*" for every
// message, or tags joined by "||" ("TagA || TagB"). It replaces the topic's expression
// and fails once the consumer started (ErrStarted).
func (c *PushConsumer) Subscribe(topic, expression string) error {
	return c.subs.add(topic, expression)
}

// Unsubscribe removes topic's subscription; it fails once the consumer started.
func (c *PushConsumer) Unsubscribe(topic string) error { return c.subs.remove(topic) }

// Start registers the group with the instance and starts consuming: as Java's start, it
// updates the subscribed topics' routes, sends a heartbeat and rebalances at once when
// the instance is running (otherwise the instance's start does the first two and the
// rebalance follows the routes). A consumer starts once.
func (c *PushConsumer) Start(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if st := c.state.Load(); st != stateCreated {
		return fmt.Errorf("consumer %s: start: %w", c.cfg.Group, errState(st))
	}
	now := c.clock.Now()
	c.startedAt = now
	c.consumeTimestamp = c.cfg.ConsumeTimestamp
	if c.consumeTimestamp.IsZero() {
		c.consumeTimestamp = now.Add(-DefaultConsumeTimestampAge)
	}
	c.subs.freeze(c.cfg.Group, c.cfg.Model, now.UnixMilli())
	if err := c.offsets.load(); err != nil {
		return fmt.Errorf("consumer %s: start: %w", c.cfg.Group, err)
	}
	topics := c.subs.topicList()
	stats := make(map[string]*topicStats, len(topics))
	for _, t := range topics {
		s := &topicStats{}
		s.sample(now)
		stats[t] = s
	}
	c.stats.Store(&stats)
	if err := c.inst.RegisterConsumer(c); err != nil {
		return fmt.Errorf("consumer %s: start: %w", c.cfg.Group, err)
	}
	c.state.Store(stateRunning)
	c.goOwned(c.serve)
	c.goOwned(func() { c.sched.loop(c.runCtx) })
	if !c.cfg.Orderly {
		for range c.cfg.ConsumeGoroutines {
			c.wg.Add(1)
			go c.worker()
		}
	}
	c.log.Info("consumer: started", "model", c.cfg.Model, "orderly", c.cfg.Orderly, "topics", topics,
		"strategy", c.cfg.Strategy.Name(), "from", c.cfg.ConsumeFromWhere)
	if c.inst.State() == instance.Running {
		for _, t := range topics {
			if _, err := c.inst.UpdateTopicRoute(ctx, t); err != nil && !isRetryTopic(t) {
				c.noteErr(err)
				c.log.Warn("consumer: route of a subscribed topic unavailable", "topic", t, "err", err)
			}
		}
		versions := c.subs.versions()
		if err := c.inst.SendHeartbeat(ctx); err != nil {
			c.log.Warn("consumer: first heartbeat incomplete", "err", err)
		} else {
			c.subs.announced(versions)
		}
	}
	// Route changes rebalance at once from now on; before the first heartbeat the broker
	// would not know the group yet.
	c.announced.Store(true)
	c.RebalanceImmediately()
	return nil
}

func (c *PushConsumer) goOwned(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Shutdown stops consuming, as Java's shutdown(awaitTerminateMillis): pulls, rebalances
// and new deliveries stop at once, and the orderly deliveries the Handler holds unclaimed
// (Delivery.Unclaim) are withdrawn at once. Then the deliveries under way are drained —
// the Handler's Consume calls, whose context stays live, a concurrent delivery's failed
// messages sent back, an orderly batch still claimed once Consume returned (waited for
// OrderlyDropWait more) — while ctx allows, less a reserve for what follows (a quarter of
// what is left, at most maxShutdownReserve), and their outcomes count as usual. Then the
// Handler's context ends, cutting what still runs: those messages are consumed again
// later (at least once). The offsets are persisted and waited for; orderly queues are
// unlocked, but for those whose batch is still being consumed (their locks expire on the
// broker: another consumer must not consume them meanwhile); the group leaves the
// instance and the brokers, whose other consumers then rebalance. Deliveries completed
// later are ignored (ErrQueueDropped): their messages are consumed again by the queues'
// next owners. ctx bounds the waits; the consumer is stopped whatever it says.
func (c *PushConsumer) Shutdown(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.state.Load() != stateRunning {
		c.state.Store(stateStopped)
		c.stop()
		c.stopConsume()
		return nil
	}
	c.state.Store(stateStopped)
	c.stop()
	c.withdrawUnclaimed()
	c.drain(ctx)
	c.stopConsume()
	var errs []error
	if err := waitGroup(ctx, &c.wg); err != nil {
		errs = append(errs, fmt.Errorf("waiting for the consumer's goroutines: %w", err))
	}
	c.tel.close() // after the drain: its outcomes are measured

	c.rebalanceMu.Lock() // a reset under way finishes first
	c.mu.Lock()
	held := make([]instance.MessageQueue, 0, len(c.table)+len(c.closing))
	// Orderly queues whose batch is still being consumed keep their lock, which expires
	// by itself: another consumer must not take them meanwhile (as for a rebalance).
	var unlock []instance.MessageQueue
	for mq, pq := range c.table {
		held = append(held, mq)
		if !pq.abandoned {
			unlock = append(unlock, mq)
		}
		pq.drop()
	}
	for mq, pq := range c.closing { // dropped orderly queues whose goroutine stopped early
		held = append(held, mq)
		if !pq.abandoned {
			unlock = append(unlock, mq)
		}
	}
	clear(c.table)
	clear(c.closing)
	c.mu.Unlock()
	c.rebalanceMu.Unlock()
	slices.SortFunc(held, instance.MessageQueue.Compare)
	if err := c.offsets.persistAll(ctx, held, true); err != nil {
		errs = append(errs, fmt.Errorf("persisting offsets: %w", err))
	}
	if c.cfg.Orderly && c.cfg.Model == remoting.Clustering && len(unlock) > 0 {
		slices.SortFunc(unlock, instance.MessageQueue.Compare)
		c.unlock(ctx, unlock, false)
	}
	if err := c.inst.UnregisterConsumer(ctx, c.cfg.Group); err != nil && !errors.Is(err, instance.ErrGroupNotRegistered) {
		c.log.Warn("consumer: unregistering from the brokers incomplete", "err", err)
	}
	c.log.Info("consumer: shut down", "queues", len(held))
	if len(errs) > 0 {
		return fmt.Errorf("consumer %s: shutdown: %w", c.cfg.Group, errors.Join(errs...))
	}
	return nil
}

// withdrawUnclaimed withdraws, once runCtx ended, the orderly deliveries the Handler holds
// unclaimed: their queues are unlocked without waiting for them, and a Handler waiting on
// Withdrawn (a webhook waiting for a slot) lets go now, not when the drain ends. An
// Unclaim that comes later sees runCtx ended and withdraws its delivery itself.
func (c *PushConsumer) withdrawUnclaimed() {
	c.mu.Lock()
	pqs := make([]*processQueue, 0, len(c.table)+len(c.closing))
	for _, pq := range c.table {
		pqs = append(pqs, pq)
	}
	for _, pq := range c.closing {
		pqs = append(pqs, pq)
	}
	c.mu.Unlock()
	for _, pq := range pqs {
		if d := pq.delivery.Load(); d != nil {
			d.withdraw()
		}
	}
}

// maxShutdownReserve bounds the part of Shutdown's budget its drain leaves for what
// follows: persisting the offsets, unlocking, unregistering (and the caller's own
// shutdown, a gateway's producer and instance).
const maxShutdownReserve = 3 * time.Second

// drain waits for the consumer's goroutines once the intake stopped: workers end when
// the deliveries they hold completed and no task is left, orderly goroutines after their
// batch. It waits until ctx's deadline less the reserve.
func (c *PushConsumer) drain(ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(dl)/4, maxShutdownReserve)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	if waitGroup(ctx, &c.wg) == nil {
		return
	}
	var inFlight int64
	for _, pq := range c.queues() {
		inFlight += pq.inFlight.Load()
	}
	c.log.Warn("consumer: shutdown budget spent with deliveries in flight: they are cut, their messages consumed again later",
		"inFlight", inFlight)
}

func errState(st int32) error {
	if st == stateRunning {
		return errors.New("started already")
	}
	return errors.New("shut down")
}

// waitGroup waits for wg while ctx allows.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serve is the service goroutine: rebalances (every RebalanceInterval and when asked),
// lock renewal (orderly clustering), route requests, statistics and the consume timeout.
func (c *PushConsumer) serve() {
	ctx := c.runCtx
	rebalance := c.clock.NewTicker(c.cfg.RebalanceInterval)
	defer rebalance.Stop()
	stats := c.clock.NewTicker(statsInterval)
	defer stats.Stop()
	var lockC <-chan time.Time
	if c.cfg.Orderly && c.cfg.Model == remoting.Clustering {
		lock := c.clock.NewTicker(c.cfg.LockInterval)
		defer lock.Stop()
		lockC = lock.C()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-rebalance.C():
			c.rebalance(ctx)
		case <-c.rebalanceNow:
			c.rebalance(ctx)
		case <-lockC:
			c.lockAll(ctx)
		case <-c.routeNow:
			c.updateRoutes(ctx)
		case <-stats.C():
			now := c.clock.Now()
			for _, s := range c.topicStats() {
				s.sample(now)
			}
			c.expireDeliveries(now)
		}
	}
}

// needRoute asks the service goroutine to update topic's route.
func (c *PushConsumer) needRoute(topic string) {
	c.routeMu.Lock()
	c.routeTopics[topic] = true
	c.routeMu.Unlock()
	select {
	case c.routeNow <- struct{}{}:
	default:
	}
}

func (c *PushConsumer) updateRoutes(ctx context.Context) {
	c.routeMu.Lock()
	topics := make([]string, 0, len(c.routeTopics))
	for t := range c.routeTopics {
		topics = append(topics, t)
	}
	clear(c.routeTopics)
	c.routeMu.Unlock()
	for _, t := range topics {
		if _, err := c.inst.UpdateTopicRoute(ctx, t); err != nil && !isRetryTopic(t) {
			c.log.Debug("consumer: route update failed", "topic", t, "err", err)
		}
	}
}

// topicStats returns the statistics by topic; nil before Start.
func (c *PushConsumer) topicStats() map[string]*topicStats {
	if m := c.stats.Load(); m != nil {
		return *m
	}
	return nil
}

// queues returns the queues held.
func (c *PushConsumer) queues() []*processQueue { return c.snapshot(c.table) }

// closingQueues returns the orderly queues dropped whose goroutine is still exiting.
func (c *PushConsumer) closingQueues() []*processQueue { return c.snapshot(c.closing) }

// snapshot returns the queues of m, c.table or c.closing, read under c.mu.
func (c *PushConsumer) snapshot(m map[instance.MessageQueue]*processQueue) []*processQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*processQueue, 0, len(m))
	for _, pq := range m {
		out = append(out, pq)
	}
	return out
}

// limits returns the flow-control thresholds of pq.
func (c *PushConsumer) limits(*processQueue) limits { return c.thresholds.limits() }

// noteErr records the last failure, for Status.
func (c *PushConsumer) noteErr(err error) {
	now := c.clock.Now()
	c.errMu.Lock()
	c.lastErr, c.lastErrAt = err, now
	c.errMu.Unlock()
}

// Group returns the consumer group (instance.Consumer).
func (c *PushConsumer) Group() string { return c.cfg.Group }

// ConsumerData is the group's entry in heartbeats (instance.Consumer).
func (c *PushConsumer) ConsumerData() remoting.ConsumerData {
	return remoting.ConsumerData{
		GroupName:        c.cfg.Group,
		ConsumeType:      remoting.ConsumePassively,
		MessageModel:     c.cfg.Model,
		ConsumeFromWhere: c.cfg.ConsumeFromWhere,
		Subscriptions:    c.subs.list(),
		UnitMode:         c.cfg.UnitMode,
	}
}

// UpdateTopicSubscribeInfo learns a topic's queues (instance.Consumer); when a
// subscribed topic's queues change, the group rebalances at once rather than at the next
// period.
func (c *PushConsumer) UpdateTopicSubscribeInfo(topic string, queues []instance.MessageQueue) {
	if !c.subs.has(topic) {
		return
	}
	c.mu.Lock()
	changed := !slices.Equal(c.known[topic], queues)
	if changed {
		c.known[topic] = slices.Clone(queues)
	}
	c.mu.Unlock()
	if changed && c.announced.Load() {
		c.RebalanceImmediately()
	}
}

// RebalanceImmediately wakes the rebalance (instance.Consumer).
func (c *PushConsumer) RebalanceImmediately() {
	select {
	case c.rebalanceNow <- struct{}{}:
	default:
	}
}

// PersistOffsets persists the offsets of the queues held, oneway (instance.Consumer;
// Java's persistConsumerOffset).
func (c *PushConsumer) PersistOffsets(ctx context.Context) error {
	if c.state.Load() != stateRunning {
		return nil
	}
	return c.offsets.persistAll(ctx, c.heldQueues(), false)
}

// heldQueues returns the queues whose offsets are the consumer's: those held, and the
// orderly ones dropped whose goroutine has not persisted them yet.
func (c *PushConsumer) heldQueues() []instance.MessageQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	mqs := make([]instance.MessageQueue, 0, len(c.table)+len(c.closing))
	for mq := range c.table {
		mqs = append(mqs, mq)
	}
	for mq := range c.closing {
		mqs = append(mqs, mq)
	}
	return mqs
}
