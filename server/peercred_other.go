//go:build !linux

package server

import (
	"errors"
	"net"
)

// peerCredOf is Linux-only (SO_PEERCRED); elsewhere Unix socket callers
// are refused.
func peerCredOf(*net.UnixConn) (PeerCredInfo, error) {
	return PeerCredInfo{}, errors.New("read peer credentials: SO_PEERCRED is supported on Linux only")
}
