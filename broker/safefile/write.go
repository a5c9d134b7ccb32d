package safefile

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic replaces the file at path with data and mode perm, so that a
// reader sees the old content or the new one, never part of either: the
// data goes to a temporary file in the same directory (created with perm,
// never wider), which is fsynced and renamed over path; the directory is
// then fsynced so the rename survives a crash. On error nothing is left
// behind and the old file, if any, is untouched. Symlinks at path are
// replaced, not followed (Kubernetes' projected files are not written
// through this).
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := bytes.NewReader(data).WriteTo(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		// Best effort: some file systems cannot fsync a directory.
		d.Sync()
		d.Close()
	}
	return nil
}

// CheckWritableDir reports whether files can be created in dir, by
// creating and removing a temporary one; the error says why not (no such
// directory, not a directory, permission, read-only file system).
func CheckWritableDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".connbroker-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
