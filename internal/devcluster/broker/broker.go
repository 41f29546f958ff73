package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Java 4.9.4 BrokerConfig values the broker answers with.
const (
	regionID = "DefaultRegion" // MixAll.DEFAULT_TRACE_REGION_ID, sent as MSG_REGION
	traceOn  = "true"          // BrokerConfig.traceOn, sent as TRACE_ON
	// callClientTimeout is Broker2Client.callClient's wait for a client's answer.
	callClientTimeout = 10 * time.Second
	// housekeepingInterval is ClientHousekeepingService's scan period.
	housekeepingInterval = 10 * time.Second
	// offsetFlushInterval is flushConsumerOffsetInterval.
	offsetFlushInterval = 5 * time.Second
)

// Lifecycle states.
const (
	stateNew int32 = iota
	stateRunning
	stateStopped
)

// Broker is the dev cluster's Apache RocketMQ 4.9.4 broker: a master serving one Store.
type Broker struct {
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	store      *store.Store
	maxMsgSize int // the store's: Java's maxMessageSize

	server   *netpoll.Server
	outbound *netpoll.Client // to the NameServers
	addr     string          // advertised address, set by Start
	host     netip.AddrPort  // the same, as written into stored messages
	brokerIP string          // its host part: Java's brokerIP1, quoted in remarks

	topics    *topicManager
	groups    *groupManager
	offsets   *offsetManager
	consumers *consumerManager
	producers *producerManager
	locks     *lockManager
	holds     *holdService

	// Extension points, filled by New and the extensions (see extension.go).
	handlers           map[remoting.RequestCode]netpoll.Handler
	wrappers           []handlerWrapper
	putHooks           []putHook
	storeHooks         []storeHook
	arrivals           []func(topic string, queueID int32)
	prepareTransaction putHook
	services           []func(ctx context.Context)
	onDisconnect       []func(c *netpoll.Conn)
	onShutdown         []func()
	aclEnabled         bool

	bootTime time.Time // Java's messageStoreBootTimestamp, for GET_BROKER_RUNTIME_INFO

	// The settings UPDATE_BROKER_CONFIG changes at run time (brokerconfig.go).
	settings        brokerSettings
	permission      atomic.Int32 // brokerPermission
	autoCreateTopic atomic.Bool  // autoCreateTopicEnable
	autoCreateGroup atomic.Bool  // autoCreateSubscriptionGroup

	// The extensions' own state, nil when not installed.
	schedule *scheduleService
	txn      *transactionService
	acl      *aclValidator

	registerNow chan struct{} // asks the registration loop for a oneway registration
	runCtx      context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup // every goroutine the broker starts
	state       atomic.Int32
	lifecycle   sync.Mutex
}

// New builds a broker from cfg: the system topics, and the topics, subscription groups and
// consumer offsets kept in cfg.DataDir by a previous run. It serves nothing until Start.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:         cfg,
		log:         cfg.Logger.With("broker", cfg.BrokerName),
		now:         cfg.Clock,
		store:       cfg.Store,
		maxMsgSize:  cfg.Store.MaxMessageSize(),
		bootTime:    cfg.Clock(),
		handlers:    make(map[remoting.RequestCode]netpoll.Handler),
		registerNow: make(chan struct{}, 1),
	}
	b.settings.version = remoting.DataVersion{Timestamp: b.bootTime.UnixMilli()}
	b.permission.Store(permRW)
	b.autoCreateTopic.Store(*cfg.AutoCreateTopic)
	b.autoCreateGroup.Store(*cfg.AutoCreateSubscriptionGroup)
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	var err error
	if b.topics, err = newTopicManager(b); err != nil {
		return nil, err
	}
	if b.groups, err = newGroupManager(b); err != nil {
		return nil, err
	}
	if b.offsets, err = newOffsetManager(cfg.DataDir); err != nil {
		return nil, err
	}
	b.consumers = newConsumerManager()
	b.producers = newProducerManager()
	b.locks = newLockManager(cfg.LockExpiry, cfg.Clock)
	b.holds = newHoldService(b)

	b.registerCoreHandlers()
	for _, ext := range extensions {
		if err := ext.install(b); err != nil {
			return nil, fmt.Errorf("broker: %s: %w", ext.name, err)
		}
	}
	if cfg.ACL != nil && !b.aclEnabled {
		return nil, errors.New("broker: config: ACL is set but this build has no ACL support")
	}

	b.server, err = netpoll.NewServer(netpoll.ServerConfig{
		RequestTimeout: callClientTimeout,
		Logger:         b.log,
		OnDisconnect:   b.connectionClosed,
	})
	if err != nil {
		return nil, err
	}
	for code, h := range b.handlers {
		for _, w := range b.wrappers {
			h = w(code, h)
		}
		b.server.Handle(code, cfg.Faults.Wrap(code, h))
	}
	return b, nil
}

// Start listens, registers with every NameServer (a NameServer that is down is skipped and
// retried at the next interval) and starts the broker's services. ctx bounds the first
// registration only.
func (b *Broker) Start(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	if !b.state.CompareAndSwap(stateNew, stateRunning) {
		return errors.New("broker: Start called twice or after Shutdown")
	}
	// The address is known before the first connection is accepted: handlers write it
	// into every stored message.
	ln := b.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", b.cfg.ListenAddr); err != nil {
			b.state.Store(stateStopped)
			_ = b.server.Shutdown(ctx) // its goroutines started in New
			return fmt.Errorf("broker: listen %s: %w", b.cfg.ListenAddr, err)
		}
	}
	if err := b.setAddress(ln.Addr()); err != nil {
		b.state.Store(stateStopped)
		_ = b.server.Shutdown(ctx)
		_ = ln.Close()
		return err
	}
	// Handlers may register with the NameServers (a topic created on the send path), so
	// the outbound client is ready before the first connection is served.
	outbound, err := netpoll.NewClient(netpoll.ClientConfig{Logger: b.log, RequestTimeout: registerTimeout})
	if err != nil {
		b.state.Store(stateStopped)
		_ = b.server.Shutdown(ctx)
		_ = ln.Close()
		return err
	}
	b.outbound = outbound
	b.runCtx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.server.Serve(ln); err != nil && !errors.Is(err, netpoll.ErrClosed) {
			b.log.Error("broker: listener failed", "err", err)
		}
	}()

	b.registerAll(ctx, false)
	b.goService(b.holds.run)
	b.goService(b.housekeeping)
	b.goService(b.persistLoop)
	b.goService(b.registerLoop)
	for _, s := range b.services {
		b.goService(s)
	}
	b.log.Info("broker started", "addr", b.addr, "cluster", b.cfg.ClusterName, "namesrv", b.cfg.NameServers)
	return nil
}

// setAddress derives the advertised address from the bound one.
func (b *Broker) setAddress(bound net.Addr) error {
	addr := b.cfg.AdvertisedAddr
	if addr == "" {
		ap, err := netip.ParseAddrPort(bound.String())
		if err != nil {
			return fmt.Errorf("broker: bound address %s: %w", bound, err)
		}
		ip := ap.Addr().Unmap()
		if ip.IsUnspecified() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		addr = netip.AddrPortFrom(ip, ap.Port()).String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("broker: advertised address %q: %w", addr, err)
	}
	b.addr, b.brokerIP = addr, host
	if ip, err := netip.ParseAddr(host); err == nil {
		p, _ := strconv.ParseUint(port, 10, 16)
		b.host = netip.AddrPortFrom(ip.Unmap(), uint16(p))
	}
	return nil
}

// goService runs f on a goroutine that Shutdown stops and waits for.
func (b *Broker) goService(f func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(b.runCtx)
	}()
}

// Addr returns the address the broker advertises (host:port), "" before Start.
func (b *Broker) Addr() string { return b.addr }

// Shutdown stops serving and every goroutine, closes the client connections, unregisters
// from the NameServers as Java's shutdown does, and persists offsets, topics and groups
// when DataDir is set. It does not close the Store, which the caller owns. ctx bounds the
// waits; everything is stopped all the same.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	prev := b.state.Swap(stateStopped)
	if prev == stateStopped {
		return nil
	}
	var errs []error
	if prev == stateRunning {
		errs = append(errs, b.server.Shutdown(ctx))
		b.cancel()
		done := make(chan struct{})
		go func() { b.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		b.holds.clear()
		b.unregisterAll(ctx)
		errs = append(errs, b.outbound.Close(ctx))
	} else {
		errs = append(errs, b.server.Shutdown(ctx))
		if b.cfg.Listener != nil {
			_ = b.cfg.Listener.Close()
		}
	}
	for _, f := range b.onShutdown {
		f()
	}
	errs = append(errs, b.persist())
	b.log.Info("broker stopped", "addr", b.addr)
	return errors.Join(errs...)
}

// DropConnections closes every client connection, as a broker whose network failed; the
// broker keeps serving new ones.
func (b *Broker) DropConnections() {
	for _, c := range b.server.Conns() {
		_ = c.Close()
	}
}

// connectionClosed is ClientHousekeepingService.onChannelClose: the client is dropped from
// the producer and consumer tables (its consumer groups are told) and its held pulls go.
func (b *Broker) connectionClosed(c *netpoll.Conn, _ error) {
	b.holds.dropConn(c)
	b.producers.channelClosed(c)
	notify := b.consumers.channelClosed(c)
	if b.state.Load() == stateRunning {
		b.notifyConsumerIDsChanged(notify)
	}
	for _, f := range b.onDisconnect {
		f(c)
	}
}

// housekeeping is ClientHousekeepingService's scan: clients silent for ChannelExpiry are
// dropped and their connections closed.
func (b *Broker) housekeeping(ctx context.Context) {
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.scanExpiredClients()
		}
	}
}

// scanExpiredClients is ProducerManager.scanNotActiveChannel and
// ConsumerManager.scanNotActiveChannel. As in Java, the expired channel leaves the tables
// without a notification of its own; closing it then tells the groups it was still in.
func (b *Broker) scanExpiredClients() {
	now := b.now()
	expired := b.producers.scanExpired(now, b.cfg.ChannelExpiry)
	expired = append(expired, b.consumers.scanExpired(now, b.cfg.ChannelExpiry)...)
	for _, c := range expired {
		b.log.Warn("broker: client channel expired", "remote", c.Addr())
		_ = c.Close()
	}
}

// persistLoop writes the consumer offsets every 5 s, as Java's flushConsumerOffsetInterval.
func (b *Broker) persistLoop(ctx context.Context) {
	if b.cfg.DataDir == "" {
		return
	}
	t := time.NewTicker(offsetFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.offsets.persist(); err != nil {
				b.log.Error("broker: persisting consumer offsets", "err", err)
			}
		}
	}
}

// persist writes what DataDir keeps.
func (b *Broker) persist() error {
	return errors.Join(b.offsets.persist(), b.topics.persist(), b.groups.persist())
}

// remoteAddrPort returns the client's address as stored in the born host.
func remoteAddrPort(c *netpoll.Conn) netip.AddrPort {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap
}

// remoteAddr is RemotingHelper.parseChannelRemoteAddr: "host:port".
func remoteAddr(c *netpoll.Conn) string { return remoteAddrPort(c).String() }
