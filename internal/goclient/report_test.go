package goclient_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	connbroker "github.com/connbroker/connbroker/clients/go"

	"github.com/connbroker/connbroker/broker/inventory"
	"github.com/connbroker/connbroker/internal/testbroker"
)

// TestReportsEnvironmentOncePerEndpoint: against a real broker with an
// inventory, the connector sends this process's environment with its first
// GetConnectionParams per endpoint (one record, counted once however many
// connections follow), and again when it changes (SSL_CERT_FILE set: a
// second record).
func TestReportsEnvironmentOncePerEndpoint(t *testing.T) {
	t.Setenv("CONNBROKER_TEST_REPORT_PW", "report-test-pw")
	store, err := inventory.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "inv.db"), inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	br, stop, err := testbroker.NewWith(`endpoints:
  report-go:
    host: 127.0.0.1
    port: 1
    user: app
    auth: password
    password: {env: CONNBROKER_TEST_REPORT_PW}
    tls: {mode: disabled}
`, testbroker.Options{Inventory: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Setenv("SSL_CERT_FILE", "")
	c := connbroker.Connector(br.Client, "report-go").(configSource)
	for range 3 {
		if _, err := c.Config(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Another connector in the same process: already reported.
	if _, err := connbroker.Connector(br.Client, "report-go").(configSource).Config(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := store.List(ctx, "report-go")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Count != 1 || recs[0].Env.Driver != connbroker.Driver || recs[0].Env.Runtime == "" {
		t.Fatalf("records %+v, want one go-sql-driver record counted once", recs)
	}
	if p, ok := recs[0].Env.Package(connbroker.DriverModule); !ok {
		t.Errorf("no %s package in %+v", connbroker.DriverModule, recs[0].Env)
	} else {
		t.Logf("reported %s %q, %s", p.Name, p.Version, recs[0].Env.Runtime)
	}

	t.Setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
	for range 2 {
		if _, err := c.Config(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _ = store.List(ctx, "report-go")
	if len(recs) != 2 || recs[0].Env.Env["SSL_CERT_FILE"] != "/etc/ssl/certs/ca-certificates.crt" || recs[0].Count != 1 {
		t.Fatalf("after SSL_CERT_FILE changed: %+v, want a second record, newest first, counted once", recs)
	}
}
