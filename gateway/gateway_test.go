package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// devConfig is a gateway that starts its own dev cluster, everything on free ports.
func devConfig() Config {
	return Config{
		HTTP:   HTTPConfig{Listen: "127.0.0.1:0"},
		Dev:    DevConfig{Enabled: true, NameServerListen: "127.0.0.1:0", BrokerListen: "127.0.0.1:0"},
		Logger: discard,
	}
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHealthAndReadinessFollowTheLifecycle(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g, err := New(testConfig(dc.NameServerAddr()))
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	if rec := serve(h, "GET", "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("healthz before start: %d", rec.Code)
	}
	if rec := serve(h, "GET", "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz before start: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, "POST", "/v1/topics/T/messages"); rec.Code == http.StatusOK {
		t.Errorf("produce before start: %d %s", rec.Code, rec.Body)
	}

	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if r := get(t, g, "/readyz"); r.status != http.StatusOK || r.str("status") != "ready" {
		t.Errorf("readyz after start: %d %s", r.status, r.raw)
	}
	if r := get(t, g, "/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz: %d %s", r.status, r.raw)
	}

	// Without a NameServer the gateway cannot route new topics: not ready.
	if err := dc.StopNameServer(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "readyz 503 without a NameServer", func() bool {
		return get(t, g, "/readyz").status == http.StatusServiceUnavailable
	})
	if r := get(t, g, "/readyz"); r.str("code") != "not_ready" || r.str("error") == "" {
		t.Errorf("readyz answer %s", r.raw)
	}
	if r := get(t, g, "/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz without a NameServer: %d", r.status)
	}
	if err := dc.StartNameServer(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "readyz 200 with the NameServer back", func() bool {
		return get(t, g, "/readyz").status == http.StatusOK
	})

	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if rec := serve(h, "GET", "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz after shutdown: %d %s", rec.Code, rec.Body)
	}
}

func TestStartsOnceAndShutsDownOnce(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	if err := g.Start(ctxFor(t, time.Second)); !errors.Is(err, ErrStarted) {
		t.Errorf("second start: %v", err)
	}
	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(ctxFor(t, time.Second)); err != nil {
		t.Errorf("second shutdown: %v", err)
	}

	g2, err := New(testConfig(dc.NameServerAddr()))
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Shutdown(ctxFor(t, time.Second)); err != nil {
		t.Errorf("shutdown before start: %v", err)
	}
	if err := g2.Start(ctxFor(t, time.Second)); !errors.Is(err, ErrStarted) {
		t.Errorf("start after shutdown: %v", err)
	}
}

func TestDevModeRunsItsOwnClusterAndStopsIt(t *testing.T) {
	check := leaktest.Check(t)
	g, err := New(devConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	ns, broker := g.DevCluster()
	if ns == "" || broker == "" {
		t.Fatalf("dev cluster addresses %q %q", ns, broker)
	}
	if got := g.inst.NameServers(); len(got) != 1 || got[0] != ns {
		t.Errorf("instance NameServers %v, want the dev cluster's %s", got, ns)
	}
	r := post(t, g, "/v1/topics/DevTopic/messages", `{"body": "hello"}`)
	if r.status != http.StatusOK {
		t.Fatalf("produce: %d %s", r.status, r.raw)
	}
	if m := stored(t, g, broker, r); string(m.Body) != "hello" {
		t.Errorf("stored %q", m.Body)
	}
	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The cluster's ports are released with it.
	for _, addr := range []string{ns, broker} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still bound after shutdown: %v", addr, err)
			continue
		}
		_ = ln.Close()
	}
	client.CloseIdleConnections()
	check()
}

func TestAFailedStartStopsWhatItStarted(t *testing.T) {
	check := leaktest.Check(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := devConfig()
	cfg.HTTP.Listen = busy.Addr().String()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err == nil {
		t.Fatal("started on a busy port")
	}
	if ns, _ := g.DevCluster(); ns != "" {
		if c, err := net.DialTimeout("tcp", ns, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("the dev cluster's NameServer %s still answers", ns)
		}
	}
	if err := g.Start(ctxFor(t, time.Second)); !errors.Is(err, ErrStarted) {
		t.Errorf("start after a failed start: %v", err)
	}
	check()
}

func TestShutdownFinishesInFlightSendsAndRefusesNewOnes(t *testing.T) {
	check := leaktest.Check(t)
	g, err := New(devConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := "http://" + g.Addr() + "/v1/topics/DrainTopic/messages"
	if r := postWith(t, c, url, `{"body": "route me"}`); r.status != http.StatusOK {
		t.Fatalf("first send: %d %s", r.status, r.raw)
	}

	// Hold the broker's answers so that the sends are in flight when Shutdown begins.
	const n = 8
	faults := g.dev.Faults()
	faults.Delay(remoting.SendMessageV2, 300*time.Millisecond)
	faults.Delay(remoting.SendBatchMessage, 300*time.Millisecond)
	var wg sync.WaitGroup
	replies := make([]reply, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = postWith(t, c, url, fmt.Sprintf(`{"body": "in flight %d"}`, i))
		}()
	}
	waitFor(t, 10*time.Second, "every send in flight", func() bool { return g.api.active.Load() == n })

	shut := make(chan error, 1)
	go func() { shut <- g.Shutdown(ctxFor(t, 30*time.Second)) }()
	waitFor(t, 10*time.Second, "the listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", g.Addr(), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	})
	if rec := serve(g.Handler(), "POST", "/v1/topics/DrainTopic/messages"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a request reaching the handler while draining: %d %s", rec.Code, rec.Body)
	}
	wg.Wait()
	for i, r := range replies {
		if r.status != http.StatusOK || r.str("message_id") == "" {
			t.Errorf("in-flight send %d: %d %s", i, r.status, r.raw)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	tr.CloseIdleConnections()
	check()
}
