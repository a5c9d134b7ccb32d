// Package safefile reads the small files the broker trusts (passwords, CA
// bundles) with bounds: a size cap, regular files only, and an open that
// cannot block (a FIFO or a device named as a secret gets a clear error
// instead of hanging start-up or exhausting memory).
//
// Symlinks are followed: Kubernetes mounts secrets and config maps as
// symlinks (NAME -> ..data/NAME -> ..2024_01_01/NAME), and refusing them
// would break the main deployment. What is checked is the file finally
// opened, through its descriptor (fstat), so the check and the read see the
// same file.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Size caps for the files the broker reads.
const (
	// MaxSecret bounds a password file.
	MaxSecret = 64 << 10
	// MaxCABundle bounds a PEM CA bundle (the RDS global bundle is about
	// 160 KiB).
	MaxCABundle = 4 << 20
)

// ErrNotRegular means the path is a FIFO, a device, a socket or a
// directory. Do not retry: point the config at a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge means the file is larger than the cap. Do not retry.
var ErrTooLarge = errors.New("file is too large")

// open opens path read-only without blocking (O_NONBLOCK, so a FIFO with
// no writer does not hang) and checks, on the open descriptor, that it is
// a regular file.
func open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a %s: %w", path, kind(fi.Mode()), ErrNotRegular)
	}
	return f, fi, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// Read returns the content of the regular file at path, at most limit
// bytes (ErrTooLarge beyond), and its FileInfo (taken from the descriptor
// read).
func Read(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, nil, fmt.Errorf("%s is %d bytes, more than %d: %w", path, fi.Size(), limit, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("%s is more than %d bytes: %w", path, limit, ErrTooLarge)
	}
	return b, fi, nil
}

// Check opens path as Read would and reports its FileInfo without reading
// it; it returns Read's errors for a file that is not regular or larger
// than limit.
func Check(path string, limit int64) (fs.FileInfo, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than %d: %w", path, fi.Size(), limit, ErrTooLarge)
	}
	return fi, nil
}

// ExposedTo says who besides the owner may read a file of mode m: "group",
// "others", "group and others", or "" when only the owner may.
func ExposedTo(m fs.FileMode) string {
	switch p := m.Perm(); {
	case p&0o044 == 0o044:
		return "group and others"
	case p&0o040 != 0:
		return "group"
	case p&0o004 != 0:
		return "others"
	}
	return ""
}
