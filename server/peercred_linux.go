package server

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"google.golang.org/grpc/credentials"
)

func peerCredOf(uc *net.UnixConn) (PeerCredInfo, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return PeerCredInfo{}, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return PeerCredInfo{}, fmt.Errorf("read peer credentials: %w", err)
	}
	if credErr != nil {
		return PeerCredInfo{}, fmt.Errorf("read peer credentials: %w", credErr)
	}
	if cred == nil {
		return PeerCredInfo{}, errors.New("read peer credentials: none")
	}
	return PeerCredInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		UID:            cred.Uid, GID: cred.Gid, PID: cred.Pid,
	}, nil
}
