package namesrv

import (
	"context"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

// scans starts a Server on a fake clock and returns a channel reporting each scan.
func scans(t *testing.T, cfg Config) (*Server, *fakeClock, <-chan int) {
	t.Helper()
	clock := newFakeClock()
	cfg.Clock, cfg.Logger = clock, quiet
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scanned := make(chan int, 16)
	s.onScan = func(n int) { scanned <- n }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s, clock, scanned
}

func nextScan(t *testing.T, scanned <-chan int) int {
	t.Helper()
	select {
	case n := <-scanned:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no scan")
		return 0
	}
}

func TestSilentBrokerExpiresAtTheScanAfterBrokerExpiry(t *testing.T) {
	s, clock, scanned := scans(t, Config{})
	cl, broker := newClient(t), newClient(t) // the expired broker's connection is closed
	call(t, broker, s.Addr(), masterA.register())

	clock.Advance(110 * time.Second) // ticks at 10s ... 110s coalesce into one scan
	if n := nextScan(t, scanned); n != 0 {
		t.Fatalf("scan at 110s removed %d brokers", n)
	}
	if routeOf(t, cl, s.Addr(), "orders") == nil {
		t.Fatal("broker gone before its expiry")
	}
	clock.Advance(10 * time.Second) // 120s: not yet expired, Java's test is last + 120s < now
	if n := nextScan(t, scanned); n != 0 {
		t.Fatalf("scan at 120s removed %d brokers", n)
	}
	clock.Advance(10 * time.Second)
	if n := nextScan(t, scanned); n != 1 {
		t.Fatalf("scan at 130s removed %d brokers, want 1", n)
	}
	if routeOf(t, cl, s.Addr(), "orders") != nil {
		t.Fatal("expired broker still routed")
	}
	if info := (env{t: t, cl: cl, addr: s.Addr()}).clusterInfo(); len(info.Brokers) != 0 || len(info.Clusters) != 0 {
		t.Fatalf("cluster info after expiry: %+v", info)
	}
}

func TestRegisteringAgainKeepsABrokerAlive(t *testing.T) {
	s, clock, scanned := scans(t, Config{BrokerExpiry: 30 * time.Second, ScanInterval: 5 * time.Second})
	cl := newClient(t)
	for range 10 { // 100s of registrations every 10s
		call(t, cl, s.Addr(), masterA.register())
		clock.Advance(10 * time.Second)
		if n := nextScan(t, scanned); n != 0 {
			t.Fatalf("a broker registering every 10s was removed")
		}
	}
	clock.Advance(25 * time.Second)
	if n := nextScan(t, scanned); n != 1 {
		t.Fatalf("scan 35s after the last registration removed %d, want 1", n)
	}
}

func TestExpiryClosesTheBrokersConnection(t *testing.T) {
	s, clock, scanned := scans(t, Config{})
	cl := newClient(t)
	ctx := context.Background()
	conn, err := cl.Conn(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Invoke(ctx, masterA.register()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(130 * time.Second)
	nextScan(t, scanned)
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the expired broker's connection is still open")
	}
}

func TestBrokerConnectionClosingRemovesItAtOnce(t *testing.T) {
	s := start(t, Config{})
	observer, brokerA, brokerB := newClient(t), newClient(t), newClient(t)
	call(t, brokerA, s.Addr(), masterA.register())
	call(t, brokerB, s.Addr(), masterB.register())
	if r := routeOf(t, observer, s.Addr(), "orders"); r == nil || len(r.Brokers) != 2 {
		t.Fatalf("route %+v", r)
	}
	brokerA.CloseConn(s.Addr())
	waitFor(t, "broker-a removed", 5*time.Second, func() bool { return routeOf(t, observer, s.Addr(), "TBW102") == nil })
	if r := routeOf(t, observer, s.Addr(), "orders"); r == nil || len(r.Brokers) != 1 || r.Brokers[0].BrokerName != "broker-b" {
		t.Fatalf("route after broker-a's connection closed: %+v", r)
	}
	if info := (env{t: t, cl: observer, addr: s.Addr()}).clusterInfo(); len(info.Brokers) != 1 || len(info.Clusters) != 1 {
		t.Fatalf("cluster info %+v", info)
	}
}

func TestClientConnectionClosingKeepsBrokers(t *testing.T) {
	s := start(t, Config{})
	brokerSide, client := newClient(t), newClient(t)
	call(t, brokerSide, s.Addr(), masterA.register())
	routeOf(t, client, s.Addr(), "orders")
	client.CloseConn(s.Addr())
	waitFor(t, "the client's connection closed", 5*time.Second, func() bool { return len(s.srv.Conns()) == 1 })
	if routeOf(t, newClient(t), s.Addr(), "orders") == nil {
		t.Fatal("a client's disconnect removed the broker")
	}
}

func TestDropConnectionsForgetsBrokersUntilTheyRegister(t *testing.T) {
	s := start(t, Config{})
	broker := newClient(t)
	call(t, broker, s.Addr(), masterA.register())
	s.DropConnections()
	observer := newClient(t)
	waitFor(t, "broker removed", 5*time.Second, func() bool { return routeOf(t, observer, s.Addr(), "orders") == nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.WaitForBroker(ctx, masterA.addr) }()
	// The client redials on its next request once it has seen its connection closed, as
	// a broker's next registration would (a request racing the close fails, as in Java,
	// and the broker registers again 30 s later).
	waitFor(t, "the broker's side to see its connection closed", 5*time.Second, func() bool { return broker.Stats().Conns == 0 })
	call(t, broker, s.Addr(), masterA.register())
	if err := <-waitErr; err != nil {
		t.Fatalf("WaitForBroker: %v", err)
	}
	if routeOf(t, observer, s.Addr(), "orders") == nil {
		t.Fatal("not routed after registering again")
	}
}

func TestWaitForBrokerEndsWithItsContext(t *testing.T) {
	s := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitForBroker(ctx, "10.9.9.9:1"); err != context.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
}

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	check := leaktest.Check(t)
	for range 3 {
		s, err := New(Config{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		cl := newClientNoCleanup(t)
		resp := call(t, cl, s.Addr(), masterA.register())
		if resp.Code != int32(remoting.Success) {
			t.Fatal(resp)
		}
		_ = cl.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := s.Start(context.Background()); err == nil {
			t.Fatal("a shut down Server started again")
		}
	}
	check()
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative expiry":        {BrokerExpiry: -time.Second},
		"negative scan interval": {ScanInterval: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var cfg Config
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:0" || cfg.BrokerExpiry != 120*time.Second || cfg.ScanInterval != 10*time.Second {
		t.Errorf("defaults %+v", cfg)
	}
}
