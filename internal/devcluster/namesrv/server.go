package namesrv

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Server is a NameServer. Create it with New, then Start it; Shutdown stops it for good
// (a restart is a new Server on the same address, which knows nothing, as in Java).
type Server struct {
	cfg      Config
	log      *slog.Logger
	srv      *netpoll.Server
	routes   *routeTable
	kv       kvStore
	settings settings

	mu      sync.Mutex
	addr    string
	started bool
	stop    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup

	onScan func(removed int) // test hook: called after every scan
}

// New validates cfg and returns a Server that is not listening yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "namesrv")
	s := &Server{cfg: cfg, log: log, routes: newRouteTable(log), stop: make(chan struct{})}
	srv, err := netpoll.NewServer(netpoll.ServerConfig{
		Addr:   cfg.Addr,
		Logger: log,
		// BrokerHousekeepingService: a broker whose connection closes is removed at once.
		OnDisconnect: func(c *netpoll.Conn, _ error) { s.routes.channelDestroyed(c.Addr(), c) },
	})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	for code, h := range map[remoting.RequestCode]netpoll.Handler{
		remoting.RegisterBroker:                s.registerBroker,
		remoting.UnregisterBroker:              s.unregisterBroker,
		remoting.GetRouteInfoByTopic:           s.routeInfo,
		remoting.GetBrokerClusterInfo:          s.clusterInfo,
		remoting.GetAllTopicListFromNameServer: s.allTopics,
		remoting.DeleteTopicInNameServer:       s.deleteTopic,
		remoting.GetTopicsByCluster:            s.topicsByCluster,
		remoting.PutKVConfig:                   s.putKV,
		remoting.GetKVConfig:                   s.kvConfig,
		remoting.DeleteKVConfig:                s.deleteKV,
		remoting.GetKVListByNamespace:          s.kvList,
		remoting.WipeWritePermOfBroker:         s.wipeWritePerm,
		remoting.AddWritePermOfBroker:          s.addWritePerm,
		remoting.GetSystemTopicListFromNS:      s.systemTopics,
		remoting.GetUnitTopicList:              s.unitTopics(func(f int32) bool { return f&flagUnit != 0 }),
		remoting.GetHasUnitSubTopicList:        s.unitTopics(func(f int32) bool { return f&flagUnitSub != 0 }),
		remoting.GetHasUnitSubUnunitTopicList:  s.unitTopics(func(f int32) bool { return f&flagUnit == 0 && f&flagUnitSub != 0 }),
		remoting.QueryDataVersion:              s.queryDataVersion,
		remoting.UpdateNameServerConfig:        s.updateConfig,
		remoting.GetNameServerConfig:           s.getConfig,
	} {
		srv.Handle(code, cfg.Faults.Wrap(code, h))
	}
	return s, nil
}

// Start listens on Config.Addr and starts the expiry scan. ctx bounds only the start.
func (s *Server) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("namesrv: already started")
	}
	select {
	case <-s.stop:
		return netpoll.ErrClosed
	default:
	}
	addr, err := s.srv.Listen()
	if err != nil {
		return err
	}
	s.addr = addr.String()
	s.started = true
	// The ticker is made here, not in the goroutine, so that a test's clock has it as soon
	// as Start returns.
	t := s.cfg.Clock.NewTicker(s.cfg.ScanInterval)
	s.wg.Add(1)
	go s.scanLoop(t)
	s.log.Info("namesrv: listening", "addr", s.addr)
	return nil
}

// Addr is the address the Server listens on, "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown closes the listener and every connection and stops the scan, waiting for
// them while ctx allows. The Server cannot be started again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// DropConnections closes every open connection, as a network failure would: the brokers
// that registered on them are forgotten until they register again.
func (s *Server) DropConnections() {
	for _, c := range s.srv.Conns() {
		_ = c.Close()
	}
}

// WaitForBroker returns once a broker with the address brokerAddr has registered and is
// alive, or with ctx's error.
func (s *Server) WaitForBroker(ctx context.Context, brokerAddr string) error {
	return s.routes.waitLive(ctx, brokerAddr)
}

// scanLoop runs scanNotActiveBroker every ScanInterval until Shutdown.
func (s *Server) scanLoop(t Ticker) {
	defer s.wg.Done()
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			n := s.scanNotActiveBrokers()
			if s.onScan != nil {
				s.onScan(n)
			}
		}
	}
}

// scanNotActiveBrokers removes the brokers silent for longer than BrokerExpiry, closing
// their connections, and returns how many.
func (s *Server) scanNotActiveBrokers() int {
	gone := s.routes.expired(s.cfg.Clock.Now().Add(-s.cfg.BrokerExpiry))
	for addr, c := range gone {
		s.log.Warn("namesrv: broker expired", "broker", addr, "expiry", s.cfg.BrokerExpiry)
		if c != nil {
			_ = c.Close()
		}
		s.routes.channelDestroyed(addr, c)
	}
	return len(gone)
}
