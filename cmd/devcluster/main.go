package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
)

// Exit statuses.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// closeTimeout bounds the shutdown after a signal.
const closeTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the cluster until ctx ends and returns the exit status. stop
// releases the signals once the first has arrived, so that a second one kills the process.
func run(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) int {
	cfg, level, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		return exitUsage
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	c, err := devcluster.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		return exitRuntime
	}
	fmt.Fprintf(stdout, "devcluster ready: namesrv %s broker %s (cluster %s, broker %s)\n",
		c.NameServerAddr(), c.BrokerAddr(), cfg.ClusterName, cfg.BrokerName)

	<-ctx.Done()
	stop()
	cfg.Logger.Info("devcluster: shutting down")
	closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := c.Close(closeCtx); err != nil {
		fmt.Fprintf(stderr, "devcluster: shutdown: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

// parseFlags reads the flags into a validated Config; an error means bad usage.
func parseFlags(args []string, stderr io.Writer) (devcluster.Config, slog.Level, error) {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devcluster.Config
	fs.StringVar(&cfg.NameServerAddr, "namesrv", "127.0.0.1:9876", "NameServer listen address (port 0 picks a free one)")
	fs.StringVar(&cfg.BrokerAddr, "broker", "127.0.0.1:10911", "broker listen address (port 0 picks a free one)")
	fs.IntVar(&cfg.QueuesPerTopic, "queues", 8, "queues of TBW102, and so of auto-created topics")
	fs.StringVar(&cfg.DataDir, "dir", "", "directory for the commit log and broker state; empty keeps messages in memory")
	fs.StringVar(&cfg.ACL, "acl", "", "plain_acl.yml enabling access control")
	fs.Float64Var(&cfg.DelayFactor, "delay-factor", 1, "scale of the delay levels (0.01 makes 1s last 10ms)")
	levelName := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*levelName)); err != nil {
		return cfg, 0, fmt.Errorf("-log-level: %w", err)
	}
	if cfg.QueuesPerTopic < 1 {
		return cfg, 0, fmt.Errorf("-queues %d: must be at least 1", cfg.QueuesPerTopic)
	}
	if cfg.DelayFactor <= 0 {
		return cfg, 0, fmt.Errorf("-delay-factor %v: must be positive", cfg.DelayFactor)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, err
	}
	if cfg.ACL != "" {
		if _, err := devcluster.LoadACL(cfg.ACL); err != nil {
			return cfg, 0, fmt.Errorf("-acl: %w", err)
		}
	}
	return cfg, level, nil
}
