package instance

import (
	"context"
	"time"
)

// The periodic tasks of Java's MQClientInstance.startScheduledTask, each on a goroutine of
// its own driven by the injected clock, so that a slow task (a route refresh waiting on a
// dead NameServer) does not delay the others as Java's single scheduler thread does:
//
//   - NameServer addresses from the address server, every FetchNameServerInterval, when
//     NameServerAddressURL is set;
//   - routes of every topic in use, every PollNameServerInterval, the first at once;
//   - offline-broker clean-up and heartbeats to every broker, every HeartbeatInterval, and
//     at once when a group registers or a route names a broker address not known before
//     (which makes the first round, right after the first routes);
//   - consumer offsets, every PersistOffsetInterval.
//
// Tickers fire at a fixed rate, as scheduleAtFixedRate; a tick due while its task is still
// running is kept (one at most) and the task runs again right after.

// startPeriodicTasks starts the tasks. The tickers are made before it returns, so that a
// test's fake clock moves them from then on.
func (i *Instance) startPeriodicTasks() {
	if i.cfg.NameServerAddressURL != "" {
		i.every(i.cfg.FetchNameServerInterval, nil, func(ctx context.Context) {
			if err := i.fetchNameServerAddr(ctx); err != nil {
				i.log.Warn("instance: NameServer address server failed", "url", i.cfg.NameServerAddressURL, "err", err)
			}
		})
	}
	i.every(i.cfg.PollNameServerInterval, i.refreshRoutes, i.refreshRoutes)

	hb := i.clock.NewTicker(i.cfg.HeartbeatInterval)
	i.goOwned(func(ctx context.Context) {
		defer hb.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hb.C():
				i.cleanOfflineBrokers()
				i.heartbeatRound(ctx)
			case <-i.heartbeatNow:
				i.heartbeatRound(ctx)
			}
		}
	})

	i.every(i.cfg.PersistOffsetInterval, nil, i.persistAllConsumerOffsets)
}

// every runs first once (when not nil) and then task on every tick of a ticker of period d
// until the instance shuts down.
func (i *Instance) every(d time.Duration, first, task func(ctx context.Context)) {
	t := i.clock.NewTicker(d)
	ok := i.goOwned(func(ctx context.Context) {
		defer t.Stop()
		if first != nil {
			first(ctx)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				task(ctx)
			}
		}
	})
	if !ok {
		t.Stop()
	}
}

func (i *Instance) heartbeatRound(ctx context.Context) {
	if err := i.SendHeartbeat(ctx); err != nil && ctx.Err() == nil {
		i.log.Debug("instance: heartbeat round incomplete", "err", err)
	}
}

// persistAllConsumerOffsets has every consumer persist its offsets (Java's
// persistAllConsumerOffset).
func (i *Instance) persistAllConsumerOffsets(ctx context.Context) {
	for _, c := range i.groups.consumerList() {
		if err := c.PersistOffsets(ctx); err != nil && ctx.Err() == nil {
			i.log.Warn("instance: persisting consumer offsets failed", "group", c.Group(), "err", err)
		}
	}
}
