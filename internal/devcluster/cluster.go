package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/broker"
	"github.com/mqgate/mqgate/internal/devcluster/faults"
	"github.com/mqgate/mqgate/internal/devcluster/namesrv"
	"github.com/mqgate/mqgate/internal/devcluster/store"
)

var (
	// ErrClosed is returned by a Cluster's methods after Close.
	ErrClosed = errors.New("devcluster: closed")
	// ErrRunning is returned when starting a server that is already running.
	ErrRunning = errors.New("devcluster: already running")
)

// Cluster is a running NameServer and broker. Its methods are safe for concurrent use;
// lifecycle calls are serialized.
type Cluster struct {
	cfg      Config
	log      *slog.Logger
	faults   *faults.Injector
	acl      *broker.ACLConfig
	store    *store.Store
	stateDir string // the broker's DataDir
	tmpDir   string // removed by Close; "" when Config.DataDir is set

	// Set by Start and never changed: restarts reuse them. Read without the lock.
	nsAddr   string // the NameServer's bound address
	brListen string // the broker's bound address
	brAddr   string // what the broker advertises

	mu     sync.Mutex      // serializes lifecycle calls
	ns     *namesrv.Server // nil while stopped
	br     *broker.Broker  // nil while stopped
	closed bool
}

// Start opens the store, starts the NameServer and then the broker pointed at it, and
// returns once the broker's registration is visible in the NameServer, so that a client
// can route TBW102 at once. ctx bounds the start; on failure everything started is
// stopped again.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger.With("component", "devcluster"), faults: &faults.Injector{}}
	if cfg.ACL != "" {
		if c.acl, err = LoadACL(cfg.ACL); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = c.Close(closeCtx)
		}
	}()
	if cfg.DataDir != "" {
		c.stateDir = filepath.Join(cfg.DataDir, "config")
	} else {
		if c.tmpDir, err = os.MkdirTemp("", "devcluster-"); err != nil {
			return nil, fmt.Errorf("devcluster: %w", err)
		}
		c.stateDir = c.tmpDir
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startNameServer(ctx); err != nil {
		return nil, err
	}
	// The broker names itself as the store host of every message it stores, so the store
	// opens before the broker knows its port.
	c.store, err = store.Open(store.Config{Dir: cfg.DataDir, DelayLevels: scaledDelays(cfg.DelayFactor), Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("devcluster: opening the store: %w", err)
	}
	if err := c.startBroker(ctx); err != nil {
		return nil, err
	}
	c.log.Info("devcluster started", "namesrv", c.nsAddr, "broker", c.brAddr, "cluster", cfg.ClusterName,
		"broker_name", cfg.BrokerName, "data_dir", cfg.DataDir)
	return c, nil
}

// scaledDelays are Java's delay levels times factor: the store's table, which the
// broker's delay service reads too.
func scaledDelays(factor float64) []time.Duration {
	out := make([]time.Duration, len(store.DefaultDelayLevels))
	for i, d := range store.DefaultDelayLevels {
		out[i] = time.Duration(float64(d) * factor)
	}
	return out
}

// NameServerAddr is the NameServer's address; it stays the same across restarts.
func (c *Cluster) NameServerAddr() string { return c.nsAddr }

// BrokerAddr is the address the broker advertises; it stays the same across restarts.
func (c *Cluster) BrokerAddr() string { return c.brAddr }

// Faults is the fault injector shared by the NameServer and the broker: faults set on a
// request code apply to whichever server handles it, from its next request on.
func (c *Cluster) Faults() *faults.Injector { return c.faults }

// startNameServer starts a NameServer on the cluster's address. When the broker runs, it
// waits, within ctx, for the broker's next registration (every RegisterInterval) to
// bring the routes back.
func (c *Cluster) startNameServer(ctx context.Context) error {
	addr := c.nsAddr
	if addr == "" {
		addr = c.cfg.NameServerAddr
	}
	ns, err := namesrv.New(namesrv.Config{Addr: addr, BrokerExpiry: c.cfg.BrokerExpiry,
		ScanInterval: c.cfg.ScanInterval, Faults: c.faults, Logger: c.cfg.Logger})
	if err != nil {
		return err
	}
	if err := ns.Start(ctx); err != nil {
		_ = ns.Shutdown(ctx)
		return fmt.Errorf("devcluster: starting the name server on %s: %w", addr, err)
	}
	c.ns = ns
	if c.nsAddr == "" {
		c.nsAddr = ns.Addr()
	}
	if c.br != nil {
		if err := ns.WaitForBroker(ctx, c.brAddr); err != nil {
			return fmt.Errorf("devcluster: waiting for the broker to register again: %w", err)
		}
	}
	return nil
}

// startBroker starts a broker on the cluster's broker address (the one bound first, on a
// restart) and waits for its registration when the NameServer runs.
func (c *Cluster) startBroker(ctx context.Context) error {
	addr := c.brListen
	if addr == "" {
		addr = c.cfg.BrokerAddr
	}
	cfg := c.cfg
	b, err := broker.New(broker.Config{
		ListenAddr:               addr,
		NameServers:              []string{c.nsAddr},
		ClusterName:              cfg.ClusterName,
		BrokerName:               cfg.BrokerName,
		DefaultQueues:            cfg.QueuesPerTopic,
		AutoCreateTopic:          cfg.AutoCreateTopic,
		Store:                    c.store,
		DataDir:                  c.stateDir,
		TransactionTimeout:       cfg.TransactionTimeout,
		TransactionCheckInterval: cfg.TransactionCheckInterval,
		TransactionCheckMax:      cfg.TransactionCheckMax,
		RegisterInterval:         cfg.RegisterInterval,
		ChannelExpiry:            cfg.ChannelExpiry,
		LockExpiry:               cfg.LockExpiry,
		ACL:                      c.acl,
		Faults:                   c.faults,
		Logger:                   cfg.Logger,
	})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		_ = b.Shutdown(ctx)
		return fmt.Errorf("devcluster: starting the broker on %s: %w", addr, err)
	}
	c.br = b
	if c.brAddr == "" {
		c.brAddr = b.Addr()
		// Restarts listen where this one did: its host, the port it got.
		host, _, _ := net.SplitHostPort(c.cfg.BrokerAddr)
		_, port, _ := net.SplitHostPort(b.Addr())
		c.brListen = net.JoinHostPort(host, port)
	}
	if c.ns != nil {
		if err := c.ns.WaitForBroker(ctx, b.Addr()); err != nil {
			return fmt.Errorf("devcluster: waiting for the broker's registration: %w", err)
		}
	}
	return nil
}

// StopBroker shuts the broker down as a Java broker stops: it unregisters, its clients'
// connections close and its in-memory state goes. The store stays open, as files on
// disk would. Stopping a stopped broker does nothing.
func (c *Cluster) StopBroker(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.stopBroker(ctx)
}

func (c *Cluster) stopBroker(ctx context.Context) error {
	if c.br == nil {
		return nil
	}
	err := c.br.Shutdown(ctx)
	c.br = nil
	return err
}

// StartBroker starts a new broker on the same address and store, and returns once it
// has registered with the NameServer (when that runs).
func (c *Cluster) StartBroker(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.br != nil {
		return fmt.Errorf("broker: %w", ErrRunning)
	}
	return c.startBroker(ctx)
}

// RestartBroker stops the broker and starts a new one in its place, as a process restart.
func (c *Cluster) RestartBroker(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := c.stopBroker(ctx); err != nil {
		return err
	}
	return c.startBroker(ctx)
}

// StopNameServer shuts the NameServer down; everything it knew is lost, as in Java.
// Stopping a stopped NameServer does nothing.
func (c *Cluster) StopNameServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.stopNameServer(ctx)
}

func (c *Cluster) stopNameServer(ctx context.Context) error {
	if c.ns == nil {
		return nil
	}
	err := c.ns.Shutdown(ctx)
	c.ns = nil
	return err
}

// StartNameServer starts a new NameServer on the same address. It knows nothing until
// the broker registers again, which it does every RegisterInterval; StartNameServer
// returns once that has happened (when the broker runs), or with ctx's error.
func (c *Cluster) StartNameServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.ns != nil {
		return fmt.Errorf("name server: %w", ErrRunning)
	}
	return c.startNameServer(ctx)
}

// RestartNameServer stops the NameServer and starts a new one in its place; it returns
// once the broker's routes are back.
func (c *Cluster) RestartNameServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := c.stopNameServer(ctx); err != nil {
		return err
	}
	return c.startNameServer(ctx)
}

// DropConnections closes every connection of both servers, as a network failure would.
// Clients reconnect on their next request; the NameServer forgets the broker until its
// next registration.
func (c *Cluster) DropConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ns != nil {
		c.ns.DropConnections()
	}
	if c.br != nil {
		c.br.DropConnections()
	}
}

// Close stops the broker and the NameServer, closes the store and removes the temporary
// state directory. ctx bounds the waits. Close is idempotent.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	errs := []error{c.stopBroker(ctx), c.stopNameServer(ctx)}
	if c.store != nil {
		errs = append(errs, c.store.Close())
	}
	if c.tmpDir != "" {
		errs = append(errs, os.RemoveAll(c.tmpDir))
	}
	c.log.Info("devcluster closed")
	return errors.Join(errs...)
}
