// Package testbroker runs a real broker (domain service + gRPC server) in
// process on a loopback TCP port, for tests of the CLI and end-to-end
// behaviour. IAM tokens are signed with a fixed static AWS key.
package testbroker

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testlog"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
)

// Static AWS test key the broker signs IAM tokens with.
const (
	AccessKeyID     = "AKIDCONNBROKERTEST01"
	SecretAccessKey = "connbroker-test-secret-access-key"
	Region          = "us-east-1"
)

// Logs is a goroutine-safe buffer holding everything the broker logged.
type Logs = testlog.Buffer

// Broker is a running in-process broker.
type Broker struct {
	// Addr is the loopback address it serves on.
	Addr string
	// Client is a connected API client.
	Client v1.BrokerServiceClient
	// Service is the domain service (to swap config).
	Service *broker.Service
	// Logs collects the broker's logs.
	Logs *Logs
	// UnixClient is a client over Options.UnixSocket; nil without one.
	UnixClient v1.BrokerServiceClient
}

// Start parses cfgYAML, serves it on 127.0.0.1:0 and stops in t.Cleanup.
func Start(t testing.TB, cfgYAML string) *Broker {
	t.Helper()
	b, stop, err := New(cfgYAML)
	if err != nil {
		t.Fatalf("testbroker: %v", err)
	}
	t.Cleanup(stop)
	return b
}

// New parses cfgYAML and serves it on 127.0.0.1:0; call stop when done.
func New(cfgYAML string) (b *Broker, stop func(), err error) {
	return NewWith(cfgYAML, Options{})
}

// Options are optional parts of a test broker.
type Options struct {
	// ServerTLS serves with TLS (and mTLS when it has ClientCAs); Client
	// then dials with ClientTLS.
	ServerTLS, ClientTLS *tls.Config
	// Audit receives the audit trail as JSON lines.
	Audit io.Writer
	// UnixSocket, when set, also serves on a Unix socket at that path,
	// where callers are identified by their uid ("uid:N", as connbrokerd's
	// unix listener does); UnixClient then dials it. The configuration
	// should have a unix: path so the policy applies.
	UnixSocket string
	// Inventory, when set, records client environments and serves
	// ListInventory.
	Inventory server.Inventory
	// Unary, when set, sees every unary call inside the broker's own
	// interceptors (tests record requests and responses with it).
	Unary grpc.UnaryServerInterceptor
}

// NewWith is New with options.
func NewWith(cfgYAML string, o Options) (b *Broker, stop func(), err error) {
	cfg, err := config.Parse("testbroker", []byte(cfgYAML))
	if err != nil {
		return nil, nil, err
	}
	logs := &Logs{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	issuer := &credential.Router{
		IAM:      credential.NewIAM(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""), append(credential.IAMOptionsFromConfig(cfg), credential.WithLogger(log))...),
		Password: credential.NewPasswords(nil),
	}
	svc := broker.New(cfg, issuer, log)
	var sopts []grpc.ServerOption
	clientCreds := insecure.NewCredentials()
	var serverCreds grpccreds.TransportCredentials
	if o.ServerTLS != nil {
		serverCreds = grpccreds.NewTLS(o.ServerTLS)
		clientCreds = grpccreds.NewTLS(o.ClientTLS)
	}
	if o.UnixSocket != "" {
		serverCreds = server.WithPeerCred(serverCreds)
	}
	if serverCreds != nil {
		sopts = append(sopts, grpc.Creds(serverCreds))
	}
	if o.Unary != nil {
		sopts = append(sopts, grpc.ChainUnaryInterceptor(o.Unary))
	}
	var audit *server.Auditor
	if o.Audit != nil {
		audit = server.NewAuditor(o.Audit, log)
	}
	gs, _ := server.NewGRPCServerWith(svc, log, server.Extras{Audit: audit, Inventory: o.Inventory}, sopts...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go gs.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	if err != nil {
		gs.Stop()
		return nil, nil, err
	}
	b = &Broker{Addr: lis.Addr().String(), Client: v1.NewBrokerServiceClient(conn), Service: svc, Logs: logs}
	closers := []func() error{conn.Close}
	if o.UnixSocket != "" {
		ulis, err := net.Listen("unix", o.UnixSocket)
		if err != nil {
			conn.Close()
			gs.Stop()
			return nil, nil, err
		}
		go gs.Serve(ulis)
		uconn, err := grpc.NewClient("unix://"+o.UnixSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			conn.Close()
			gs.Stop()
			return nil, nil, err
		}
		b.UnixClient = v1.NewBrokerServiceClient(uconn)
		closers = append(closers, uconn.Close)
	}
	stop = func() {
		for _, c := range closers {
			c()
		}
		gs.Stop()
	}
	return b, stop, nil
}
