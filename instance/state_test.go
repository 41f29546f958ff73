package instance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

func TestStartTwiceFailsClearly(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	err := i.Start(context.Background())
	var se *StateError
	if !errors.As(err, &se) || se.State != Running || errors.Is(err, ErrNotRunning) {
		t.Fatalf("second Start = %v, want a *StateError in RUNNING", err)
	}
	if want := "instance 10.0.0.1@test: cannot start: it is running already"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestLifecycle(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	i, err := New(testConfig(clock.NewFake(epoch), ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if i.State() != Created {
		t.Fatalf("state %s", i.State())
	}
	if _, err := i.GetRouteInfo(bg(t), "T"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("a call before Start = %v, want ErrNotRunning", err)
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	if i.State() != Running {
		t.Fatalf("state %s", i.State())
	}
	shutdown(t, i)
	if i.State() != ShutDown {
		t.Fatalf("state %s", i.State())
	}
	shutdown(t, i) // a second Shutdown is a no-op
	if err := i.Start(bg(t)); err == nil || !strings.Contains(err.Error(), "shut down") {
		t.Errorf("Start after Shutdown = %v", err)
	}
	if _, err := i.GetRouteInfo(bg(t), "T"); !errors.Is(err, ErrClosed) {
		t.Errorf("a call after Shutdown = %v, want ErrClosed", err)
	}
	if err := i.RegisterProducer(newFakeProducer("pg")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("RegisterProducer after Shutdown = %v", err)
	}
}

func TestShutdownBeforeStartOnlyMarksTheState(t *testing.T) {
	i, err := New(testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, i)
	if i.State() != ShutDown {
		t.Fatalf("state %s", i.State())
	}
}

func TestFailedStartIsFinal(t *testing.T) {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer dead.Close()
	cfg := testConfig(clock.NewFake(epoch))
	cfg.NameServerAddressURL = dead.URL
	i, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = i.Start(bg(t))
	if err == nil || !strings.Contains(err.Error(), "no NameServer address") {
		t.Fatalf("Start = %v, want a failure naming the missing NameServer address", err)
	}
	if i.State() != StartFailed {
		t.Fatalf("state %s", i.State())
	}
	if err := i.Start(bg(t)); err == nil || !strings.Contains(err.Error(), "failed start") {
		t.Errorf("Start after a failed start = %v", err)
	}
	shutdown(t, i)
}

// Shutdown unregisters every group from every broker, has consumers persist their offsets
// and stops every goroutine.
func TestShutdownUnregistersPersistsAndStopsEverything(t *testing.T) {
	check := leaktest.Check(t)
	ns := remotingtest.NewNameServer(t)
	b1, b2 := remotingtest.NewBroker(t), remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", b1.Addr()}, [2]string{"b2", b2.Addr()}))

	i, err := New(testConfig(clock.NewFake(epoch), ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	p := newFakeProducer("pg", "T")
	c := newFakeConsumer("cg", "T")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterConsumer(c); err != nil {
		t.Fatal(err)
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "heartbeats to both brokers", func() bool {
		return b1.Count(remoting.Heartbeat) > 0 && b2.Count(remoting.Heartbeat) > 0
	})

	shutdown(t, i)
	for _, b := range []*remotingtest.Server{b1, b2} {
		var groups []string
		for _, r := range b.Requests(remoting.UnregisterClient) {
			if r.Ext.Get("clientID") != i.ClientID() {
				t.Errorf("UNREGISTER_CLIENT from %q", r.Ext.Get("clientID"))
			}
			groups = append(groups, "p:"+r.Ext.Get("producerGroup")+" c:"+r.Ext.Get("consumerGroup"))
		}
		if strings.Join(groups, ",") != "p:pg c:,p: c:cg" {
			t.Errorf("broker %s got UNREGISTER_CLIENT for %v, want pg then cg", b.Addr(), groups)
		}
	}
	if c.persists.Load() == 0 {
		t.Error("consumer offsets not persisted at shutdown")
	}
	ns.Close()
	b1.Close()
	b2.Close()
	check()
}

func TestShutdownWithinAnExpiredContextStillStopsEverything(t *testing.T) {
	check := leaktest.Check(t)
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewServer(t)
	hold := make(chan struct{})
	broker.HandleConn(remoting.UnregisterClient, func(ctx context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		select { // never answers in time
		case <-hold:
		case <-ctx.Done():
		}
		return nil
	})
	broker.Answer(remoting.Heartbeat, remoting.Success, "")
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", broker.Addr()}))
	i, err := New(testConfig(clock.NewFake(epoch), ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a heartbeat", func() bool { return broker.Count(remoting.Heartbeat) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The unanswered UNREGISTER_CLIENT takes the whole context: its failure is logged, and
	// Shutdown reports the context's error, unless the transport failed the request a hair
	// before the context's own timer fired.
	err = i.Shutdown(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want nil or the context's error", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Errorf("Shutdown took %v with a 100ms context and a broker that never answers", d)
	}
	if i.State() != ShutDown {
		t.Errorf("state %s", i.State())
	}
	close(hold)
	ns.Close()
	broker.Close()
	check()
}
