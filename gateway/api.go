package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
)

// api is the HTTP API: its routes and the gate that lets Shutdown wait for the sends in
// flight before the producer stops.
type api struct {
	cfg *Config
	log *slog.Logger
	mux *http.ServeMux

	mu       sync.Mutex
	inst     *instance.Instance // nil until open
	prod     *producer.Producer
	draining bool
	inflight sync.WaitGroup // produce requests entered and not left; none enters once draining
	active   atomic.Int64   // the same count, for the logs (and the tests)

	probe readinessProbe
}

func newAPI(cfg *Config, log *slog.Logger) *api {
	a := &api{cfg: cfg, log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /v1/topics/{topic}/messages", a.produce)
	a.mux.HandleFunc("POST /v1/topics/{topic}/messages/batch", a.produceBatch)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	return a
}

// open lets requests through to a started instance and producer.
func (a *api) open(inst *instance.Instance, prod *producer.Producer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inst, a.prod = inst, prod
}

// drain refuses new sends (503) and fails readiness.
func (a *api) drain() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.draining = true
	a.log.Info("gateway: draining", "sends_in_flight", a.active.Load())
}

// wait waits for the sends in flight, while ctx allows.
func (a *api) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		a.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enter admits one produce request: it returns the producer, or nil when the gateway is
// not started or is shutting down. A request admitted is answered before Shutdown stops
// the producer; it must leave.
func (a *api) enter() *producer.Producer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.prod == nil || a.draining {
		return nil
	}
	a.inflight.Add(1)
	a.active.Add(1)
	return a.prod
}

func (a *api) leave() {
	a.active.Add(-1)
	a.inflight.Done()
}

// serving reports whether produce requests are let through.
func (a *api) serving() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.prod != nil && !a.draining
}

// instance returns the instance while the gateway serves, else nil.
func (a *api) instance() (*instance.Instance, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.draining:
		return nil, "the gateway is shutting down"
	case a.inst == nil:
		return nil, "the gateway is not started"
	}
	return a.inst, ""
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}
