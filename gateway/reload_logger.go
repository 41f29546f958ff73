package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// ReloadableLogger returns a logger over h whose level a Reload can change ([log]
// level): records under level are dropped here, so h itself should let every level
// through (build it with slog.LevelDebug, or NewLogger with level "debug").
func ReloadableLogger(h slog.Handler, level slog.Level) *slog.Logger {
	lv := new(slog.LevelVar)
	lv.Set(level)
	return slog.New(&levelHandler{Handler: h, level: lv})
}

// levelHandler filters records by a level that can change while the gateway runs.
type levelHandler struct {
	slog.Handler
	level *slog.LevelVar
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}

// levelVarOf finds the level of a ReloadableLogger's handler, under the trace handler
// New wraps every logger in; nil when there is none.
func levelVarOf(h slog.Handler) *slog.LevelVar {
	for {
		switch x := h.(type) {
		case *levelHandler:
			return x.level
		case traceHandler:
			h = x.Handler
		default:
			return nil
		}
	}
}

// NewReloadableLogger is NewLogger whose level a Reload can change ([log] level): the
// handler lets every level through and the level is checked above it, under the trace
// handler.
func NewReloadableLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	lvl, err := c.level()
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	c.Level = "debug"
	base, err := NewLogger(c, w)
	if err != nil {
		return nil, err
	}
	h := base.Handler()
	if th, ok := h.(traceHandler); ok {
		h = th.Handler
	}
	lv := new(slog.LevelVar)
	lv.Set(lvl)
	return slog.New(TraceLogHandler(&levelHandler{Handler: h, level: lv})), nil
}
