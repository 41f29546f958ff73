package host

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Reasons a module is refused at load; a *LoadError matches one with errors.Is.
var (
	ErrModuleTooLarge  = errors.New("module over the size limit")
	ErrInvalidModule   = errors.New("invalid module")
	ErrForbiddenImport = errors.New("import outside the ABI")
	ErrMissingExport   = errors.New("missing or mistyped export")
	ErrABIVersion      = errors.New("unsupported ABI version")
	ErrUnknownKind     = errors.New("unknown plugin kind")
	ErrWrongKind       = errors.New("plugin kind does not fit the slot")
	ErrInitFailed      = errors.New("module failed to initialize")
)

// LoadError is why a module was refused before it ever served a call: Reason names the
// export, import, version or limit at fault.
type LoadError struct {
	Plugin string
	Reason string
	Err    error // one of the Err* reasons above
	Cause  error // what wazero or the module said, if anything
}

func (e *LoadError) Error() string {
	s := "plugin " + strconv.Quote(e.Plugin) + ": module refused: " + e.Reason
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *LoadError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Failure classifies a failed call.
type Failure uint8

const (
	// FailTrap: the module trapped (unreachable, out-of-bounds access, a Go runtime
	// fatal error or exit); the instance is discarded.
	FailTrap Failure = iota + 1
	// FailDeadline: the call ran past its deadline and was interrupted; the instance is
	// discarded.
	FailDeadline
	// FailMemory: the module asked for memory over its limit; the instance is discarded.
	FailMemory
	// FailError: the plugin answered an error (or panicked, which the sdk recovers).
	FailError
	// FailBadResult: the answer broke the ABI: malformed, too large, outside memory, an
	// index out of range or repeated.
	FailBadResult
	// FailBusy: every instance was busy until the deadline.
	FailBusy
	// FailQuarantined: the plugin is quarantined; it was not called.
	FailQuarantined
	// FailClosed: the plugin or the runtime is closed.
	FailClosed
	// FailStack: the module's calls went deeper than its stack limit; the instance is
	// discarded.
	FailStack
)

// failRetired is pool.get's answer for a version swapped out: not a failure, a retry.
const failRetired Failure = 255

var failureNames = [...]string{"", "trap", "deadline exceeded", "memory limit", "plugin error",
	"bad result", "no instance available", "quarantined", "closed", "stack limit"}

func (f Failure) String() string {
	if int(f) < len(failureNames) && f != 0 {
		return failureNames[f]
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// Sentinels a *CallError matches with errors.Is, by Failure.
var (
	ErrTrap        = errors.New("plugin trapped")
	ErrDeadline    = errors.New("plugin call deadline exceeded")
	ErrMemoryLimit = errors.New("plugin memory limit exceeded")
	ErrPlugin      = errors.New("plugin returned an error")
	ErrBadResult   = errors.New("plugin result breaks the ABI")
	ErrBusy        = errors.New("no plugin instance available")
	ErrQuarantined = errors.New("plugin quarantined")
	ErrClosed      = errors.New("plugin closed")
	ErrStackLimit  = errors.New("plugin stack limit exceeded")
)

var failureErrs = [...]error{nil, ErrTrap, ErrDeadline, ErrMemoryLimit, ErrPlugin, ErrBadResult, ErrBusy, ErrQuarantined, ErrClosed, ErrStackLimit}

// CallError is a failed plugin call: which plugin, version and entry point, how it
// failed, and what the module or the host said.
type CallError struct {
	Plugin  string
	Version int
	Entry   string
	Failure Failure
	Detail  string
	Elapsed time.Duration
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("plugin %q v%d %s: %s", e.Plugin, e.Version, e.Entry, e.Failure)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is matches the sentinel of e's Failure.
func (e *CallError) Is(target error) bool {
	return int(e.Failure) < len(failureErrs) && failureErrs[e.Failure] == target && target != nil
}
