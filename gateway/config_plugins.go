package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mqgate/mqgate/host"
)

// The configuration of plugins and of the admin API: [admin], [[admin.token]], [plugins]
// and [[plugin]]. See plugins.go and admin.go for what they drive.

// Defaults of the plugin and admin settings.
const (
	DefaultAdminListen   = "127.0.0.1:9090"
	DefaultPluginDir     = "mqgate-plugins"
	DefaultMaxModuleSize = 32 << 20

	// minTokenLength refuses guessable admin tokens.
	minTokenLength = 16
	// maxPluginName bounds a plugin's name: it is a URL path segment and a log field.
	maxPluginName = 64
)

// Admin API scopes: what a bearer token may do. A ":write" scope includes the ":read"
// scope of the same resource; ScopeAll grants every scope.
const (
	ScopePluginsRead  = "plugins:read"  // GET /v1/plugins, GET /v1/plugins/{name}
	ScopePluginsWrite = "plugins:write" // PUT, activate, rollback, resume, DELETE
	ScopeStatusRead   = "status:read"   // GET /v1/status
	ScopeTopicsRead   = "topics:read"   // GET /v1/topics, GET /v1/clusters/{cluster}/topics
	ScopeTopicsWrite  = "topics:write"  // PUT /v1/topics/{topic}
	ScopeGroupsRead   = "groups:read"   // GET /v1/groups/{group}/progress
	ScopeGroupsWrite  = "groups:write"  // POST /v1/groups/{group}/reset-offset
	ScopeAll          = "*"
)

// knownScopes are the scopes a token may name.
var knownScopes = []string{ScopePluginsRead, ScopePluginsWrite, ScopeStatusRead, ScopeConsumersWrite,
	ScopeTopicsRead, ScopeTopicsWrite, ScopeGroupsRead, ScopeGroupsWrite, ScopeMetricsRead, ScopeAll}

// AdminConfig is the [admin] section: the admin API (plugin upload and lifecycle, status),
// on a listener of its own. It serves only when at least one [[admin.token]] is
// configured: every request must carry one of the tokens.
type AdminConfig struct {
	// Listen is the admin API's address; nil (the key left out) takes DefaultAdminListen,
	// loopback only; "" turns the admin API off. Port 0 picks a free one
	// (Gateway.AdminAddr).
	Listen *string `toml:"listen"`
	// Tokens are the bearer tokens the admin API accepts, [[admin.token]].
	Tokens []AdminToken `toml:"token"`
}

// AdminToken is one [[admin.token]]: a bearer token and what it may do.
type AdminToken struct {
	// Name names the token in logs (never the token itself).
	Name string `toml:"name"`
	// Token is the secret, at least 16 bytes. Written "${NAME}" in the file, it is read
	// from the environment variable NAME.
	Token string `toml:"token"`
	// Scopes are what the token may do: "plugins:read", "plugins:write" (which includes
	// plugins:read), "status:read", or "*" for everything.
	Scopes []string `toml:"scopes"`

	pos string // "gateway.toml:40", set by Parse
}

// PluginsConfig is the [plugins] section: the sandbox plugins run in and the store that
// keeps uploaded plugins.
type PluginsConfig struct {
	// Dir is the plugin store: uploaded modules and the manifest of active versions, read
	// again at every start. Default DefaultPluginDir (relative to the working directory)
	// when the admin API serves; without the admin API and without Dir there is no store,
	// and only the [[plugin]]s of the file run.
	Dir string `toml:"dir"`
	// CacheDir holds wazero's compilation cache; default os.UserCacheDir()/mqgate/wazero,
	// "off" disables it.
	CacheDir string `toml:"cache_dir"`
	// MaxModuleSize bounds a module, from a file or uploaded; default 32 MiB.
	MaxModuleSize int `toml:"max_module_size"`
}

// PluginConfig is one [[plugin]]: a WebAssembly module (built against ../sdk) loaded into
// a slot at start. Plugins of a slot run in the order of the file, before any uploaded
// later (see the package documentation).
type PluginConfig struct {
	// Name identifies the plugin in the admin API, logs and errors: 1 to 64 of
	// [A-Za-z0-9._-]. Unique.
	Name string `toml:"name"`
	// File is the module, a path relative to the working directory or absolute.
	File string `toml:"file"`
	// Slot is the extension point: "allocate" (a queue-allocation strategy, which
	// consumers name), "send" (a send hook of the producer), "consume" (a consume hook)
	// or "rpc" (an RPC hook of the client instance). The module must be of that kind.
	Slot string `toml:"slot"`
	// Policy is what a failed call does: "fail" (the message, batch or request fails),
	// "skip" (go on as if the plugin were not there) or "fallback" (the built-in
	// strategy; for hooks the same as skip). Default: fallback for allocate, skip for
	// hooks.
	Policy string `toml:"policy"`
	// MemoryLimit bounds each instance's memory, in bytes; default 32 MiB.
	MemoryLimit int `toml:"memory_limit"`
	// StackLimit bounds each call's stack, in bytes as the host bounds frames; default 16
	// MiB, at most 32 MiB.
	StackLimit int `toml:"stack_limit"`
	// Deadline bounds each call; default 10ms for hooks, 100ms for allocate.
	Deadline time.Duration `toml:"deadline"`
	// Instances are created at start, GOMAXPROCS by default (at most MaxInstances); the
	// pool grows on demand up to MaxInstances (default 4 × Instances).
	Instances    int `toml:"instances"`
	MaxInstances int `toml:"max_instances"`
	// QuarantineAfter consecutive failures send the plugin's calls straight to the
	// policy until it is resumed (admin API), swapped or rolled back; default 5, a
	// negative value never quarantines.
	QuarantineAfter int `toml:"quarantine_after"`
	// Config is handed to the plugin at load, as a JSON object.
	Config map[string]any `toml:"config"`

	pos string // "gateway.toml:31", set by Parse
}

// where names a [[plugin]] or [[admin.token]] in errors: its file position when it came
// from a file.
func where(pos, section string, i int, name string) string {
	if pos != "" {
		return fmt.Sprintf("%s: %s %q", pos, section, name)
	}
	return fmt.Sprintf("%s #%d %q", section, i+1, name)
}

// validatePlugins applies the defaults of [admin], [plugins] and [[plugin]] and reports
// what cannot work.
func (c *Config) validatePlugins() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	a := &c.Admin
	if a.Listen == nil {
		a.Listen = ptr(DefaultAdminListen)
	}
	if *a.Listen != "" {
		if err := checkListen(*a.Listen); err != nil {
			errs = append(errs, badSetting("admin.listen", "[admin] listen: %v", err))
		}
	}
	names, secrets := map[string]bool{}, map[string]bool{}
	for i := range a.Tokens {
		t := &a.Tokens[i]
		at := where(t.pos, "[[admin.token]]", i, t.Name)
		switch {
		case t.Name == "":
			bad("%s: name is empty", at)
		case names[t.Name]:
			bad("%s: a second token of that name", at)
		}
		names[t.Name] = true
		switch {
		case len(t.Token) < minTokenLength:
			bad("%s: token is %d bytes, under the %d required", at, len(t.Token), minTokenLength)
		case secrets[t.Token]:
			bad("%s: the same token as another [[admin.token]]", at)
		}
		secrets[t.Token] = true
		if len(t.Scopes) == 0 {
			bad("%s: no scopes (want some of %s)", at, strings.Join(knownScopes, ", "))
		}
		for _, s := range t.Scopes {
			if !slices.Contains(knownScopes, s) {
				bad("%s: unknown scope %q (want %s)", at, s, strings.Join(knownScopes, ", "))
			}
		}
	}

	p := &c.Plugins
	if p.MaxModuleSize == 0 {
		p.MaxModuleSize = DefaultMaxModuleSize
	} else if p.MaxModuleSize < 0 {
		errs = append(errs, badSetting("plugins.max_module_size", "[plugins] max_module_size: %d is negative", p.MaxModuleSize))
	}
	if p.Dir == "" && c.Admin.enabled() {
		p.Dir = DefaultPluginDir
	}

	seen := map[string]bool{}
	for i := range c.Plugin {
		pc := &c.Plugin[i]
		at := where(pc.pos, "[[plugin]]", i, pc.Name)
		if err := checkPluginName(pc.Name); err != nil {
			bad("%s: name: %v", at, err)
		} else if seen[pc.Name] {
			bad("%s: a second plugin of that name", at)
		}
		seen[pc.Name] = true
		if pc.File == "" {
			bad("%s: file is empty: want the path of a .wasm module", at)
		}
		if _, err := parseSlot(pc.Slot); err != nil {
			bad("%s: %v", at, err)
		}
		if pc.Policy != "" {
			if _, err := host.ParsePolicy(pc.Policy); err != nil {
				bad("%s: %v", at, err)
			}
		}
		if _, err := pc.settings(); err != nil {
			bad("%s: %v", at, err)
		}
	}
	return errs
}

// enabled reports whether the admin API serves: an address and at least one token.
func (a *AdminConfig) enabled() bool {
	return a.Listen != nil && *a.Listen != "" && len(a.Tokens) > 0
}

// checkPluginName refuses a name that could not be a URL path segment or a file name.
func checkPluginName(name string) error {
	if name == "" || len(name) > maxPluginName {
		return fmt.Errorf("%q: want 1 to %d characters", name, maxPluginName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: character %q is not one of [A-Za-z0-9._-]", name, c)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%q is not a name", name)
	}
	return nil
}

// parseSlot parses a slot name: "allocate", "send", "consume" or "rpc".
func parseSlot(s string) (host.Kind, error) {
	if s == "" {
		return 0, errors.New("slot is empty: want allocate, send, consume or rpc")
	}
	k, err := host.ParseKind(s)
	if err != nil {
		return 0, fmt.Errorf("slot %q: want allocate, send, consume or rpc", s)
	}
	return k, nil
}

// settings returns the plugin's settings as the registry and the store keep them.
func (pc *PluginConfig) settings() (pluginSettings, error) {
	s := pluginSettings{
		Policy:          pc.Policy,
		MemoryLimit:     pc.MemoryLimit,
		StackLimit:      pc.StackLimit,
		Deadline:        jsonDuration(pc.Deadline),
		Instances:       pc.Instances,
		MaxInstances:    pc.MaxInstances,
		QuarantineAfter: pc.QuarantineAfter,
	}
	if len(pc.Config) > 0 {
		b, err := json.Marshal(pc.Config)
		if err != nil {
			return s, fmt.Errorf("config: %v", err)
		}
		s.Config = string(b)
	}
	return s, s.check()
}
