package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"

	"github.com/connbroker/connbroker/broker/config"
)

// listenUnix listens on the configured socket, replacing a stale socket
// file (never any other kind of file), and sets its mode and group.
func listenUnix(u config.UnixListener) (net.Listener, error) {
	if fi, err := os.Lstat(u.Path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("unix.path %s exists and is not a socket; refusing to replace it", u.Path)
		}
		if err := os.Remove(u.Path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", u.Path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unix.path: %w", err)
	}
	mode, err := strconv.ParseUint(u.Mode, 8, 32)
	if err != nil {
		return nil, fmt.Errorf("unix.mode %q: %w", u.Mode, err)
	}
	// Bind beside the final path, set mode and group, then rename into
	// place: nobody can connect before the permissions are right.
	tmp := fmt.Sprintf("%s.%d.tmp", u.Path, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on unix socket %s: %w", tmp, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) { l.Close(); os.Remove(tmp); return nil, err }
	if u.Group != "" {
		g, err := user.LookupGroup(u.Group)
		if err != nil {
			return fail(fmt.Errorf("unix.group: %w", err))
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("unix.group: chown socket: %w", err))
		}
	}
	if err := os.Chmod(tmp, fs.FileMode(mode)); err != nil {
		return fail(fmt.Errorf("unix.mode: chmod socket: %w", err))
	}
	if err := os.Rename(tmp, u.Path); err != nil {
		return fail(fmt.Errorf("move socket into place: %w", err))
	}
	return l, nil
}
