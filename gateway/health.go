package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mqgate/mqgate/instance"
)

// The readiness probe asks a NameServer at most once per probeTTL, however often /readyz
// is polled, and gives up on a silent one after probeTimeout.
const (
	probeTTL     = time.Second
	probeTimeout = 2 * time.Second
)

// healthz answers 200 whenever the process serves HTTP: liveness, nothing more.
func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the gateway can produce: it is started and not shutting down,
// the instance runs, and a NameServer answered recently (so routes can be fetched).
// Otherwise 503 with the reason.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	inst, why := a.instance()
	if inst == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: why, Code: codeNotReady})
		return
	}
	if st := inst.State(); st != instance.Running {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the client instance is " + st.String(), Code: codeNotReady})
		return
	}
	if err := a.probe.check(r.Context(), inst); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error(), Code: codeNotReady})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// readinessProbe remembers the last NameServer check for probeTTL.
type readinessProbe struct {
	mu   sync.Mutex // held during a check: concurrent probes share it
	at   time.Time
	last error
}

func (p *readinessProbe) check(ctx context.Context, inst *instance.Instance) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < probeTTL {
		return p.last
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := inst.GetClusterInfo(ctx)
	var be *instance.BrokerError
	if errors.As(err, &be) {
		err = nil // a refusal is an answer: the NameServer is there
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, instance.ErrTimeout) {
			return fmt.Errorf("probe canceled: %w", err) // the prober went away: not remembered
		}
		err = fmt.Errorf("no NameServer answers: %w", err)
	}
	p.at, p.last = time.Now(), err
	return err
}
