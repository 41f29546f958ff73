package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "consumerOffset.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != content {
			t.Fatalf("content %q, want %q", got, content)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	onlyFile(t, dir, "consumerOffset.json")
}

func TestWriteFileAtomicFailureBeforeRenameKeepsTheOldContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "topics.json")
	if err := WriteFileAtomic(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	renameFile = func(string, string) error { return errors.New("crash before rename") }
	defer func() { renameFile = os.Rename }()
	if err := WriteFileAtomic(path, []byte("new")); err == nil {
		t.Fatal("no error")
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("content %q, want the old one", got)
	}
	onlyFile(t, dir, "topics.json")
}

func TestJSON(t *testing.T) {
	type offsets struct {
		OffsetTable map[string]map[int]int64 `json:"offsetTable"`
	}
	path := filepath.Join(t.TempDir(), "consumerOffset.json")
	var v offsets
	if found, err := LoadJSON(path, &v); found || err != nil {
		t.Fatalf("a missing file: found %v, %v", found, err)
	}
	want := offsets{OffsetTable: map[string]map[int]int64{"T@g": {0: 12, 3: 4}}}
	if err := SaveJSON(path, want); err != nil {
		t.Fatal(err)
	}
	if found, err := LoadJSON(path, &v); !found || err != nil || v.OffsetTable["T@g"][3] != 4 {
		t.Fatalf("found %v, %v, %+v", found, err, v)
	}
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := LoadJSON(path, &v); err == nil {
		t.Fatal("a corrupt file: no error")
	}
}

func onlyFile(tb testing.TB, dir, name string) {
	tb.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		tb.Fatalf("files %v, want only %s: no temporary file left", names, name)
	}
}
