package host

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mqgate/mqgate/sdk/abi"
)

// Config configures a Runtime. The zero value is usable.
type Config struct {
	// CacheDir holds wazero's compilation cache, so that a module is compiled once per
	// machine, not per start. Default: os.UserCacheDir()/mqgate/wazero. "off" disables it.
	CacheDir string
	// MaxModuleSize refuses larger modules. Default 32 MiB (a Go plugin is 2-4 MiB).
	MaxModuleSize int
	// WatchdogTick is the granularity of call deadlines, read from the monotonic clock
	// at a call's yields (instrument.go): a call is ended at its first yield a tick past
	// its deadline. Default 1 ms.
	WatchdogTick time.Duration
	// Logger receives what plugins log and what the host logs about them. Default
	// slog.Default().
	Logger *slog.Logger
}

const (
	defaultMaxModuleSize = 32 << 20
	defaultWatchdogTick  = time.Millisecond
)

func (c *Config) setDefaults() error {
	if c.MaxModuleSize <= 0 {
		c.MaxModuleSize = defaultMaxModuleSize
	}
	if c.WatchdogTick <= 0 {
		c.WatchdogTick = defaultWatchdogTick
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("host: no cache directory (set Config.CacheDir or \"off\"): %w", err)
		}
		c.CacheDir = filepath.Join(dir, "mqgate", "wazero")
	}
	return nil
}

// Policy is what a slot does when its plugin fails a call (traps, overruns its deadline
// or memory, answers an error or a result that breaks the ABI) or is quarantined.
type Policy uint8

const (
	// PolicyDefault is Fallback for allocation strategies and Skip for hooks.
	PolicyDefault Policy = iota
	// Fail fails what the call was for: the message's send, the consumed batch (it is
	// retried later, nothing is lost), the request, or the rebalance (which keeps the
	// current assignment).
	Fail
	// Skip carries on as if the plugin were not there: the message is sent or delivered
	// unchanged, the request goes unsigned.
	Skip
	// Fallback answers with the built-in strategy; for a hook it is Skip.
	Fallback
)

var policyNames = [...]string{"default", "fail", "skip", "fallback"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy returns the policy named s ("fail", "skip", "fallback").
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown plugin policy %q (want fail, skip or fallback)", s)
}

// ParseKind returns the kind named s: "allocate", "send", "consume" or "rpc".
func ParseKind(s string) (Kind, error) {
	if k, ok := abi.ParseKind(s); ok {
		return k, nil
	}
	return 0, fmt.Errorf("unknown plugin kind %q (want allocate, send, consume or rpc)", s)
}

// PluginConfig configures one plugin slot. The zero value, with a Name, is usable.
type PluginConfig struct {
	Name string
	// Kind is the kind the slot accepts; 0 accepts the module's.
	Kind abi.Kind
	// Config is handed to the module at load (mqgate_init); by convention a JSON object.
	Config []byte
	// MemoryLimit bounds each instance's linear memory. Default 32 MiB.
	MemoryLimit int
	// StackLimit bounds the call stack of each call, in bytes of wazero's stack as the
	// host bounds each frame (instrument.go): a call that would go deeper fails with
	// ErrStackLimit. Default 16 MiB, at most 32 MiB.
	StackLimit int
	// Deadline bounds each call. Default 10 ms for hooks, 100 ms for allocation.
	Deadline time.Duration
	// InitDeadline bounds an instance's initialization (the Go runtime's start and
	// mqgate_init). Default 2 s.
	InitDeadline time.Duration
	// Instances are created at load; the pool grows on demand up to MaxInstances.
	// Defaults: GOMAXPROCS (at most MaxInstances when that is set), and 4 × Instances.
	Instances    int
	MaxInstances int
	// Policy applies when a call fails; QuarantineAfter consecutive failures quarantine
	// the plugin (calls go straight to the policy) until Swap, Rollback or Resume.
	// Default 5; negative never quarantines. Calls that found every instance busy
	// (ErrBusy: saturation, not a broken plugin) do not count.
	Policy          Policy
	QuarantineAfter int
	// MaxOutput bounds a call's result. Default 16 MiB.
	MaxOutput int
	// LogLimit bounds what one call may log (Log, stdout, stderr); the excess is dropped
	// and counted. Default 4 KiB.
	LogLimit int
}

const (
	pageSize            = 64 << 10
	defaultMemoryLimit  = 32 << 20
	defaultStackLimit   = 16 << 20
	defaultHookDeadline = 10 * time.Millisecond
	defaultAllocDead    = 100 * time.Millisecond
	defaultInitDeadline = 2 * time.Second
	defaultQuarantine   = 5
	defaultMaxOutput    = 16 << 20
	defaultLogLimit     = 4 << 10
	maxInstances        = 1<<16 - 1 // each holds its memory: a bound far past any machine's
)

// Validate reports what is wrong with c.
func (c *PluginConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("plugin config: Name is empty")
	case c.Kind > abi.KindRPC:
		return fmt.Errorf("plugin %q: %v", c.Name, c.Kind)
	case c.MemoryLimit < 0 || c.StackLimit < 0 || c.Deadline < 0 || c.InitDeadline < 0 || c.Instances < 0 || c.MaxInstances < 0 || c.MaxOutput < 0:
		return fmt.Errorf("plugin %q: negative limit", c.Name)
	case c.StackLimit > MaxStackLimit:
		return fmt.Errorf("plugin %q: StackLimit %d is over the %d MiB wazero's stack allows", c.Name, c.StackLimit, MaxStackLimit>>20)
	case c.MemoryLimit > 0 && c.MemoryLimit < pageSize:
		return fmt.Errorf("plugin %q: MemoryLimit %d is under one 64 KiB page", c.Name, c.MemoryLimit)
	case c.Instances > maxInstances || c.MaxInstances > maxInstances:
		return fmt.Errorf("plugin %q: more than %d instances", c.Name, maxInstances)
	case c.MaxInstances > 0 && c.MaxInstances < c.Instances:
		return fmt.Errorf("plugin %q: Instances %d is over MaxInstances %d", c.Name, c.Instances, c.MaxInstances)
	case c.Policy > Fallback:
		return fmt.Errorf("plugin %q: %v", c.Name, c.Policy)
	}
	return nil
}

// withDefaults returns c with its defaults applied for a module of kind k.
func (c PluginConfig) withDefaults(k abi.Kind) PluginConfig {
	if c.MemoryLimit == 0 {
		c.MemoryLimit = defaultMemoryLimit
	}
	if c.StackLimit == 0 {
		c.StackLimit = defaultStackLimit
	}
	if c.Deadline == 0 {
		c.Deadline = defaultHookDeadline
		if k == abi.KindAllocate {
			c.Deadline = defaultAllocDead
		}
	}
	if c.InitDeadline == 0 {
		c.InitDeadline = defaultInitDeadline
	}
	if c.Instances == 0 {
		// Validate saw only the Instances given; the default must not exceed the
		// MaxInstances given either, or the pool could not hold what it creates.
		c.Instances = min(runtime.GOMAXPROCS(0), maxInstances)
		if c.MaxInstances > 0 {
			c.Instances = min(c.Instances, c.MaxInstances)
		}
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = min(4*c.Instances, maxInstances)
	}
	if c.Policy == PolicyDefault {
		c.Policy = Skip
		if k == abi.KindAllocate {
			c.Policy = Fallback
		}
	}
	if c.QuarantineAfter == 0 {
		c.QuarantineAfter = defaultQuarantine
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = defaultMaxOutput
	}
	if c.LogLimit == 0 {
		c.LogLimit = defaultLogLimit
	}
	return c
}
