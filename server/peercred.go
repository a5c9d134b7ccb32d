package server

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// PeerCredInfo is the AuthInfo of a Unix socket connection: the peer
// process's credentials as the kernel reports them (SO_PEERCRED).
type PeerCredInfo struct {
	credentials.CommonAuthInfo
	// UID, GID and PID are the peer's user, group and process ids.
	UID, GID uint32
	PID      int32
}

// AuthType implements credentials.AuthInfo.
func (PeerCredInfo) AuthType() string { return "peercred" }

// WithPeerCred wraps the TCP transport credentials (nil means plaintext)
// so that connections from a Unix socket listener are identified by
// SO_PEERCRED instead, on the same grpc.Server.
func WithPeerCred(tcp credentials.TransportCredentials) credentials.TransportCredentials {
	if tcp == nil {
		tcp = insecure.NewCredentials()
	}
	return &peerCred{tcp: tcp}
}

type peerCred struct {
	tcp credentials.TransportCredentials
}

func (p *peerCred) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return p.tcp.ServerHandshake(conn)
	}
	info, err := peerCredOf(uc)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, info, nil
}

func (p *peerCred) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return p.tcp.ClientHandshake(ctx, authority, conn)
}

func (p *peerCred) Info() credentials.ProtocolInfo { return p.tcp.Info() }

func (p *peerCred) Clone() credentials.TransportCredentials {
	return &peerCred{tcp: p.tcp.Clone()}
}

//nolint:staticcheck // required by the interface
func (p *peerCred) OverrideServerName(name string) error { return p.tcp.OverrideServerName(name) }
