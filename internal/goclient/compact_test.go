package goclient_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
)

// wireClient calls the broker's server in process and, like the wire,
// hands out a copy of each response; it records requests and responses.
type wireClient struct {
	v1.BrokerServiceClient
	srv   *server.Server
	reqs  []*v1.GetConnectionParamsRequest
	resps []*v1.GetConnectionParamsResponse
}

func (w *wireClient) GetConnectionParams(ctx context.Context, in *v1.GetConnectionParamsRequest, _ ...grpc.CallOption) (*v1.GetConnectionParamsResponse, error) {
	r, err := w.srv.GetConnectionParams(ctx, in)
	if err != nil {
		return nil, err
	}
	w.reqs = append(w.reqs, proto.Clone(in).(*v1.GetConnectionParamsRequest))
	w.resps = append(w.resps, proto.Clone(r).(*v1.GetConnectionParamsResponse))
	return proto.Clone(r).(*v1.GetConnectionParamsResponse), nil
}

// TestConnectorCompactParams checks that the connector sends the digest of
// the CA bundle it holds and asks for no repeated options, and that the
// configuration from the compact repeat response equals the first one.
func TestConnectorCompactParams(t *testing.T) {
	dir := t.TempDir()
	caFile := testpki.NewCA(t, "database CA").WriteCA(t, dir, "db")
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("Compact-Pass-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("test", []byte(fmt.Sprintf("endpoints:\n  local:\n    host: db.internal.example\n    port: 3307\n    user: app\n    database: orders\n    auth: password\n    password: {file: %s}\n    tls: {mode: verify-identity, ca: %s}\n", pw, caFile)))
	if err != nil {
		t.Fatal(err)
	}
	w := &wireClient{srv: server.New(broker.New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil))}
	c := connbroker.Connector(w, "local").(configSource)
	ctx := context.Background()
	first, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pemBytes)
	if len(w.reqs[0].GetKnownCaSha256()) != 0 || string(w.reqs[1].GetKnownCaSha256()) != string(sum[:]) || !w.reqs[1].GetOmitParamOptions() {
		t.Errorf("requests: %v / %v", w.reqs[0], w.reqs[1])
	}
	if w.resps[0].GetParams().GetTls().GetCaPem() == "" || w.resps[1].GetParams().GetTls().GetCaPem() != "" {
		t.Errorf("the CA PEM was not sent exactly once")
	}
	if w.resps[1].GetParams().GetHints().GetParamOptions().GetUser() != "user" {
		t.Errorf("second response repeats user: %v", w.resps[1].GetParams().GetHints())
	}
	if first.User != "app" || second.User != first.User || second.DBName != "orders" || second.Addr != first.Addr || second.Passwd != first.Passwd ||
		second.TLS == nil || second.TLS.RootCAs == nil || !second.TLS.RootCAs.Equal(first.TLS.RootCAs) || second.TLS.ServerName != first.TLS.ServerName {
		t.Errorf("configs differ: first %+v, second %+v", first, second)
	}
}

// configSource is the connector's Config method (exported on the value
// connbroker.Connector returns): fetch params now, return the go-sql-driver
// configuration.
type configSource interface {
	Config(ctx context.Context) (*mysql.Config, error)
}
