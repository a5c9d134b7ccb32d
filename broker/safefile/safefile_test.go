package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	b, fi, err := Read(ok, 7)
	if err != nil || string(b) != "secret\n" || fi.Size() != 7 {
		t.Fatalf("Read(ok) = %q, %v, %v", b, fi, err)
	}
	if _, _, err := Read(ok, 6); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read over the cap: %v, want ErrTooLarge", err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null", dir} {
		if _, _, err := Read(p, MaxSecret); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Read(%s): %v, want ErrNotRegular", p, err)
		}
		if _, err := Check(p, MaxSecret); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Check(%s): %v, want ErrNotRegular", p, err)
		}
	}
	if _, _, err := Read(filepath.Join(dir, "missing"), 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read(missing): %v", err)
	}
}

func TestExposedTo(t *testing.T) {
	for m, want := range map[os.FileMode]string{0o400: "", 0o600: "", 0o700: "", 0o640: "group", 0o604: "others", 0o644: "group and others", 0o666: "group and others"} {
		if got := ExposedTo(m); got != want {
			t.Errorf("ExposedTo(%o) = %q, want %q", m, got, want)
		}
	}
}
