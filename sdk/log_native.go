//go:build !wasip1

package sdk

import (
	"context"
	"log/slog"
)

// hostLog logs through slog.Default when the plugin runs natively, in its tests.
func hostLog(level Level, msg string) {
	slog.Default().Log(context.Background(), slog.Level(level), msg, "plugin", "native")
}
