package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// LogConfig is the [log] section: the gateway's log lines.
type LogConfig struct {
	// Format is "text" (default; key=value) or "json".
	Format string `toml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `toml:"level"`
}

func (c *LogConfig) validate() []error {
	var errs []error
	switch strings.ToLower(c.Format) {
	case "", "text", "json":
	default:
		errs = append(errs, badSetting("log.format", "[log] format: %q: want text or json", c.Format))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c *LogConfig) level() (slog.Level, error) {
	var l slog.Level
	if c.Level == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return 0, badSetting("log.level", "[log] level: %q: want debug, info, warn or error", c.Level)
	}
	return l, nil
}

// NewLogger returns a logger writing to w as c says, with trace and span ids on the
// lines logged inside a traced operation (TraceLogHandler).
func NewLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	if errs := c.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("gateway config: %w", errs[0])
	}
	lvl, _ := c.level()
	o := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if strings.EqualFold(c.Format, "json") {
		h = slog.NewJSONHandler(w, o)
	}
	return slog.New(TraceLogHandler(h)), nil
}

// TraceLogHandler wraps h so that a record logged with a context holding a valid span
// (logger.InfoContext(ctx, ...)) gets trace_id and span_id attributes, as a log backend
// joins logs to traces by. Records without one pass as they are. Wrapping twice adds
// nothing.
func TraceLogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(traceHandler); ok {
		return h
	}
	return traceHandler{h}
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
