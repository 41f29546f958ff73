package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/remoting"
)

// The gateway's consumer table: the [[consumer]]s of the file, started with the gateway,
// and those added and removed at run time through the admin API. Each is a
// consumer.PushConsumer on the gateway's client instance whose Handler delivers to the
// application: by webhook (delivery_webhook.go) or to long-poll receives
// (delivery_receive.go).

var (
	// ErrNoConsumer is a group the gateway does not consume.
	ErrNoConsumer = errors.New("gateway: no consumer of that group")
	// ErrConsumerExists is a group the gateway consumes already.
	ErrConsumerExists = errors.New("gateway: a consumer of that group exists")
	// ErrConsumerBusy is a group whose consumer is starting or stopping: try again once
	// it has.
	ErrConsumerBusy = errors.New("gateway: the consumer of that group is starting or stopping")
	// ErrNotRunning is a consumer change before Start or after Shutdown began.
	ErrNotRunning = errors.New("gateway: not running")
)

// ConsumerStatus is one consumer as the APIs show it.
type ConsumerStatus struct {
	Group         string               `json:"group"`
	Model         string               `json:"model"`
	Order         string               `json:"order"`
	Delivery      string               `json:"delivery"`
	Subscriptions []SubscriptionConfig `json:"subscriptions"`
	Allocate      string               `json:"allocate"`
	// State is "starting", "running" or "stopping".
	State string `json:"state"`
	// InFlight counts the messages handed to the application (POSTed, leased) and not
	// yet acknowledged; Buffered those waiting for a receive.
	InFlight int `json:"in_flight"`
	Buffered int `json:"buffered,omitempty"`
	// Lag sums the queues' lag.
	Lag         int64                 `json:"lag"`
	Rebalances  int64                 `json:"rebalances"`
	LastError   string                `json:"last_error,omitempty"`
	LastErrorAt time.Time             `json:"last_error_at,omitzero"`
	Queues      []ConsumerQueueStatus `json:"queues"`
}

// ConsumerQueueStatus is a queue a consumer holds.
type ConsumerQueueStatus struct {
	Topic   string `json:"topic"`
	Broker  string `json:"broker"`
	QueueID int    `json:"queue_id"`
	// ConsumerOffset is the committed offset (-1 before it is known), MaxOffset the
	// queue's max offset at the last pull (-1 before one), Lag their difference.
	ConsumerOffset int64 `json:"consumer_offset"`
	MaxOffset      int64 `json:"max_offset"`
	Lag            int64 `json:"lag"`
	// Cached messages are pulled and not yet acknowledged.
	Cached int  `json:"cached"`
	Locked bool `json:"locked"`
}

// consumerTable holds the running consumers.
type consumerTable struct {
	mu       sync.Mutex
	inst     *instance.Instance // set by start; nil before
	byGroup  map[string]*gwConsumer
	closed   bool
	draining chan struct{} // closed when Shutdown begins: long polls end
	client   *http.Client  // the webhooks'

	onValidated func(group string) // test hook: called between a consumer's validation and its reservation
}

// gwConsumer is one consumer group the gateway delivers.
type gwConsumer struct {
	cfg   ConsumerConfig
	state string // guarded by the table's mu
	pc    *consumer.PushConsumer
	recv  *receiver // delivery = "receive"
	hook  *webhook  // delivery = "webhook"

	errMu     sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

// noteErr records a delivery failure for the status.
func (c *gwConsumer) noteErr(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	c.lastErr, c.lastErrAt = err.Error(), time.Now()
}

func (g *Gateway) initConsumers() {
	g.consumers.byGroup = map[string]*gwConsumer{}
	g.consumers.draining = make(chan struct{})
	g.consumers.client = newWebhookClient()
}

// startConsumers starts the file's consumers on inst, once the producer runs, and
// rebalances the consumers of an allocation plugin when it changes.
func (g *Gateway) startConsumers(ctx context.Context, inst *instance.Instance) error {
	t := &g.consumers
	t.mu.Lock()
	t.inst = inst
	t.mu.Unlock()
	g.plugins.onChange(g.pluginChanged)
	for _, cc := range g.cfg.Consumers {
		if err := g.addConsumer(ctx, cc, false); err != nil {
			return fmt.Errorf("gateway: consumer %s: %w", cc.Group, err)
		}
	}
	return g.startKeptConsumers(ctx)
}

// checkConsumerPlugins checks the plugin names of the file's consumers against the
// plugins in effect, once they are loaded and before anything connects (Validate could
// check only the file's [[plugin]]s when there is a plugin store): every consumer naming
// none is reported, and none starts.
func (g *Gateway) checkConsumerPlugins() error {
	var errs []error
	for _, cc := range g.cfg.Consumers {
		errs = append(errs, cc.validate(g.hasPlugin)...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// startKeptConsumers starts the consumers added through the admin API before a restart
// (consumerstore.go), after the file's: a group the file names is the file's, and a
// consumer that cannot start (it names a plugin deleted since, say) is logged and stays
// kept, for DELETE /v1/consumers/{group} to drop.
func (g *Gateway) startKeptConsumers(ctx context.Context) error {
	st := g.plugins.store
	if st == nil {
		return nil
	}
	kept, err := st.readConsumers()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	for _, cc := range kept {
		if slices.ContainsFunc(g.cfg.Consumers, func(c ConsumerConfig) bool { return c.Group == cc.Group }) {
			g.log.Warn("gateway: a consumer added through the admin API is in the file too: the file's runs",
				"group", cc.Group, "store", st.consumersPath())
			continue
		}
		if err := g.AddConsumer(ctx, cc); err != nil {
			g.log.Error("gateway: a consumer added through the admin API could not start; it stays kept (DELETE /v1/consumers/{group} drops it)",
				"group", cc.Group, "err", err)
		}
	}
	return nil
}

// pluginChanged rebalances at once every consumer whose strategy is the allocation
// plugin that changed, so that the new assignment does not wait for the next periodic
// rebalance.
func (g *Gateway) pluginChanged(name string, slot host.Kind) {
	if slot != host.KindAllocate {
		return
	}
	t := &g.consumers
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.byGroup {
		if c.pc != nil && c.cfg.Allocate == name {
			g.log.Info("gateway: allocation plugin changed: rebalancing", "group", c.cfg.Group, "plugin", name)
			c.pc.RebalanceImmediately()
		}
	}
}

// consumersNaming returns the groups of the consumers (running or starting) whose
// allocation strategy or consume hooks name the plugin name, sorted. allocating says that
// a plugin of that name serves in the allocate slot: a consumer whose allocate names a
// built-in strategy counts only then, as it runs that plugin in place of the built-in one
// (registry.namingConsumers); otherwise the built-in one answers it, with or without the
// plugin. Any other name an allocate names was validated as an allocation plugin.
func (g *Gateway) consumersNaming(name string, allocating bool) []string {
	t := &g.consumers
	t.mu.Lock()
	defer t.mu.Unlock()
	strategy := allocating || !slices.Contains(builtinStrategies, name)
	var groups []string
	for group, c := range t.byGroup {
		if strategy && c.cfg.Allocate == name || c.cfg.ConsumeHooks != nil && slices.Contains(*c.cfg.ConsumeHooks, name) {
			groups = append(groups, group)
		}
	}
	slices.Sort(groups)
	return groups
}

// AddConsumer validates c, starts it and registers it. It fails with ErrConsumerExists
// when the gateway consumes the group already, ErrNotRunning before Start or once
// Shutdown began, and a *ConsumerConfigError for a setting that cannot work (naming its
// file and line when c came from Load). Its allocation strategy and consume hooks may
// name uploaded plugins too.
func (g *Gateway) AddConsumer(ctx context.Context, c ConsumerConfig) error {
	return g.addConsumer(ctx, c, true)
}

// hasPlugin reports whether a plugin of that name serves in that slot (registry.has).
func (g *Gateway) hasPlugin(name, slot string) bool {
	r := g.plugins
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.has(name, slot)
}

// addConsumer validates cc, then starts it and registers it. The file's consumers, at
// start, pass again: checkConsumerPlugins checked them against the same plugins.
func (g *Gateway) addConsumer(ctx context.Context, cc ConsumerConfig, runtime bool) error {
	c, inst, err := g.reserveConsumer(cc)
	if err != nil {
		return err
	}
	cc = c.cfg // validated: the defaults applied
	t := &g.consumers

	pc, err := g.newPushConsumer(inst, c)
	if err == nil {
		err = pc.Start(ctx)
		if err != nil {
			_ = pc.Shutdown(context.WithoutCancel(ctx))
		}
	}
	t.mu.Lock()
	if err == nil && t.closed { // Shutdown began meanwhile and did not see this one
		delete(t.byGroup, cc.Group)
		t.mu.Unlock()
		c.pc = pc
		_ = c.stop(ctx)
		return ErrNotRunning
	}
	defer t.mu.Unlock()
	if err != nil {
		delete(t.byGroup, cc.Group)
		if c.recv != nil {
			c.recv.close()
		}
		return err
	}
	c.pc, c.state = pc, "running"
	g.log.Info("gateway: consumer started", "group", cc.Group, "delivery", cc.Delivery, "model", cc.Model,
		"order", cc.Order, "allocate", cc.Allocate, "at_runtime", runtime)
	return nil
}

// reserveConsumer validates cc and reserves its group for a consumer starting, both
// under the registry's lock: a plugin change runs under it too, and a delete asks there
// which consumers name the plugin (registry.remove). So a delete runs either before, and
// the validation finds the plugin gone, or after, and finds this consumer named in the
// table. Validated first and reserved later, a consumer could start naming a plugin
// deleted in between, and run the fallback.
func (g *Gateway) reserveConsumer(cc ConsumerConfig) (*gwConsumer, *instance.Instance, error) {
	r := g.plugins
	r.mu.Lock()
	defer r.mu.Unlock() // no change made: nothing to announce
	t := &g.consumers
	// Not running first: before Start the plugins are not loaded (and Shutdown closes them
	// after the table), so a plugin name would be refused for the wrong reason.
	t.mu.Lock()
	running := !t.closed && t.inst != nil
	t.mu.Unlock()
	if !running {
		return nil, nil, ErrNotRunning
	}
	// A [[plugin]] of the file that does not serve was deleted through the admin API: the
	// refusal says so, as "not a [[plugin]]" alone would puzzle whoever reads the file.
	var deleted []string
	has := func(name, slot string) bool {
		if r.has(name, slot) {
			return true
		}
		if fc, i := r.fileConfig(name); fc != nil && fc.Slot == slot {
			if w := where(fc.pos, "[[plugin]]", i, name); !slices.Contains(deleted, w) {
				deleted = append(deleted, w)
			}
		}
		return false
	}
	if errs := cc.validate(has); len(errs) > 0 {
		for _, w := range deleted {
			errs = append(errs, fmt.Errorf("%s is out of its slot, deleted through the admin API: a reload or a restart loads it again", w))
		}
		return nil, nil, errors.Join(errs...)
	}
	if t.onValidated != nil {
		t.onValidated(cc.Group)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed || t.inst == nil:
		return nil, nil, ErrNotRunning
	case t.byGroup[cc.Group] != nil:
		return nil, nil, fmt.Errorf("%w: %s", ErrConsumerExists, cc.Group)
	}
	c := &gwConsumer{cfg: cc, state: "starting"}
	t.byGroup[cc.Group] = c // reserved while it starts
	return c, t.inst, nil
}

// newPushConsumer makes the push consumer of c and its delivery.
func (g *Gateway) newPushConsumer(inst *instance.Instance, c *gwConsumer) (*consumer.PushConsumer, error) {
	cc := &c.cfg
	pcfg := consumer.Config{
		Group:                 cc.Group,
		Model:                 remoting.Clustering,
		ConsumeFromWhere:      remoting.ConsumeFromLastOffset,
		ConsumeTimestamp:      cc.consumeTimestamp(),
		Orderly:               cc.Order == OrderOrderly,
		Strategy:              g.strategy(cc),
		MaxReconsumeTimes:     cc.maxReconsumeTimes(),
		PullBatchSize:         cc.PullBatchSize,
		PullThresholdForQueue: cc.PullThreshold,
		SuspendCurrentQueue:   cc.Suspend,
		ConsumeTimeout:        cc.ConsumeTimeout,
		RebalanceInterval:     cc.RebalanceInterval,
		OffsetStoreDir:        cc.OffsetDir,
		Logger:                g.log,
	}
	if st := g.tel.Load(); st != nil && st.provider != nil {
		pcfg.Telemetry = st.provider.Instruments() // a consumer span per delivery; nil when off
	}
	if cc.Model == ModelBroadcasting {
		pcfg.Model = remoting.Broadcasting
	}
	switch cc.ConsumeFrom {
	case "first":
		pcfg.ConsumeFromWhere = remoting.ConsumeFromFirstOffset
	case "timestamp":
		pcfg.ConsumeFromWhere = remoting.ConsumeFromTimestamp
	}
	switch {
	case cc.ConsumeHooks == nil:
		pcfg.Hooks = []instance.ConsumeHook{g.plugins.consumeHooks()}
	default:
		for _, name := range *cc.ConsumeHooks {
			pcfg.Hooks = append(pcfg.Hooks, g.plugins.consumeHook(name))
		}
	}
	switch cc.Delivery {
	case DeliveryWebhook:
		c.hook = newWebhook(cc, g.consumers.client, c.noteErr, g.log)
		pcfg.Handler = c.hook
		pcfg.ConsumeBatchMaxSize = cc.WebhookBatch
		pcfg.ConsumeGoroutines = cc.WebhookConcurrency
	default:
		r, err := newReceiver(cc)
		if err != nil {
			return nil, err
		}
		c.recv = r
		pcfg.Handler = r
		pcfg.ConsumeBatchMaxSize = 1 // one lease per message
		pcfg.ConsumeGoroutines = 2   // the handler only buffers
	}
	pc, err := consumer.New(inst, pcfg)
	if err != nil {
		return nil, err
	}
	for _, s := range cc.Subscriptions {
		if err := pc.Subscribe(s.Topic, s.Expression); err != nil {
			return nil, fmt.Errorf("subscriptions: %s: %w", s.Topic, err)
		}
	}
	return pc, nil
}

// strategy is the allocation strategy cc names: the plugin of that name while one is
// loaded (with Java's averagely as its fallback, or the built-in strategy of that name),
// else the built-in one.
func (g *Gateway) strategy(cc *ConsumerConfig) instance.AllocateStrategy {
	var native instance.AllocateStrategy
	switch cc.Allocate {
	case "circle":
		native = consumer.AveragelyByCircle()
	case "consistenthash":
		native = consumer.ConsistentHash(cc.AllocateVirtualNodes)
	case "byconfig":
		qs, _ := cc.byConfigQueues() // validated
		mqs := make([]instance.MessageQueue, len(qs))
		for i, q := range qs {
			mqs[i] = instance.MessageQueue{Topic: q.topic, BrokerName: q.broker, QueueID: q.id}
		}
		native = consumer.ByConfig(mqs)
	case "machineroom":
		native = consumer.ByMachineRoom(cc.AllocateRooms)
	default:
		native = consumer.Averagely()
	}
	return g.plugins.allocationStrategy(cc.Allocate, native)
}

// RemoveConsumer stops the consumer of group (its offsets persisted, the group leaving
// the brokers, whose other consumers rebalance) and forgets it. It stops pulling at once
// and waits for its webhook POSTs under way while ctx allows (consumer.PushConsumer's
// Shutdown): their answers count; those still running then are cut. Messages cut, or
// leased and not acknowledged, are delivered again, to this group's consumers. It fails with
// ErrNoConsumer when the gateway does not consume the group, ErrConsumerBusy while its
// consumer starts or stops.
func (g *Gateway) RemoveConsumer(ctx context.Context, group string) error {
	t := &g.consumers
	t.mu.Lock()
	c := t.byGroup[group]
	if c == nil || c.state != "running" {
		t.mu.Unlock()
		if c != nil {
			return fmt.Errorf("%w: %s is %s", ErrConsumerBusy, group, c.state)
		}
		return fmt.Errorf("%w: %s", ErrNoConsumer, group)
	}
	c.state = "stopping"
	t.mu.Unlock()
	err := c.stop(ctx)
	t.mu.Lock()
	delete(t.byGroup, group)
	t.mu.Unlock()
	if c.hook != nil {
		t.client.CloseIdleConnections() // its keep-alive connections, and their goroutines
	}
	g.log.Info("gateway: consumer removed", "group", group, "err", err)
	return err
}

// consumerConfig is the settings of group's consumer, while it runs.
func (g *Gateway) consumerConfig(group string) (ConsumerConfig, bool) {
	t := &g.consumers
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byGroup[group]; c != nil && c.state == "running" {
		return c.cfg, true
	}
	return ConsumerConfig{}, false
}

// stop ends the deliveries and the push consumer.
func (c *gwConsumer) stop(ctx context.Context) error {
	if c.recv != nil {
		c.recv.close()
	}
	if c.pc == nil {
		return nil
	}
	if err := c.pc.Shutdown(ctx); err != nil {
		return fmt.Errorf("consumer %s: %w", c.cfg.Group, err)
	}
	return nil
}

// drainConsumers ends the long polls at once, when Shutdown begins.
func (g *Gateway) drainConsumers() {
	t := &g.consumers
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.draining:
	default:
		close(t.draining)
	}
}

// stopConsumers stops every consumer, before the instance stops.
func (g *Gateway) stopConsumers(ctx context.Context) error {
	g.drainConsumers()
	t := &g.consumers
	t.mu.Lock()
	t.closed = true
	var all []*gwConsumer
	for _, c := range t.byGroup {
		if c.state == "running" {
			c.state = "stopping"
			all = append(all, c)
		}
	}
	t.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, c := range all {
		wg.Add(1)
		go func() { // in parallel: each waits for its queues' offsets
			defer wg.Done()
			if err := c.stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.mu.Lock()
	clear(t.byGroup)
	t.mu.Unlock()
	t.client.CloseIdleConnections()
	return errors.Join(errs...)
}

// consumer returns the running consumer of group, or nil.
func (g *Gateway) consumer(group string) *gwConsumer {
	t := &g.consumers
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byGroup[group]; c != nil && c.state == "running" {
		return c
	}
	return nil
}

// ConsumerStatuses returns every consumer's status, sorted by group.
func (g *Gateway) ConsumerStatuses() []ConsumerStatus {
	t := &g.consumers
	t.mu.Lock()
	all := make([]consumerView, 0, len(t.byGroup))
	for _, c := range t.byGroup {
		all = append(all, c.view())
	}
	t.mu.Unlock()
	out := make([]ConsumerStatus, len(all))
	for i, v := range all {
		out[i] = v.status()
	}
	slices.SortFunc(out, func(a, b ConsumerStatus) int { return strings.Compare(a.Group, b.Group) })
	return out
}

// ConsumerStatus returns the status of group's consumer.
func (g *Gateway) ConsumerStatus(group string) (ConsumerStatus, error) {
	t := &g.consumers
	t.mu.Lock()
	c := t.byGroup[group]
	var v consumerView
	if c != nil {
		v = c.view()
	}
	t.mu.Unlock()
	if c == nil {
		return ConsumerStatus{}, fmt.Errorf("%w: %s", ErrNoConsumer, group)
	}
	return v.status(), nil
}

// consumerView is what a status reads of a consumer, taken under the table's lock: a
// consumer starting has no push consumer nor delivery yet.
type consumerView struct {
	c     *gwConsumer
	state string
	pc    *consumer.PushConsumer
	recv  *receiver
}

func (c *gwConsumer) view() consumerView {
	v := consumerView{c: c, state: c.state, pc: c.pc}
	if c.pc != nil {
		v.recv = c.recv
	}
	return v
}

func (v consumerView) status() ConsumerStatus {
	c := v.c
	cc := &c.cfg
	st := ConsumerStatus{Group: cc.Group, Model: cc.Model, Order: cc.Order, Delivery: cc.Delivery,
		Subscriptions: slices.Clone(cc.Subscriptions), Allocate: cc.Allocate, State: v.state, Queues: []ConsumerQueueStatus{}}
	var lastErr string
	var lastAt time.Time
	if v.pc != nil {
		ps := v.pc.Status()
		st.Rebalances = ps.Rebalances
		st.InFlight = int(ps.InFlight)
		lastErr, lastAt = ps.LastError, ps.LastErrorAt
		for _, q := range ps.Queues {
			st.Queues = append(st.Queues, ConsumerQueueStatus{Topic: q.Queue.Topic, Broker: q.Queue.BrokerName,
				QueueID: int(q.Queue.QueueID), ConsumerOffset: q.CommittedOffset, MaxOffset: q.MaxOffset,
				Lag: q.Lag, Cached: q.Cached, Locked: q.Locked})
			st.Lag += max(q.Lag, 0)
		}
	}
	if v.recv != nil {
		leased, buffered := v.recv.counts()
		st.InFlight, st.Buffered = leased, buffered
	}
	c.errMu.Lock()
	if c.lastErrAt.After(lastAt) {
		lastErr, lastAt = c.lastErr, c.lastErrAt
	}
	c.errMu.Unlock()
	st.LastError, st.LastErrorAt = lastErr, lastAt
	return st
}
