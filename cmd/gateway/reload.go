package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/mqgate/mqgate/gateway"
)

// serveUntilDone runs until ctx ends, reloading the configuration file on every SIGHUP
// (gateway.Reload): a file that does not parse or validate is refused with its file:line
// and the gateway runs on as it was.
func serveUntilDone(ctx context.Context, hup <-chan os.Signal, g *gateway.Gateway, opts options, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reloadConfig(ctx, g, opts, log)
		}
	}
}

// reloadConfig reads the file again, applies what the command line says over it as at
// start, and hands it to the gateway.
func reloadConfig(ctx context.Context, g *gateway.Gateway, opts options, log *slog.Logger) {
	log.Info("gateway: SIGHUP: reloading the configuration", "file", opts.config)
	cfg, err := gateway.Load(opts.config)
	if err != nil {
		log.Error("gateway: reload refused; running as before", "err", err)
		return
	}
	if opts.dev {
		cfg.Dev.Enabled = true
	}
	applyLogFlags(&cfg.Log, opts)
	rctx, cancel := context.WithTimeout(ctx, g.Config().HTTP.ShutdownTimeout)
	defer cancel()
	rep, err := g.Reload(rctx, cfg)
	if rep.Empty() && err != nil {
		log.Error("gateway: reload refused; running as before", "file", opts.config, "err", err)
		return
	}
	rep.Log(log, opts.config)
	if err != nil {
		log.Error("gateway: reload: some changes failed", "err", err)
	}
}
