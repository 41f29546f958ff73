package instance

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/remoting"
)

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestNameServerFailoverSkipsADeadOneAndSticksToTheLiveOne(t *testing.T) {
	live := remotingtest.NewNameServer(t)
	live.SetRoute("T", remotingtest.Route(1, [2]string{"b", "127.0.0.1:1"}))
	dead1, dead2 := deadAddr(t), deadAddr(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), dead1, live.Addr(), dead2))
	for k := range 5 {
		if _, err := i.GetRouteInfo(bg(t), "T"); err != nil {
			t.Fatalf("call %d: %v", k, err)
		}
	}
	if got := live.Count(remoting.GetRouteInfoByTopic); got < 5 {
		t.Errorf("the live NameServer got %d requests, want every one", got)
	}
	if chosen, _ := i.ns.pick(nil); chosen != live.Addr() {
		t.Errorf("chosen NameServer %s, want the live one %s", chosen, live.Addr())
	}
}

func TestAllNameServersDownServesTheCachedRoutes(t *testing.T) {
	ns1, ns2 := remotingtest.NewNameServer(t), remotingtest.NewNameServer(t)
	r := remotingtest.Route(2, [2]string{"b", "127.0.0.1:1"})
	ns1.SetRoute("T", r)
	ns2.SetRoute("T", r)
	fc := clock.NewFake(epoch)
	i := startInstance(t, testConfig(fc, ns1.Addr(), ns2.Addr()))
	p := newFakeProducer("pg", "T")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	ns1.Close()
	ns2.Close()

	_, err := i.UpdateTopicRoute(bg(t), "T")
	if !errors.Is(err, ErrNameServerUnreachable) || !errors.Is(err, ErrConnClosed) {
		t.Fatalf("update with every NameServer down = %v, want ErrNameServerUnreachable", err)
	}
	fc.Advance(30 * time.Second) // a periodic refresh fails the same way
	if !i.PublishInfo("T").OK() || len(i.SubscribeInfo("T")) != 2 || i.FindBrokerAddrInPublish("b") == "" {
		t.Error("the cached route is not served any more")
	}
}

func TestNoNameServerAddressYet(t *testing.T) {
	i, err := New(Config{NameServerAddressURL: "http://127.0.0.1:1/nsaddr", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := i.invokeNameServer(bg(t), i.request(remoting.GetBrokerClusterInfo, nil)); !errors.Is(err, ErrNoNameServer) {
		t.Errorf("got %v, want ErrNoNameServer", err)
	}
}

func TestAddressServerSuppliesAndRefreshesTheNameServers(t *testing.T) {
	var mu sync.Mutex
	answer, calls := "127.0.0.1:9001;127.0.0.1:9002\n", 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	fc := clock.NewFake(epoch)
	cfg := testConfig(fc)
	cfg.NameServerAddressURL = srv.URL
	i := startInstance(t, cfg)

	got := i.NameServers()
	slices.Sort(got)
	if !slices.Equal(got, []string{"127.0.0.1:9001", "127.0.0.1:9002"}) {
		t.Fatalf("NameServers after Start = %v", got)
	}

	mu.Lock()
	answer = "127.0.0.1:9003"
	mu.Unlock()
	fc.Advance(time.Minute)
	if slices.Contains(i.NameServers(), "127.0.0.1:9003") {
		t.Fatal("refreshed before its 2 minutes")
	}
	fc.Advance(time.Minute)
	waitFor(t, "the refreshed list", func() bool { return slices.Equal(i.NameServers(), []string{"127.0.0.1:9003"}) })

	mu.Lock()
	answer = "not an address"
	mu.Unlock()
	fc.Advance(2 * time.Minute)
	waitFor(t, "a third fetch", func() bool { mu.Lock(); defer mu.Unlock(); return calls >= 3 })
	if got := i.NameServers(); !slices.Equal(got, []string{"127.0.0.1:9003"}) {
		t.Errorf("a bad answer replaced the list: %v", got)
	}
}

func TestNameServersSetKeepsTheChosenOneAndIgnoresTheSameList(t *testing.T) {
	var n nameServers
	n.init([]string{"a:1", "b:1"})
	first, _ := n.pick(nil)
	if n.set([]string{"b:1", "a:1"}) {
		t.Error("the same addresses in another order count as a change")
	}
	if !n.set([]string{first, "c:1"}) {
		t.Error("a new list was not taken")
	}
	if again, _ := n.pick(nil); again != first {
		t.Errorf("chosen %s dropped though still listed (now %s)", first, again)
	}
	n.set([]string{"d:1"})
	if got, _ := n.pick(nil); got != "d:1" {
		t.Errorf("picked %s from [d:1]", got)
	}
}
