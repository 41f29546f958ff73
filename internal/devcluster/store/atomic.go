package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// renameFile is os.Rename; tests make it fail.
var renameFile = os.Rename

// WriteFileAtomic replaces the file at path with data so that a crash leaves either the
// old content or the new, never a mix: it writes a temporary file in the same directory,
// fsyncs it, renames it over path and fsyncs the directory. On error the temporary file is
// removed and path is untouched. Concurrent writers of one path must be serialized by
// the caller (the last rename wins).
func WriteFileAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("store: writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = renameFile(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: writing %s: %w", path, err)
	}
	return syncDir(dir)
}

// SaveJSON writes v as indented JSON to path with WriteFileAtomic.
func SaveJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encoding %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// LoadJSON decodes the JSON file at path into v. A missing file is not an error: it
// returns false and leaves v as it is, the broker's first start.
func LoadJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: reading %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("store: decoding %s: %w", path, err)
	}
	return true, nil
}
