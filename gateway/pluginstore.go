package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mqgate/mqgate/host"
)

// pluginStore keeps uploaded plugins durably, in a directory:
//
//	modules/<sha256>.wasm   the modules, each named by the SHA-256 of its bytes
//	manifest.json           per plugin: its slot, versions, active and previous version
//	.lock                   locked (flock) while a gateway uses the store
//
// Every file is written to a temporary name, fsynced, renamed over its final name, and
// the directory fsynced: a reader (the next start) sees the old file or the new one,
// whole. A change stores its module first and the manifest second, so a crash between
// the two leaves the previous manifest in force and an unreferenced module, which the
// next start removes with any temporary file. The modules a change leaves unreferenced
// (a version dropped, a plugin deleted) are removed once its manifest is written.
type pluginStore struct {
	dir  string
	lock *os.File
	man  manifest // as on disk

	cmu sync.Mutex // consumers.json: one update at a time (consumerstore.go)

	// failpoint, set by tests, is called before a file's rename ("module", "manifest",
	// "consumers"): an error aborts the write as a crash would, leaving the temporary file
	// behind. It is called again before the directory's fsync, with " dirsync" appended to
	// the stage: an error stands for the fsync's.
	failpoint func(stage string) error
}

// manifestFormat is the manifest's format version.
const manifestFormat = 1

// maxVersions is how many versions of a plugin the store keeps: the oldest beyond it,
// unless active or previous, are dropped (their modules removed after the manifest).
const maxVersions = 10

const (
	manifestName = "manifest.json"
	modulesDir   = "modules"
	lockName     = ".lock"
	tmpSuffix    = ".tmp"
)

// manifest is manifest.json.
type manifest struct {
	Format  int                      `json:"format"`
	Plugins map[string]*storedPlugin `json:"plugins"`
}

// storedPlugin is one plugin of the store.
type storedPlugin struct {
	Slot string `json:"slot"`
	// Order places the plugin among the uploaded ones of its slot: the order of their
	// first upload.
	Order    int64           `json:"order"`
	Active   int             `json:"active"`
	Previous int             `json:"previous,omitempty"`
	Next     int             `json:"next"` // the number of the next version
	Versions []storedVersion `json:"versions"`
}

// storedVersion is one version of a plugin: a module and the settings it runs with.
type storedVersion struct {
	Version    int       `json:"version"`
	SHA256     string    `json:"sha256"`
	Size       int       `json:"size"`
	UploadedAt time.Time `json:"uploaded_at"`
	// Source is "upload", or the file of the [[plugin]] the version was taken from.
	Source   string         `json:"source"`
	Settings pluginSettings `json:"settings"`
}

// pluginSettings are a plugin version's policy, limits and configuration; zero values
// take the host's defaults.
type pluginSettings struct {
	Policy          string       `json:"policy,omitempty"`
	MemoryLimit     int          `json:"memory_limit,omitempty"`
	StackLimit      int          `json:"stack_limit,omitempty"`
	Deadline        jsonDuration `json:"deadline,omitempty"`
	Instances       int          `json:"instances,omitempty"`
	MaxInstances    int          `json:"max_instances,omitempty"`
	QuarantineAfter int          `json:"quarantine_after,omitempty"`
	// Config is handed to the plugin at load, as it is (by convention a JSON object).
	Config string `json:"config,omitempty"`
}

// jsonDuration is a duration written as Go writes it, "10ms".
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = jsonDuration(v)
	return nil
}

// check reports a setting the host would refuse, naming it as the file and the API do.
func (s *pluginSettings) check() error {
	if s.Policy != "" {
		if _, err := host.ParsePolicy(s.Policy); err != nil {
			return err
		}
	}
	switch {
	case s.MemoryLimit < 0:
		return fmt.Errorf("memory_limit: %d is negative", s.MemoryLimit)
	case s.MemoryLimit > 0 && s.MemoryLimit < 64<<10:
		return fmt.Errorf("memory_limit: %d is under one 64 KiB page", s.MemoryLimit)
	case s.StackLimit < 0:
		return fmt.Errorf("stack_limit: %d is negative", s.StackLimit)
	case s.StackLimit > host.MaxStackLimit:
		return fmt.Errorf("stack_limit: %d is over the %d MiB the host allows", s.StackLimit, host.MaxStackLimit>>20)
	case s.Deadline < 0:
		return fmt.Errorf("deadline: %v is negative", time.Duration(s.Deadline))
	case s.Instances < 0:
		return fmt.Errorf("instances: %d is negative", s.Instances)
	case s.MaxInstances < 0:
		return fmt.Errorf("max_instances: %d is negative", s.MaxInstances)
	case s.MaxInstances > 0 && s.MaxInstances < s.Instances:
		return fmt.Errorf("max_instances: %d is under instances (%d)", s.MaxInstances, s.Instances)
	}
	return nil
}

// hostConfig is the host's configuration of a plugin of these settings.
func (s *pluginSettings) hostConfig(name string, slot host.Kind) host.PluginConfig {
	policy, _ := host.ParsePolicy(s.Policy) // checked; "" is the default
	return host.PluginConfig{
		Name:            name,
		Kind:            slot,
		Config:          []byte(s.Config),
		MemoryLimit:     s.MemoryLimit,
		StackLimit:      s.StackLimit,
		Deadline:        time.Duration(s.Deadline),
		Instances:       s.Instances,
		MaxInstances:    s.MaxInstances,
		Policy:          policy,
		QuarantineAfter: s.QuarantineAfter,
	}
}

// openStore opens (creating it if need be) the store in dir, locks it, reads its
// manifest and removes what a crash or a dropped version left: temporary files and
// modules no version names. It returns the names of the files removed.
func openStore(dir string) (*pluginStore, []string, error) {
	if err := os.MkdirAll(filepath.Join(dir, modulesDir), 0o700); err != nil {
		return nil, nil, fmt.Errorf("plugin store: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin store: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("plugin store %s is in use by another gateway", dir)
		}
		return nil, nil, fmt.Errorf("plugin store %s: lock: %w", dir, err)
	}
	s := &pluginStore{dir: dir, lock: lock}
	if err := s.readManifest(); err != nil {
		s.close()
		return nil, nil, err
	}
	removed, err := s.collectGarbage(true)
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, removed, nil
}

func (s *pluginStore) close() {
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
		s.lock = nil
	}
}

func (s *pluginStore) manifestPath() string { return filepath.Join(s.dir, manifestName) }

func (s *pluginStore) modulePath(sha string) string {
	return filepath.Join(s.dir, modulesDir, sha+".wasm")
}

// readManifest reads manifest.json (none: an empty store) and checks what the registry
// relies on.
func (s *pluginStore) readManifest() error {
	path := s.manifestPath()
	s.man = manifest{Format: manifestFormat, Plugins: map[string]*storedPlugin{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("plugin store: %s: %w", path, err)
	}
	if m.Format != manifestFormat {
		return fmt.Errorf("plugin store: %s: format %d, this gateway reads format %d", path, m.Format, manifestFormat)
	}
	if m.Plugins == nil {
		m.Plugins = map[string]*storedPlugin{}
	}
	for name, p := range m.Plugins {
		if err := p.check(name); err != nil {
			return fmt.Errorf("plugin store: %s: %w", path, err)
		}
	}
	s.man = m
	return nil
}

// check reports an inconsistency of a stored plugin.
func (p *storedPlugin) check(name string) error {
	if err := checkPluginName(name); err != nil {
		return fmt.Errorf("plugin name %v", err)
	}
	if _, err := parseSlot(p.Slot); err != nil {
		return fmt.Errorf("plugin %q: %v", name, err)
	}
	if p.version(p.Active) == nil {
		return fmt.Errorf("plugin %q: active version %d is not among its versions", name, p.Active)
	}
	if p.Previous != 0 && p.version(p.Previous) == nil {
		return fmt.Errorf("plugin %q: previous version %d is not among its versions", name, p.Previous)
	}
	for _, v := range p.Versions {
		if len(v.SHA256) != sha256.Size*2 || strings.Trim(v.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("plugin %q: version %d: %q is not a SHA-256", name, v.Version, v.SHA256)
		}
		if err := v.Settings.check(); err != nil {
			return fmt.Errorf("plugin %q: version %d: %v", name, v.Version, err)
		}
		if v.Version >= p.Next {
			return fmt.Errorf("plugin %q: version %d is not under next (%d)", name, v.Version, p.Next)
		}
	}
	return nil
}

// version returns version n, nil when there is none.
func (p *storedPlugin) version(n int) *storedVersion {
	for i := range p.Versions {
		if p.Versions[i].Version == n {
			return &p.Versions[i]
		}
	}
	return nil
}

// collectGarbage removes the modules no version names and, with temps (at start), the
// temporary files a crash left; later a write under way may own one (consumers.json's
// are written under their own lock).
func (s *pluginStore) collectGarbage(temps bool) ([]string, error) {
	keep := map[string]bool{}
	for _, p := range s.man.Plugins {
		for _, v := range p.Versions {
			keep[v.SHA256+".wasm"] = true
		}
	}
	dirs := []string{filepath.Join(s.dir, modulesDir)}
	if temps {
		dirs = append(dirs, s.dir)
	}
	var removed []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return removed, fmt.Errorf("plugin store: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			garbage := temps && strings.HasSuffix(name, tmpSuffix) ||
				d != s.dir && strings.HasSuffix(name, ".wasm") && !keep[name]
			if !garbage || e.IsDir() {
				continue
			}
			path := filepath.Join(d, name)
			if err := os.Remove(path); err != nil {
				return removed, fmt.Errorf("plugin store: %w", err)
			}
			removed = append(removed, path)
		}
	}
	if len(removed) > 0 {
		if err := syncDir(filepath.Join(s.dir, modulesDir)); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// moduleDigest is the hex SHA-256 a module is stored under.
func moduleDigest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// putModule stores wasm under its digest, unless it is there already, and returns the
// digest.
func (s *pluginStore) putModule(wasm []byte) (string, error) {
	sha := moduleDigest(wasm)
	path := s.modulePath(sha)
	if fi, err := os.Stat(path); err == nil && fi.Size() == int64(len(wasm)) {
		// Content-addressed: the same bytes. They may be those of an earlier try whose
		// directory fsync failed: the manifest is to name them only once their name is
		// durable, so the directory is synced again.
		if err := s.syncDir(filepath.Dir(path), "module"); err != nil {
			return "", fmt.Errorf("plugin store: module %s: %w", sha, err)
		}
		return sha, nil
	}
	if err := s.writeAtomic(path, wasm, "module"); err != nil {
		return "", err
	}
	return sha, nil
}

// readModule reads the module of digest sha and checks it is what was stored.
func (s *pluginStore) readModule(sha string) ([]byte, error) {
	path := s.modulePath(sha)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("%s: the content does not match its SHA-256 (the file is damaged)", path)
	}
	return b, nil
}

// commit writes m as the manifest. On success, and on an *unsyncedError (renamed into
// place, the directory not synced), m is the store's: the next start reads it, and the
// next change must be made from it, not from the manifest it replaced.
func (s *pluginStore) commit(m manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	err = s.writeAtomic(s.manifestPath(), append(b, '\n'), "manifest")
	var ue *unsyncedError
	if err != nil && !errors.As(err, &ue) {
		return err
	}
	s.man = m
	return err
}

// unsyncedError is a write renamed into place whose directory's fsync failed: readers, the
// next start among them, see the new file, yet a power loss (not a crash of the gateway)
// may bring the old one back. Any other error of a write leaves the old file in place.
type unsyncedError struct {
	path string // the file written
	err  error  // the directory's fsync
}

func (e *unsyncedError) Error() string {
	return fmt.Sprintf("plugin store: %s written, but fsync of its directory failed, it may not survive a power loss: %v", e.path, e.err)
}

func (e *unsyncedError) Unwrap() error { return e.err }

// logUnsynced reports whether err is an *unsyncedError, which it logs as an error: the
// caller takes the change as made. A write renamed into place cannot be taken back: the
// old file is gone, and writing it again would rename over it once more, the same
// directory to sync, which just failed. So the change stands; only its durability is
// uncertain, which is what the log says.
func logUnsynced(log *slog.Logger, err error) bool {
	var ue *unsyncedError
	if !errors.As(err, &ue) {
		return false
	}
	log.Error("gateway: plugin store: a change is made, but fsync of its directory failed: it may not survive a power loss",
		"file", ue.path, "dir", filepath.Dir(ue.path), "err", ue.err)
	return true
}

// writeAtomic writes data to path through a temporary file, fsynced and renamed, then
// fsyncs the directory. An error of that fsync, the rename made, is an *unsyncedError.
func (s *pluginStore) writeAtomic(path string, data []byte, stage string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("plugin store: writing %s: %w", path, err)
	}
	if s.failpoint != nil {
		if err := s.failpoint(stage); err != nil {
			return fmt.Errorf("plugin store: writing %s: %w", path, err) // the temporary file stays, as after a crash
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("plugin store: %w", err)
	}
	if err := s.syncDir(dir, stage); err != nil {
		return &unsyncedError{path: path, err: err}
	}
	return nil
}

// syncDir fsyncs dir, after a write of stage, unless the failpoint fails it.
func (s *pluginStore) syncDir(dir, stage string) error {
	if s.failpoint != nil {
		if err := s.failpoint(stage + " dirsync"); err != nil {
			return fmt.Errorf("plugin store: fsync %s: %w", dir, err)
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("plugin store: fsync %s: %w", dir, err)
	}
	return nil
}

// clone returns a deep copy of m, to change and commit.
func (m manifest) clone() manifest {
	c := manifest{Format: m.Format, Plugins: make(map[string]*storedPlugin, len(m.Plugins))}
	for name, p := range m.Plugins {
		cp := *p
		cp.Versions = slices.Clone(p.Versions)
		c.Plugins[name] = &cp
	}
	return c
}

// names returns the plugins of m in their order.
func (m manifest) names() []string {
	names := slices.Collect(maps.Keys(m.Plugins))
	slices.SortFunc(names, func(a, b string) int {
		if d := m.Plugins[a].Order - m.Plugins[b].Order; d != 0 {
			if d < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// nextOrder is the order of a plugin new to m.
func (m manifest) nextOrder() int64 {
	var n int64
	for _, p := range m.Plugins {
		n = max(n, p.Order)
	}
	return n + 1
}

// addVersion adds a version to p and makes it active (the active one becomes the
// previous), dropping the oldest versions beyond maxVersions. It returns the version's
// number. A version of the same module and settings as one p has is not added again: that
// one is activated.
func (p *storedPlugin) addVersion(v storedVersion) int {
	for _, old := range p.Versions {
		if old.SHA256 == v.SHA256 && old.Settings == v.Settings {
			p.activate(old.Version)
			return old.Version
		}
	}
	if p.Next == 0 {
		p.Next = 1
	}
	v.Version = p.Next
	p.Next++
	p.Versions = append(p.Versions, v)
	p.activate(v.Version)
	for len(p.Versions) > maxVersions {
		i := slices.IndexFunc(p.Versions, func(x storedVersion) bool {
			return x.Version != p.Active && x.Version != p.Previous
		})
		p.Versions = slices.Delete(p.Versions, i, i+1)
	}
	return v.Version
}

// activate makes version n active and the active one the previous.
func (p *storedPlugin) activate(n int) {
	if n == p.Active {
		return
	}
	if p.Active != 0 {
		p.Previous = p.Active
	}
	p.Active = n
}
