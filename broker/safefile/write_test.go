package safefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWriteAtomic: the file gets the content and mode 0600 (even over a
// 0644 file), no temporary file is left, and a reader looping during many
// rewrites only ever sees one complete version or the other.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("old"), 0o644)
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 128<<10)
	if err := WriteAtomic(path, a, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != int64(len(a)) {
		t.Fatalf("after write: %v, %v", fi, err)
	}
	var stop atomic.Bool
	var reads, torn atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			got, err := os.ReadFile(path)
			if err != nil {
				torn.Add(1)
				continue
			}
			reads.Add(1)
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				torn.Add(1)
			}
		}
	}()
	for i := range 300 {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := WriteAtomic(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 || reads.Load() == 0 {
		t.Errorf("%d reads, %d saw a partial or missing file", reads.Load(), torn.Load())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), a, 0o600); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestCheckWritableDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := CheckWritableDir(dir); err != nil {
		t.Errorf("temp dir: %v", err)
	}
	for _, d := range []string{file, filepath.Join(dir, "missing"), "/proc/self"} {
		if err := CheckWritableDir(d); err == nil {
			t.Errorf("%s: no error", d)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}
