package interop

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
)

// devDelayFactor scales the delay levels of a test's devcluster: level 1 lasts 50ms, so a
// delay or a retry costs the suite little while still being measurable.
const devDelayFactor = 0.05

// startDevCluster starts a devcluster private to the test on free ports, closed with it.
// Transactions are checked after 1s instead of Java's 6s and every second instead of
// every 60s, so that the check-back test finishes in seconds. MQGATE_DEVCLUSTER_LOG=debug
// (or info, warn, error) shows the cluster's log on standard error.
func startDevCluster(t *testing.T) *cluster {
	t.Helper()
	c, _ := startDevClusterWith(t, nil)
	return c
}

// startDevClusterWith is startDevCluster with edit applied to the config; it returns the
// devcluster too, for tests that restart its servers.
func startDevClusterWith(t *testing.T, edit func(*devcluster.Config)) (*cluster, *devcluster.Cluster) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if lvl := os.Getenv("MQGATE_DEVCLUSTER_LOG"); lvl != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(lvl)); err != nil {
			t.Fatalf("MQGATE_DEVCLUSTER_LOG: %v", err)
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := devcluster.Config{
		DelayFactor:              devDelayFactor,
		TransactionTimeout:       time.Second,
		TransactionCheckInterval: time.Second,
		Logger:                   logger,
	}
	if edit != nil {
		edit(&cfg)
	}
	dc, err := devcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting the devcluster: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dc.Close(ctx); err != nil {
			t.Errorf("closing the devcluster: %v", err)
		}
	})
	return &cluster{
		namesrv:   dc.NameServerAddr(),
		broker:    dc.BrokerAddr(),
		delayUnit: time.Duration(cfg.DelayFactor * float64(time.Second)),
	}, dc
}
