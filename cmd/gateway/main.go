package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mqgate/mqgate/gateway"
)

// Exit statuses.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

const defaultConfig = "gateway.toml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line's.
type options struct {
	config    string
	dev       bool
	logLevel  slog.Level
	logFormat string
	// logFlags: --log-level or --log-format was given, and wins over [log].
	logLevelSet, logFormatSet bool
}

// run parses args, runs the gateway until ctx ends and returns the exit status. stop
// releases the signals once the first has arrived, so that a second one kills the process,
// whether it starts, serves or stops.
func run(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) int {
	context.AfterFunc(ctx, stop)
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitUsage
	}
	log := newLogger(opts, stderr)
	// fail reports the error the gateway stops on: a line of its own, or in a JSON log an
	// error record, so that a pipeline parsing the log sees why the gateway is gone.
	jsonLog := opts.logFormat == "json"
	fail := func(err error) {
		if jsonLog {
			log.Error(errorLine(err))
			return
		}
		printError(stderr, err)
	}
	// SIGHUP is taken from here on, so that one arriving while the gateway starts does not
	// kill it (the default action): it is kept and applied once the gateway serves.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := gateway.Load(opts.config)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.config == defaultConfig:
		log.Info("gateway: no "+defaultConfig+" here; using the defaults", "dev", opts.dev)
		cfg = gateway.Config{}
	case err != nil:
		fail(err)
		return exitUsage
	}
	if opts.dev {
		cfg.Dev.Enabled = true
	}
	applyLogFlags(&cfg.Log, opts)
	// Validated before the logger is made of [log] (New validates again, changing
	// nothing), so that a bad [log] setting is named by its file and line as any other.
	if err := cfg.Validate(); err != nil {
		fail(err)
		return exitUsage
	}
	if log, err = gateway.NewReloadableLogger(cfg.Log, stderr); err != nil {
		fail(err)
		return exitUsage
	}
	jsonLog = strings.EqualFold(cfg.Log.Format, "json")
	cfg.Logger = log
	g, err := gateway.New(cfg)
	if err != nil {
		fail(err)
		return exitUsage
	}

	if err := g.Start(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// A signal asked for a stop while starting, and Start undid what it had
			// started: that is a clean stop, not a failed start.
			log.Info("gateway: stopped during start-up")
			return exitOK
		}
		fail(err)
		var pe *gateway.PluginError
		var ce *gateway.ConsumerConfigError
		// A plugin that cannot load, or a consumer naming a plugin the store does not
		// hold, is configuration.
		if errors.As(err, &pe) || errors.As(err, &ce) {
			return exitUsage
		}
		return exitRuntime
	}
	line := "gateway ready: http://" + g.Addr()
	if a := g.AdminAddr(); a != "" {
		line += ", admin http://" + a
	}
	if ns, broker := g.DevCluster(); ns != "" {
		line += fmt.Sprintf(" (dev cluster: namesrv %s, broker %s)", ns, broker)
	}
	fmt.Fprintln(stdout, line)

	serveUntilDone(ctx, hup, g, opts, log) // SIGHUP reloads the file (reload.go)
	log.Info("gateway: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.Config().HTTP.ShutdownTimeout)
	defer cancel()
	if err := g.Shutdown(shutdownCtx); err != nil {
		fail(err)
		return exitRuntime
	}
	return exitOK
}

// applyLogFlags puts the command line's log settings over [log] where given, and where
// [log] is silent. Start and SIGHUP both use it, so that a reload compares like with like
// and an unchanged file changes nothing.
func applyLogFlags(c *gateway.LogConfig, opts options) {
	if opts.logLevelSet || c.Level == "" {
		c.Level = opts.logLevel.String()
	}
	if opts.logFormatSet || c.Format == "" {
		c.Format = opts.logFormat
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	set := flag.NewFlagSet("gateway", flag.ContinueOnError)
	set.SetOutput(stderr)
	var o options
	set.StringVar(&o.config, "config", defaultConfig, "the configuration `file`")
	set.BoolVar(&o.dev, "dev", false, "start the embedded dev cluster ([dev]) and point the client at it")
	level := set.String("log-level", "info", "log `level`: debug, info, warn or error")
	set.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	if err := set.Parse(args); err != nil {
		return o, err
	}
	if set.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", set.Args())
	}
	set.Visit(func(f *flag.Flag) {
		o.logLevelSet = o.logLevelSet || f.Name == "log-level"
		o.logFormatSet = o.logFormatSet || f.Name == "log-format"
	})
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	o.logFormat = strings.ToLower(o.logFormat) // as [log] format reads it
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	return o, nil
}

// printError writes err on a line of its own, named by the program unless it names it
// already, as the gateway package's errors do ("gateway: HTTP API: ...", "gateway config:
// ..."); one of a file, "gateway.toml:5: ...", is named.
func printError(w io.Writer, err error) { fmt.Fprintln(w, errorLine(err)) }

// errorLine is err named by the program (printError).
func errorLine(err error) string {
	msg := err.Error()
	if !strings.HasPrefix(msg, "gateway: ") && !strings.HasPrefix(msg, "gateway config: ") {
		msg = "gateway: " + msg
	}
	return msg
}

func newLogger(o options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
