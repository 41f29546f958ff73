package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// The admin API's consumer routes:
//
//	GET    /v1/consumers          status:read      {"consumers": [status...]}
//	GET    /v1/consumers/{group}  status:read      status
//	PUT    /v1/consumers/{group}  consumers:write  body: a [[consumer]] as JSON (the
//	                                               file's keys, durations as "5s");
//	                                               201 status, 409 when it exists, 400
//	                                               naming the key that cannot work
//	DELETE /v1/consumers/{group}  consumers:write  stops it (offsets persisted); 200 its
//	                                               last status, 404 when absent, 409
//	                                               while it starts or stops
//
// Consumers added here are kept in the plugin store (consumerstore.go) and run again after
// a restart, until removed here; the file's [[consumer]] of the same group wins. Without a
// plugin store they run until the gateway stops.

// ScopeConsumersWrite lets a token add and remove consumers.
const ScopeConsumersWrite = "consumers:write"

func (g *Gateway) routeConsumerAdmin() {
	a := g.admin
	a.handle("GET /v1/consumers", ScopeStatusRead, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Consumers []ConsumerStatus `json:"consumers"`
		}{g.ConsumerStatuses()})
	})
	a.handle("GET /v1/consumers/{group}", ScopeStatusRead, func(w http.ResponseWriter, r *http.Request) {
		st, err := g.ConsumerStatus(r.PathValue("group"))
		if err != nil {
			a.fail(w, r, noConsumer(r.PathValue("group")))
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	a.handle("PUT /v1/consumers/{group}", ScopeConsumersWrite, g.putConsumer)
	a.handle("DELETE /v1/consumers/{group}", ScopeConsumersWrite, g.deleteConsumer)
}

func (g *Gateway) putConsumer(w http.ResponseWriter, r *http.Request) {
	a := g.admin
	group := r.PathValue("group")
	var cc ConsumerConfig
	if err := g.api.decode(w, r, &cc); err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case cc.Group == "":
		cc.Group = group
	case cc.Group != group:
		a.fail(w, r, badRequest("group: %q, but the path names %q", cc.Group, group))
		return
	}
	a.consumerOps.Lock() // the body read: what runs and what is kept change together
	defer a.consumerOps.Unlock()
	err := g.AddConsumer(r.Context(), cc)
	var ce *ConsumerConfigError
	switch {
	case err == nil:
		if st := g.plugins.store; st != nil {
			// Not kept: not added. Renamed into place but not synced is kept: the next
			// start runs it, so removing it now would make the answer false.
			if err := st.keepConsumer(cc); err != nil && !logUnsynced(g.log, err) {
				_ = g.RemoveConsumer(context.WithoutCancel(r.Context()), group)
				a.fail(w, r, fmt.Errorf("consumer %s not added: %w", group, err))
				return
			}
		}
	case errors.Is(err, ErrConsumerExists):
		a.fail(w, r, opError(http.StatusConflict, codeConflict, "consumer %s exists: DELETE it first to change it", group))
		return
	case errors.As(err, &ce):
		a.fail(w, r, &requestError{status: http.StatusBadRequest, code: codeBadRequest, msg: err.Error()})
		return
	case errors.Is(err, ErrNotRunning):
		a.fail(w, r, errNotServing)
		return
	default:
		a.fail(w, r, fmt.Errorf("starting consumer %s: %w", group, err))
		return
	}
	st, err := g.ConsumerStatus(group)
	if err != nil { // removed meanwhile
		a.fail(w, r, noConsumer(group))
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (g *Gateway) deleteConsumer(w http.ResponseWriter, r *http.Request) {
	a := g.admin
	a.consumerOps.Lock()
	defer a.consumerOps.Unlock()
	group := r.PathValue("group")
	store := g.plugins.store
	st, err := g.ConsumerStatus(group)
	if err != nil {
		// Not running: a consumer kept that could not start is dropped all the same.
		if store != nil {
			switch kept, err := store.forgetConsumer(group); {
			case err != nil && !logUnsynced(g.log, err): // renamed into place: dropped
				a.fail(w, r, err)
				return
			case kept:
				writeJSON(w, http.StatusOK, ConsumerStatus{Group: group, State: "removed"})
				return
			}
		}
		a.fail(w, r, noConsumer(group))
		return
	}
	// Not the request's context: a client gone before the consumer stopped would cut the
	// stop short, its offsets not persisted, and leave it kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	stopErr := g.RemoveConsumer(ctx, group)
	switch {
	case errors.Is(stopErr, ErrNoConsumer):
		a.fail(w, r, noConsumer(group))
		return
	case errors.Is(stopErr, ErrConsumerBusy):
		a.fail(w, r, opError(http.StatusConflict, codeConflict, "%v: try again once it has", stopErr))
		return
	}
	// Removed, even when its stop reported an error: no longer kept either.
	if store != nil {
		if _, err := store.forgetConsumer(group); err != nil && !logUnsynced(g.log, err) { // renamed into place: not kept
			a.fail(w, r, fmt.Errorf("consumer %s stopped, but still kept: it runs again at the next start: %w", group, err))
			return
		}
	}
	if stopErr != nil {
		a.fail(w, r, stopErr)
		return
	}
	st.State = "removed"
	writeJSON(w, http.StatusOK, st)
}
