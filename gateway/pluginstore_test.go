package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// storeFiles lists what a store directory holds, with each file's contents.
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == lockName {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustOpenStore(t *testing.T, dir string) (*pluginStore, []string) {
	t.Helper()
	s, removed, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s, removed
}

// storeVersion stores wasm as a new version of name and commits the manifest.
func storeVersion(t *testing.T, s *pluginStore, name string, wasm []byte, st pluginSettings) (int, error) {
	t.Helper()
	m := s.man.clone()
	sp := m.Plugins[name]
	if sp == nil {
		sp = &storedPlugin{Slot: "send", Order: m.nextOrder()}
		m.Plugins[name] = sp
	}
	sha, err := s.putModule(wasm)
	if err != nil {
		return 0, err
	}
	n := sp.addVersion(storedVersion{SHA256: sha, Size: len(wasm), UploadedAt: time.Now().UTC(), Source: "upload", Settings: st})
	return n, s.commit(m)
}

func TestStoreKeepsVersionsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpenStore(t, dir)
	if _, _, err := openStore(dir); err == nil || !strings.Contains(err.Error(), "in use by another gateway") {
		t.Fatalf("a second open of a store in use: %v", err)
	}
	v1, _ := storeVersion(t, s, "enrich", []byte("\x00asm one"), pluginSettings{Policy: "fail", Deadline: jsonDuration(5 * time.Millisecond)})
	v2, _ := storeVersion(t, s, "enrich", []byte("\x00asm two"), pluginSettings{Config: `{"a":1}`})
	if v1 != 1 || v2 != 2 {
		t.Fatalf("versions %d, %d", v1, v2)
	}
	if n, _ := storeVersion(t, s, "enrich", []byte("\x00asm one"), pluginSettings{Policy: "fail", Deadline: jsonDuration(5 * time.Millisecond)}); n != 1 {
		t.Fatalf("the same module and settings again: version %d, want 1 activated again", n)
	}
	storeVersion(t, s, "other", []byte("\x00asm three"), pluginSettings{})
	want := s.man.clone()
	s.close()

	s2, removed := mustOpenStore(t, dir)
	if len(removed) != 0 {
		t.Errorf("removed %v from a clean store", removed)
	}
	sp := s2.man.Plugins["enrich"]
	if sp.Active != 1 || sp.Previous != 2 || len(sp.Versions) != 2 || sp.Next != 3 {
		t.Fatalf("enrich after reopen: %+v", sp)
	}
	if got := sp.version(1).Settings; got != want.Plugins["enrich"].version(1).Settings {
		t.Errorf("settings %+v", got)
	}
	if names := s2.man.names(); !slices.Equal(names, []string{"enrich", "other"}) {
		t.Errorf("order %v", names)
	}
	b, err := s2.readModule(sp.version(2).SHA256)
	if err != nil || string(b) != "\x00asm two" {
		t.Fatalf("module: %q %v", b, err)
	}
	// A damaged module is detected, not run.
	path := s2.modulePath(sp.version(2).SHA256)
	if err := os.WriteFile(path, []byte("\x00asm tw0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.readModule(sp.version(2).SHA256); err == nil || !strings.Contains(err.Error(), "does not match its SHA-256") {
		t.Fatalf("damaged module: %v", err)
	}
}

func TestStoreDropsOldVersions(t *testing.T) {
	s, _ := mustOpenStore(t, t.TempDir())
	for i := range maxVersions + 5 {
		if _, err := storeVersion(t, s, "p", []byte{0, 'a', 's', 'm', byte(i)}, pluginSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	sp := s.man.Plugins["p"]
	if len(sp.Versions) != maxVersions || sp.Active != maxVersions+5 || sp.Previous != maxVersions+4 || sp.Versions[0].Version != 6 {
		t.Fatalf("%d versions, active %d, previous %d, oldest %d", len(sp.Versions), sp.Active, sp.Previous, sp.Versions[0].Version)
	}
	s.close()
	_, removed := mustOpenStore(t, s.dir)
	if len(removed) != 5 {
		t.Fatalf("removed %v, want the 5 dropped modules", removed)
	}
}

// TestStoreCrashBeforeManifestKeepsThePreviousState: the module of a new version is
// stored, then the manifest's write fails before its rename (as a crash would leave it):
// the store still says what it said, and the next open removes the leftovers.
func TestStoreCrashBeforeManifestKeepsThePreviousState(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpenStore(t, dir)
	if _, err := storeVersion(t, s, "p", []byte("\x00asm v1"), pluginSettings{}); err != nil {
		t.Fatal(err)
	}
	before := storeFiles(t, dir)
	crash := errors.New("crash")
	s.failpoint = func(stage string) error {
		if stage == "manifest" {
			return crash
		}
		return nil
	}
	if _, err := storeVersion(t, s, "p", []byte("\x00asm v2"), pluginSettings{}); !errors.Is(err, crash) {
		t.Fatalf("commit: %v", err)
	}
	if sp := s.man.Plugins["p"]; sp.Active != 1 || len(sp.Versions) != 1 {
		t.Fatalf("the store's manifest changed in memory: %+v", sp)
	}
	after := storeFiles(t, dir)
	if after[manifestName] != before[manifestName] || len(after) != len(before)+2 {
		t.Fatalf("after the crash: %v", keys(after))
	}
	s.close()

	s, removed := mustOpenStore(t, dir)
	if len(removed) != 2 {
		t.Errorf("removed %v, want the new module and the manifest's temporary file", removed)
	}
	if got := storeFiles(t, dir); len(got) != len(before) || got[manifestName] != before[manifestName] {
		t.Fatalf("after reopening: %v", keys(got))
	}
	if sp := s.man.Plugins["p"]; sp.Active != 1 || sp.Next != 2 {
		t.Fatalf("reopened: %+v", sp)
	}
}

// TestStoreTellsNotWrittenFromNotSynced: a manifest's write failing before its rename
// leaves the store as it was; its directory's fsync failing after the rename is an
// *unsyncedError, and the manifest written is the store's, as the next open reads it.
func TestStoreTellsNotWrittenFromNotSynced(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpenStore(t, dir)
	if _, err := storeVersion(t, s, "p", []byte("\x00asm v1"), pluginSettings{}); err != nil {
		t.Fatal(err)
	}
	fault := errors.New("input/output error")
	for _, tt := range []struct {
		stage    string
		unsynced bool
		active   int // in memory and on disk after the write
	}{
		{"manifest", false, 1},
		{"manifest dirsync", true, 2},
	} {
		s.failpoint = func(stage string) error {
			if stage == tt.stage {
				return fault
			}
			return nil
		}
		_, err := storeVersion(t, s, "p", []byte("\x00asm v2"), pluginSettings{})
		var ue *unsyncedError
		if !errors.Is(err, fault) || errors.As(err, &ue) != tt.unsynced {
			t.Fatalf("%s failing: %v (%T), want an *unsyncedError: %v", tt.stage, err, err, tt.unsynced)
		}
		fresh := &pluginStore{dir: dir}
		if err := fresh.readManifest(); err != nil {
			t.Fatal(err)
		}
		if got, disk := s.man.Plugins["p"].Active, fresh.man.Plugins["p"].Active; got != tt.active || disk != tt.active {
			t.Fatalf("%s failing: active %d in memory, %d on disk, want %d", tt.stage, got, disk, tt.active)
		}
	}
}

func TestStoreRefusesABadManifest(t *testing.T) {
	for _, tt := range []struct{ name, manifest, want string }{
		{"not JSON", "{", "unexpected end of JSON input"},
		{"another format", `{"format": 2}`, "format 2, this gateway reads format 1"},
		{"active not a version", `{"format": 1, "plugins": {"p": {"slot": "send", "active": 3, "next": 4, "versions": []}}}`, `plugin "p": active version 3 is not among its versions`},
		{"unknown slot", `{"format": 1, "plugins": {"p": {"slot": "sned", "active": 1, "next": 2, "versions": []}}}`, `slot "sned"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, manifestName), []byte(tt.manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := openStore(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("open: %v, want %q", err, tt.want)
			}
			// The lock was released with the failure.
			mustOpenStore(t, t.TempDir())
		})
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
