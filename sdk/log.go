package sdk

import "github.com/mqgate/mqgate/sdk/abi"

// Level is a log level, with log/slog's values.
type Level int32

const (
	LevelDebug Level = abi.LevelDebug
	LevelInfo  Level = abi.LevelInfo
	LevelWarn  Level = abi.LevelWarn
	LevelError Level = abi.LevelError
)

// Log writes msg to the gateway's log at level, tagged with the plugin's name. The host
// bounds how much a plugin may log; what is over is dropped and counted.
func Log(level Level, msg string) { hostLog(level, msg) }
