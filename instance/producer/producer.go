package producer

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
)

// Producer sends messages for one producer group through an instance: Java's
// DefaultMQProducer with its DefaultMQProducerImpl (and TransactionMQProducer). Make it
// with New, Start it (which registers the group), send, and Shutdown it. Its methods are
// safe for concurrent use.
type Producer struct {
	inst  *instance.Instance
	cfg   Config
	group string // with the namespace
	log   *slog.Logger
	clock clock.Clock
	ids   *message.UniqIDGenerator
	hooks []instance.SendHook
	fault *faultTolerance    // nil unless Config.LatencyFaultTolerance
	tel   *producerTelemetry // nil: telemetry off
	// batchProps are the header properties of batch requests (Java's MessageBatch's).
	batchProps, batchPropsNoWait string

	topics topicTable

	mu    sync.Mutex // serialises Start and Shutdown
	state atomic.Int32

	// Async sends in flight, which Shutdown waits for.
	inflight atomic.Int64
	closing  atomic.Bool
	drained  chan struct{}

	// lingering are the queues a first caller lingers on, for Shutdown to end every
	// linger: a queue's topic entry may be gone from topics by then (see flushLingering).
	lingerMu  sync.Mutex
	lingering map[*queueBatcher]struct{}

	// Transaction checks.
	checks  chan transactionCheck
	stop    context.CancelFunc
	workers sync.WaitGroup
}

var _ instance.Producer = (*Producer)(nil)

// New validates cfg (see Config.Validate) and returns a producer of inst, not started.
func New(inst *instance.Instance, cfg Config) (*Producer, error) {
	if inst == nil {
		return nil, fmt.Errorf("producer: no instance")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	icfg := inst.Config()
	p := &Producer{
		inst:      inst,
		cfg:       cfg,
		group:     wrapNamespace(cfg.Namespace, cfg.Group),
		log:       cfg.Logger,
		clock:     icfg.Clock,
		hooks:     append([]instance.SendHook(nil), cfg.Hooks...),
		drained:   make(chan struct{}, 1),
		lingering: map[*queueBatcher]struct{}{},
		checks:    make(chan transactionCheck, checkQueue),
	}
	if p.log == nil {
		p.log = icfg.Logger
	}
	p.log = p.log.With("producer", p.group)
	p.cfg.Hooks = p.hooks
	ip, _ := netip.ParseAddr(icfg.ClientIP) // an invalid address makes Java's fallback id
	p.ids = message.NewUniqIDGenerator(message.UniqIDConfig{IP: ip})
	if cfg.LatencyFaultTolerance {
		p.fault = newFaultTolerance(p.clock.Now)
	}
	p.batchProps = batchProperties(cfg.Namespace, true)
	p.batchPropsNoWait = batchProperties(cfg.Namespace, false)
	p.topics.init()
	p.tel = newProducerTelemetry(cfg.Telemetry, p.group, cfg.Namespace)
	return p, nil
}

// Group returns the producer group as the brokers know it (with the namespace).
func (p *Producer) Group() string { return p.group }

// Config returns the configuration with its defaults applied.
func (p *Producer) Config() Config { return p.cfg }

// Start registers the group with the instance (which announces it to the brokers in its
// heartbeats) and starts the transaction check workers. The instance may be started
// before or after; sends need it running. A producer starts once.
func (p *Producer) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := instance.State(p.state.Load()); st != instance.Created {
		return p.stateError("start", st)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.entry(p.cfg.CreateTopicKey) // Java keeps TBW102's route fresh from the start
	if err := p.inst.RegisterProducer(p); err != nil {
		p.state.Store(int32(instance.StartFailed))
		return fmt.Errorf("producer %s: start: %w", p.group, err)
	}
	if p.cfg.TransactionChecker != nil {
		wctx, stop := context.WithCancel(context.Background())
		p.stop = stop
		for range checkWorkers {
			p.workers.Add(1)
			go p.checkWorker(wctx)
		}
	}
	p.state.Store(int32(instance.Running))
	p.log.Info("producer: started", "coalesce", p.cfg.Coalesce.Enabled, "faultTolerance", p.cfg.LatencyFaultTolerance)
	return nil
}

// Shutdown refuses new sends, ends at once every coalesced send's wait for company
// (Linger), waits while ctx allows for the async sends in flight (their callbacks run),
// stops the transaction check workers and unregisters the group from the instance and the
// brokers (Java's shutdown). Synchronous sends under way finish on their own. The error
// reports what did not finish, ctx's error first.
func (p *Producer) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := instance.State(p.state.Load())
	if st != instance.Running {
		p.state.Store(int32(instance.ShutDown))
		return nil
	}
	p.state.Store(int32(instance.ShutDown))
	p.closing.Store(true)
	p.flushLingering()
	var waitErr error
	for p.inflight.Load() > 0 && waitErr == nil {
		select {
		case <-p.drained:
		case <-ctx.Done():
			waitErr = fmt.Errorf("producer %s: shutdown: %d async sends still in flight: %w", p.group, p.inflight.Load(), ctx.Err())
		}
	}
	if p.stop != nil {
		p.stop()
		// A check in progress ends with its END_TRANSACTION's 3s timeout, or never if the
		// checker ignores its context: the wait ends with ctx (its goroutine with the checks).
		checked := make(chan struct{})
		go func() { p.workers.Wait(); close(checked) }()
		select {
		case <-checked:
		case <-ctx.Done():
			if waitErr == nil {
				waitErr = fmt.Errorf("producer %s: shutdown: transaction checks still running: %w", p.group, ctx.Err())
			}
		}
	}
	err := p.inst.UnregisterProducer(ctx, p.group)
	p.log.Info("producer: shut down")
	if waitErr != nil {
		return waitErr
	}
	if err != nil {
		return fmt.Errorf("producer %s: shutdown: %w", p.group, err)
	}
	return nil
}

// checkRunning fails a send when the producer is not running.
func (p *Producer) checkRunning(op string) error {
	if st := instance.State(p.state.Load()); st != instance.Running {
		return p.stateError(op, st)
	}
	return nil
}

func (p *Producer) stateError(op string, st instance.State) error {
	return &instance.StateError{ClientID: p.inst.ClientID(), Op: op + " (producer group " + p.group + ")", State: st}
}

// asyncStarted counts an async send in flight; false once Shutdown has begun.
func (p *Producer) asyncStarted() bool {
	p.inflight.Add(1)
	if p.closing.Load() {
		p.asyncDone()
		return false
	}
	return true
}

// asyncDone counts an async send finished, waking Shutdown when it was the last.
func (p *Producer) asyncDone() {
	if p.inflight.Add(-1) == 0 && p.closing.Load() {
		select {
		case p.drained <- struct{}{}:
		default:
		}
	}
}
