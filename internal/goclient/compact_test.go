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
	// lie, when set, turns the next response into a view-omitted one for a
	// view the client never got (as after a broker restart, another one).
	lie bool
}

func (w *wireClient) GetConnectionParams(ctx context.Context, in *v1.GetConnectionParamsRequest, _ ...grpc.CallOption) (*v1.GetConnectionParamsResponse, error) {
	r, err := w.srv.GetConnectionParams(ctx, in)
	if err != nil {
		return nil, err
	}
	if w.lie {
		w.lie = false
		p := r.GetParams()
		r = &v1.GetConnectionParamsResponse{Params: &v1.ConnectionParams{Endpoint: p.GetEndpoint(), Credential: p.GetCredential(), ViewSha256: make([]byte, sha256.Size), ViewOmitted: true}}
	}
	w.reqs = append(w.reqs, proto.Clone(in).(*v1.GetConnectionParamsRequest))
	w.resps = append(w.resps, proto.Clone(r).(*v1.GetConnectionParamsResponse))
	return proto.Clone(r).(*v1.GetConnectionParamsResponse), nil
}

// TestConnectorCompactParams checks that the connector sends the digest of
// the CA bundle it holds and asks for no repeated options, then the digest
// of the view it holds and gets only the credential; that the
// configuration from each compact repeat response equals the first one;
// and that a response leaving out a view it does not hold makes it ask
// once more for the whole params.
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
	view := w.resps[0].GetParams().GetViewSha256()
	if len(view) != sha256.Size || string(w.reqs[1].GetKnownViewSha256()) != string(view) {
		t.Errorf("the second request does not name the view of the first response: %x / %x", w.reqs[1].GetKnownViewSha256(), view)
	}
	if rp := w.resps[1].GetParams(); !rp.GetViewOmitted() || rp.GetHints() != nil || rp.GetTls() != nil || rp.GetHost() != "" || rp.GetCredential().GetSecret() == "" {
		t.Errorf("second response is not credential-only: %v", rp)
	}
	same := func(name string, got *mysql.Config) {
		t.Helper()
		if first.User != "app" || got.User != first.User || got.DBName != "orders" || got.Addr != first.Addr || got.Passwd != first.Passwd ||
			got.TLS == nil || got.TLS.RootCAs == nil || !got.TLS.RootCAs.Equal(first.TLS.RootCAs) || got.TLS.ServerName != first.TLS.ServerName ||
			got.AllowCleartextPasswords != first.AllowCleartextPasswords {
			t.Errorf("%s config differs: first %+v, got %+v", name, first, got)
		}
	}
	same("second", second)
	third, err := c.Config(ctx) // the same view-omitted response again
	if err != nil {
		t.Fatal(err)
	}
	same("third", third)

	w.lie = true
	n := len(w.reqs)
	fourth, err := c.Config(ctx)
	if err != nil {
		t.Fatalf("after a response for an unknown view: %v", err)
	}
	same("after an unknown view", fourth)
	if len(w.reqs) != n+2 || len(w.reqs[n+1].GetKnownViewSha256()) != 0 || w.resps[n+1].GetParams().GetViewOmitted() {
		t.Errorf("an unknown view was not followed by one request for the whole params: %d requests, last %v", len(w.reqs)-n, w.reqs[len(w.reqs)-1])
	}
}

// configSource is the connector's Config method (exported on the value
// connbroker.Connector returns): fetch params now, return the go-sql-driver
// configuration.
type configSource interface {
	Config(ctx context.Context) (*mysql.Config, error)
}
