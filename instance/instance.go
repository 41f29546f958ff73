package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/netpoll"
)

// Instance is the client instance of a gateway, Java's MQClientInstance: one per client
// id, shared by every producer and consumer. Make it with New, register groups, Start it,
// and Shutdown it once. Its methods are safe for concurrent use.
type Instance struct {
	cfg      Config
	clientID string
	log      *slog.Logger
	clock    clock.Clock
	hooks    []RPCHook

	mu     sync.Mutex // serialises Start and Shutdown
	state  atomic.Int32
	client atomic.Pointer[netpoll.Client] // set by Start, closed (not cleared) by Shutdown

	// ctx lives from Start to Shutdown: the periodic tasks and the work the processor
	// hands off run under it, and wg counts their goroutines. ownMu guards ctx and
	// stopping, so that no goroutine is added once Shutdown waits for them.
	ownMu    sync.Mutex
	ctx      context.Context
	stop     context.CancelFunc
	stopping bool
	wg       sync.WaitGroup

	groups  groupTable
	ns      nameServers
	routes  routeTable
	brokers brokerTable

	heartbeatSem chan struct{} // one heartbeat round at a time (Java's lockHeartbeat); capacity 1
	heartbeatNow chan struct{} // asks the heartbeat task for a round now; capacity 1
	heartbeats   atomic.Int64  // rounds sent

	http *http.Client // for NameServerAddressURL

	tel *remotingTelemetry // nil: telemetry off
}

// New validates cfg (see Config.Validate) and returns an instance in the Created state.
// It starts nothing: see Start.
func New(cfg Config) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	i := &Instance{
		cfg:          cfg,
		clientID:     cfg.clientID(),
		log:          cfg.Logger,
		clock:        cfg.Clock,
		hooks:        append([]RPCHook(nil), cfg.RPCHooks...),
		heartbeatNow: make(chan struct{}, 1),
		heartbeatSem: make(chan struct{}, 1),
		http:         &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}},
	}
	i.cfg.RPCHooks = i.hooks
	i.cfg.NameServers = append([]string(nil), cfg.NameServers...)
	i.log = i.log.With("client", i.clientID)
	i.ns.init(i.cfg.NameServers)
	i.routes.init()
	i.brokers.init()
	i.groups.init()
	i.tel = newRemotingTelemetry(i, cfg.Telemetry)
	return i, nil
}

// ClientID returns the client id: Config.ClientID, or ClientIP@InstanceName.
func (i *Instance) ClientID() string { return i.clientID }

// Config returns the configuration with its defaults applied.
func (i *Instance) Config() Config { return i.cfg }

// Start starts the instance: it opens the transport, answers broker-initiated requests,
// fetches the NameServer addresses from NameServerAddressURL when one is configured, and
// starts the periodic tasks. It returns once they are started; the first route refresh and
// the first heartbeats run at once in the background.
//
// An instance starts once: Start fails with a *StateError when it is not Created, and a
// failed Start leaves it StartFailed. It fails when NameServerAddressURL is the only source
// of NameServer addresses and does not answer with any.
func (i *Instance) Start(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if st := i.State(); st != Created {
		return &StateError{ClientID: i.clientID, Op: "start", State: st}
	}
	i.setState(StartFailed) // until everything below worked, as Java does

	cl, err := netpoll.NewClient(i.cfg.Transport)
	if err != nil {
		return fmt.Errorf("instance %s: start: %w", i.clientID, err)
	}
	if i.cfg.NameServerAddressURL != "" {
		if err := i.fetchNameServerAddr(ctx); err != nil {
			if len(i.ns.list()) == 0 {
				_ = cl.Close(ctx)
				return fmt.Errorf("instance %s: start: no NameServer address: %w", i.clientID, err)
			}
			i.log.Warn("instance: NameServer address server failed; using the configured NameServers",
				"url", i.cfg.NameServerAddressURL, "err", err)
		}
	}
	i.ownMu.Lock()
	i.ctx, i.stop = context.WithCancel(context.Background())
	i.ownMu.Unlock()
	i.registerProcessor(cl)
	i.client.Store(cl)
	i.startPeriodicTasks()
	i.setState(Running)
	i.log.Info("instance: started", "namesrv", i.ns.list(), "serialize", i.cfg.Serialize,
		"language", i.cfg.Language, "version", i.cfg.Version)
	return nil
}

// Shutdown stops the instance, as Java's MQClientInstance.shutdown with the shutdown of
// its producers and consumers: it stops the periodic tasks, has every consumer persist its
// offsets, unregisters every producer and consumer group from every broker
// (UNREGISTER_CLIENT, one per group), closes the connections and waits for every goroutine
// it started, while ctx allows. Whatever ctx says, everything is stopped and closed when it
// returns (goroutines still waiting on the network end at once); the error reports what
// failed, ctx's error first. Brokers that fail to unregister are logged, not reported: a
// broker that is down forgets the client by itself. Shutdown of an instance not running
// only marks it ShutDown.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	st := i.State()
	i.setState(ShutDown)
	if st != Running {
		return nil
	}

	var errs []error
	i.ownMu.Lock()
	i.stopping = true
	i.stop()
	i.ownMu.Unlock()
	if err := waitGroup(ctx, &i.wg); err != nil {
		errs = append(errs, fmt.Errorf("waiting for periodic tasks: %w", err))
	}
	for _, c := range i.groups.consumerList() {
		if err := c.PersistOffsets(ctx); err != nil {
			errs = append(errs, fmt.Errorf("persisting offsets of consumer group %s: %w", c.Group(), err))
		}
	}
	i.unregisterAllGroups(ctx)
	if err := i.client.Load().Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing the transport: %w", err))
	}
	if err := waitGroup(ctx, &i.wg); err != nil {
		errs = append(errs, fmt.Errorf("waiting for request processing: %w", err))
	}
	i.http.CloseIdleConnections()
	i.tel.close()
	i.log.Info("instance: shut down")
	if err := ctx.Err(); err != nil {
		errs = append([]error{err}, errs...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("instance %s: shutdown: %w", i.clientID, errors.Join(errs...))
	}
	return nil
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

// goOwned runs f on a goroutine counted by wg, under the instance's context; it returns
// false, running nothing, once Shutdown has begun.
func (i *Instance) goOwned(f func(ctx context.Context)) bool {
	i.ownMu.Lock()
	defer i.ownMu.Unlock()
	if i.ctx == nil || i.stopping {
		return false
	}
	ctx := i.ctx
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		f(ctx)
	}()
	return true
}
