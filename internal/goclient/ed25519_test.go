package goclient_test

import (
	"context"
	"encoding/binary"
	"errors"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/hints"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// fakeBroker is the seam's fake: it answers GetConnectionParams with fixed
// params (the other methods are not called).
type fakeBroker struct {
	v1.BrokerServiceClient
	params *v1.ConnectionParams
}

func (f fakeBroker) GetConnectionParams(context.Context, *v1.GetConnectionParamsRequest, ...grpc.CallOption) (*v1.GetConnectionParamsResponse, error) {
	return &v1.GetConnectionParamsResponse{Params: f.params}, nil
}

func writePacket(c net.Conn, seq byte, body []byte) error {
	hdr := []byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), seq}
	_, err := c.Write(append(hdr, body...))
	return err
}

func readPacket(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	body := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	_, err := io.ReadFull(c, body)
	return body, err
}

// ed25519Server speaks just enough of MariaDB's handshake
// (https://mariadb.com/kb/en/connection/): a v10 greeting announcing
// mysql_native_password, an AuthSwitchRequest to client_ed25519 with a
// 32-byte nonce (no terminator, as MariaDB sends it), then OK for any
// 64-byte signature. The first connection's nonce ends in a zero byte.
func ed25519Server(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				caps := uint32(0x1 | 0x200 | 0x8000 | 0x80000) // LONG_PASSWORD, PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH
				g := []byte{10}
				g = append(g, "10.11.0-MariaDB\x00"...)
				g = binary.LittleEndian.AppendUint32(g, uint32(n))
				g = append(g, "abcdefgh"...) // auth-plugin-data part 1
				g = append(g, 0)
				g = binary.LittleEndian.AppendUint16(g, uint16(caps))
				g = append(g, 45)                          // utf8mb4
				g = binary.LittleEndian.AppendUint16(g, 2) // autocommit
				g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
				g = append(g, 21)
				g = append(g, make([]byte, 10)...)
				g = append(g, "ijklmnopqrst\x00"...) // part 2
				g = append(g, "mysql_native_password\x00"...)
				if writePacket(c, 0, g) != nil {
					return
				}
				if _, err := readPacket(c); err != nil { // handshake response
					return
				}
				nonce := make([]byte, 32)
				for i := range nonce {
					nonce[i] = byte(i + 1)
				}
				if n == 1 {
					nonce[31] = 0
				}
				if writePacket(c, 2, append([]byte("\xfeclient_ed25519\x00"), nonce...)) != nil {
					return
				}
				sig, err := readPacket(c)
				if err != nil || len(sig) != 64 {
					return
				}
				_ = writePacket(c, 4, []byte{0, 0, 0, 2, 0, 0, 0})
				_, _ = readPacket(c) // COM_QUIT
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// TestEd25519TrailingZeroNonceIsRetried pins go-sql-driver's behaviour (a
// nonce ending in a zero byte gives ErrMalformPkt) and that Connector tries
// a second connection, which gets a new nonce.
func TestEd25519TrailingZeroNonceIsRetried(t *testing.T) {
	addr, conns := ed25519Server(t)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	p := params(t, hints.Input{Host: host, Port: port, User: "app", Plugin: hints.PluginEd25519, TLSMode: config.TLSDisabled}, "")
	p.Resolution = &v1.Resolution{Plugin: hints.PluginEd25519}

	// The driver alone fails on the first connection.
	cfg, err := connbroker.ConfigFromParams(p)
	if err != nil {
		t.Fatal(err)
	}
	mc, _ := mysql.NewConnector(cfg)
	if _, err := mc.Connect(context.Background()); !errors.Is(err, mysql.ErrMalformPkt) {
		t.Fatalf("go-sql-driver with a nonce ending in 0x00: err = %v, want ErrMalformPkt (if fixed, drop the retry and the hint's warning)", err)
	}

	conns.Store(0) // the next connection is again "the first": its nonce ends in 0x00
	conn, err := connbroker.Connector(fakeBroker{params: p}, "e").Connect(context.Background())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	conn.Close()
	if got := conns.Load(); got != 2 {
		t.Errorf("connections = %d, want 2 (one failed, one retried)", got)
	}
}
