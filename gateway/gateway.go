package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/internal/devcluster"
)

// Gateway is a running composition: the dev cluster (with Config.Dev.Enabled), the client
// instance, its producer and the HTTP API. Make it with New, Start it once and Shutdown it
// once.
type Gateway struct {
	cfg Config
	log *slog.Logger
	api *api

	mu      sync.Mutex // serialises Start and Shutdown
	started bool
	stopped bool

	dev  *devcluster.Cluster
	inst *instance.Instance
	prod *producer.Producer
	srv  *http.Server
	ln   net.Listener
	serv sync.WaitGroup // the servers' Serve goroutines

	// Plugins and the admin API (plugins.go, admin.go).
	plugins   *registry
	admin     *admin // nil when the admin API is off
	adminSrv  *http.Server
	adminLn   net.Listener
	startInfo atomic.Pointer[gatewayStatus] // what GET /v1/status says of a started gateway

	tel     atomic.Pointer[telemetryState] // set by Start (telemetry.go)
	handler http.Handler                   // the API with its server spans

	consumers consumerTable // consumers.go
	reload    reloadState   // reload.go
}

// ErrStarted is returned by a second Start, or a Start after Shutdown.
var ErrStarted = errors.New("gateway: started already")

// New validates cfg (see Config.Validate) and returns a gateway that runs nothing yet.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The derived configurations are checked now too, so that a bad file is refused here
	// (cmd/gateway's exit status 2) rather than halfway through Start. The dev cluster's
	// NameServer address is not known yet; a stand-in takes its place.
	ns := cfg.Client.NameServers
	if cfg.Dev.Enabled {
		ns = []string{DefaultDevNameServer}
	}
	ic := cfg.instanceConfig(ns)
	if err := ic.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: [client]: %w", err)
	}
	pc := cfg.producerConfig()
	if err := pc.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: [producer]: %w", err)
	}
	cfg.Logger = slog.New(TraceLogHandler(cfg.Logger.Handler())) // trace ids on lines logged in a span
	g := &Gateway{cfg: cfg, log: cfg.Logger}
	g.api = newAPI(&g.cfg, g.log)
	g.handler = tracedHandler{next: g.api.mux, tel: &g.tel}
	g.plugins = newRegistry(&g.cfg, g.log)
	if g.cfg.Admin.enabled() {
		g.admin = newAdmin(&g.cfg, g.log, g.plugins, g.status)
		g.admin.handle("GET /metrics", ScopeMetricsRead, g.serveMetrics)
	} else if *g.cfg.Admin.Listen != "" && len(g.cfg.Admin.Tokens) == 0 {
		g.log.Debug("gateway: the admin API is off: no [[admin.token]]")
	}
	g.initConsumers()
	g.plugins.namedBy = g.consumersNaming
	g.routeConsumers()
	g.routeAdminOps() // admin_topics.go
	return g, nil
}

// Config returns the configuration with its defaults applied.
func (g *Gateway) Config() Config { return g.cfg }

// Handler is the HTTP API. Start serves it on Config.HTTP.Listen; a test may serve it
// itself. Its produce routes and /readyz answer 503 until Start has succeeded and once
// Shutdown has begun; /healthz always answers 200.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler is the admin API, nil when it is off (no [[admin.token]], or [admin]
// listen = ""). Start serves it on Config.Admin.Listen.
func (g *Gateway) AdminHandler() http.Handler {
	if g.admin == nil {
		return nil
	}
	return g.admin.mux
}

// AdminAddr returns the address the admin API listens on, once Start has succeeded; ""
// when it is off.
func (g *Gateway) AdminAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// Addr returns the address the HTTP API listens on, once Start has succeeded.
func (g *Gateway) Addr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// DevCluster returns the addresses of the dev cluster's NameServer and broker, or empty
// strings when none runs.
func (g *Gateway) DevCluster() (nameServer, broker string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dev == nil {
		return "", ""
	}
	return g.dev.NameServerAddr(), g.dev.BrokerAddr()
}

// Start opens the listeners (so that a port in use stops it before anything else
// starts), then starts, in order, the dev cluster when configured, the client instance
// pointed at it (or at the configured NameServers), the producer, the consumers, and the
// HTTP servers; it returns once they serve. ctx bounds the start. On failure, whatever
// was started is stopped again and the gateway cannot be started anew.
func (g *Gateway) Start(ctx context.Context) (err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.stopped {
		return ErrStarted
	}
	g.started = true
	defer func() {
		if err != nil {
			g.stopped = true
			g.closeListeners()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.HTTP.ShutdownTimeout)
			defer cancel()
			if serr := g.stopBackends(stopCtx); serr != nil {
				g.log.Warn("gateway: stopping after a failed start", "err", serr)
			}
		}
	}()

	// The listeners first, served last: a port in use is found before anything joins
	// the cluster (each restart of a crash loop would rebalance the consumer groups).
	if err := g.listen(); err != nil {
		return err
	}

	// Then telemetry (it connects nothing yet), so that plugins, the instance and the
	// producer are all observed.
	ins, err := g.startTelemetry(ctx)
	if err != nil {
		return err
	}
	g.plugins.obs = host.NewObserver(ins)
	g.registerPluginGauges(ins)

	// Then plugins: a module that cannot load is a configuration error (*PluginError),
	// found before anything else starts.
	if err := g.plugins.start(ctx); err != nil {
		return err
	}
	if err := g.checkConsumerPlugins(); err != nil {
		return err
	}

	nameServers := g.cfg.Client.NameServers
	if g.cfg.Dev.Enabled {
		dc, err := devcluster.Start(ctx, g.cfg.devClusterConfig())
		if err != nil {
			return fmt.Errorf("gateway: starting the dev cluster: %w", err)
		}
		g.dev = dc
		nameServers = []string{dc.NameServerAddr()}
	}

	ic := g.cfg.instanceConfig(nameServers)
	// The RPC plugins run before the ACL hook, so that its signature covers the fields
	// they add.
	ic.RPCHooks = append([]instance.RPCHook{g.plugins.rpcHook()}, ic.RPCHooks...)
	ic.Telemetry = ins
	inst, err := instance.New(ic)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := inst.Start(ctx); err != nil {
		return fmt.Errorf("gateway: starting the client instance: %w", err)
	}
	g.inst = inst
	pc := g.cfg.producerConfig()
	pc.Hooks = append(pc.Hooks, g.plugins.sendHook()) // after the hooks set in code
	pc.Telemetry = ins
	prod, err := producer.New(inst, pc)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := prod.Start(ctx); err != nil {
		return fmt.Errorf("gateway: starting the producer: %w", err)
	}
	g.prod = prod
	if err := g.startConsumers(ctx, inst); err != nil {
		return err
	}

	ln := g.ln
	g.srv = &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: g.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.HTTP.ReadTimeout,
		IdleTimeout:       g.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.api.open(inst, prod)
	g.serv.Add(1)
	go func() {
		defer g.serv.Done()
		if err := g.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("gateway: HTTP server stopped", "err", err)
		}
	}()
	g.serveAdmin()
	g.startInfo.Store(&gatewayStatus{HTTP: ln.Addr().String(), Admin: g.adminAddrLocked(), NameServers: inst.NameServers(), DevCluster: g.dev != nil})
	g.log.Info("gateway: started", "http", ln.Addr().String(), "admin", g.adminAddrLocked(), "namesrv", inst.NameServers(),
		"producer_group", g.cfg.Producer.Group, "dev", g.cfg.Dev.Enabled, "plugins", len(g.plugins.src.set.Load().all))
	return nil
}

// listen opens the listeners of the HTTP API and, when it is on, the admin API.
func (g *Gateway) listen() error {
	if g.admin != nil {
		ln, err := net.Listen("tcp", *g.cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("gateway: admin API: %w", err)
		}
		g.adminLn = ln
	}
	ln, err := net.Listen("tcp", g.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("gateway: HTTP API: %w", err)
	}
	g.ln = ln
	return nil
}

// closeListeners closes the listeners of a start that failed before serving them.
func (g *Gateway) closeListeners() {
	for _, ln := range []*net.Listener{&g.ln, &g.adminLn} {
		if *ln != nil {
			_ = (*ln).Close()
			*ln = nil
		}
	}
}

// serveAdmin serves the admin API on its listener.
func (g *Gateway) serveAdmin() {
	if g.adminLn == nil {
		return
	}
	ln := g.adminLn
	g.adminSrv = &http.Server{
		Handler:           g.admin.mux,
		ReadHeaderTimeout: g.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.HTTP.ReadTimeout,
		IdleTimeout:       g.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.serv.Add(1)
	go func() {
		defer g.serv.Done()
		if err := g.adminSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("gateway: admin server stopped", "err", err)
		}
	}()
}

func (g *Gateway) adminAddrLocked() string {
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// Shutdown stops the gateway gracefully: readiness fails at once, the HTTP server stops
// accepting connections and waits for the requests in flight to be answered, then the
// producer (which flushes what it coalesced), the client instance (which unregisters from
// the brokers) and the dev cluster stop, while ctx allows. Whatever ctx says, everything
// is stopped when it returns; the error reports what failed. Shutdown before Start only
// prevents a later Start.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil
	}
	g.stopped = true
	if !g.started {
		return nil
	}
	var errs []error
	g.api.drain()
	g.drainConsumers() // long polls answer at once
	if g.srv != nil {
		if err := g.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("HTTP server: %w", err))
			_ = g.srv.Close() // ctx ended: cut the connections still busy
		}
	}
	if g.adminSrv != nil { // no plugin change runs while the backends stop
		if err := g.adminSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin server: %w", err))
			_ = g.adminSrv.Close()
		}
	}
	g.serv.Wait()
	// Requests served by Handler outside the server (tests) are waited for here.
	if err := g.api.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("waiting for in-flight sends: %w", err))
	}
	if err := g.stopBackends(ctx); err != nil {
		errs = append(errs, err)
	}
	g.log.Info("gateway: shut down")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	return nil
}

// stopBackends stops the producer, the instance and the dev cluster, those that started.
func (g *Gateway) stopBackends(ctx context.Context) error {
	var errs []error
	if err := g.stopConsumers(ctx); err != nil {
		errs = append(errs, fmt.Errorf("consumers: %w", err))
	}
	if g.prod != nil {
		if err := g.prod.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("producer: %w", err))
		}
	}
	if g.inst != nil {
		if err := g.inst.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("client instance: %w", err))
		}
	}
	if err := g.plugins.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("plugins: %w", err))
	}
	if g.dev != nil {
		// The cluster is closed even when ctx has ended: its ports must be released.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := g.dev.Close(closeCtx); err != nil {
			errs = append(errs, fmt.Errorf("dev cluster: %w", err))
		}
	}
	if err := g.stopTelemetry(ctx); err != nil { // last: the spans of the shutdown are flushed
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) devClusterConfig() devcluster.Config {
	d := c.Dev
	return devcluster.Config{
		NameServerAddr:  d.NameServerListen,
		BrokerAddr:      d.BrokerListen,
		DataDir:         d.DataDir,
		AutoCreateTopic: d.AutoCreateTopic,
		QueuesPerTopic:  d.QueuesPerTopic,
		DelayFactor:     d.DelayFactor,
		Logger:          c.Logger,
	}
}

func (c *Config) instanceConfig(nameServers []string) instance.Config {
	cl := c.Client
	ic := instance.Config{
		ClientIP:               cl.ClientIP,
		InstanceName:           cl.InstanceName,
		NameServers:            nameServers,
		Serialize:              cl.Serialize,
		RequestTimeout:         cl.RequestTimeout,
		PollNameServerInterval: cl.PollNameServerInterval,
		HeartbeatInterval:      cl.HeartbeatInterval,
		Logger:                 c.Logger,
	}
	if !c.Dev.Enabled {
		ic.NameServerAddressURL = cl.NameServerURL
	}
	if cl.ACL.AccessKey != "" {
		ic.RPCHooks = []instance.RPCHook{instance.NewACLHook(cl.ACL.AccessKey, cl.ACL.SecretKey, cl.ACL.SecurityToken)}
	}
	return ic
}

func (c *Config) producerConfig() producer.Config {
	p := c.Producer
	pc := producer.Config{
		Group:                 p.Group,
		SendTimeout:           p.SendTimeout,
		RetryAnotherBroker:    p.RetryAnotherBroker,
		MaxMessageSize:        p.MaxMessageSize,
		CompressThreshold:     p.CompressThreshold,
		CompressLevel:         p.CompressLevel,
		DefaultTopicQueueNums: p.DefaultTopicQueues,
		CreateTopicKey:        p.CreateTopicKey,
		LatencyFaultTolerance: p.LatencyFaultTolerance,
		Namespace:             p.Namespace,
		Coalesce: producer.CoalesceConfig{
			Enabled:     *p.Coalesce.Enabled,
			MaxMessages: p.Coalesce.MaxMessages,
			MaxBytes:    p.Coalesce.MaxBytes,
			Linger:      p.Coalesce.Linger,
		},
		Hooks:  p.Hooks,
		Logger: c.Logger,
	}
	if p.Retries != nil {
		n := *p.Retries
		if n == 0 {
			n = -1 // the producer's "never"; its 0 is "the default"
		}
		pc.RetriesWhenSyncFailed, pc.RetriesWhenAsyncFailed = n, n
	}
	return pc
}
