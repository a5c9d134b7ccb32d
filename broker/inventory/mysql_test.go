package inventory_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/inventory"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestMySQLBackend runs the shared backend against a real MariaDB, logging
// in as the broker does: through a configured endpoint (verify-identity TLS
// with the peer's CA), with a credential the broker's issuer reads. The
// account may not CREATE, so the first open fails with the DDL to run; an
// administrator runs it and the store works, bounded like the SQLite one.
func TestMySQLBackend(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("test", fmt.Appendf(nil, `
endpoints:
  fleet:
    host: 127.0.0.1
    port: %d
    user: %s
    database: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
inventory:
  mysql: {endpoint: fleet}
`, db.Port, mariadbtest.NativeUser, mariadbtest.Database, pw, db.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	svc := broker.New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil)
	conn, err := svc.OwnConnector("fleet")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := newClock()
	opts := inventory.Options{Now: clk.Now, MaxRecords: 2}

	_, err = inventory.OpenMySQL(ctx, conn, "", opts)
	if err == nil || !strings.Contains(err.Error(), "CREATE TABLE IF NOT EXISTS "+inventory.DefaultTable) {
		t.Fatalf("OpenMySQL without CREATE privilege: %v, want the DDL in the error", err)
	}
	root, err := db.RootDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, "USE "+mariadbtest.Database); err != nil {
		t.Fatal(err)
	}
	if _, err := root.ExecContext(ctx, strings.Replace(inventory.MySQLSchema(inventory.DefaultTable), inventory.DefaultTable, mariadbtest.Database+"."+inventory.DefaultTable, 1)); err != nil {
		t.Fatalf("create table as root: %v", err)
	}

	s, err := inventory.OpenMySQL(ctx, conn, "", opts)
	if err != nil {
		t.Fatalf("OpenMySQL: %v", err)
	}
	defer s.Close()
	env := pymysql("1.0.2")
	env.Env = map[string]string{"MYSQL_PWD": "secret-in-env", "SSL_CERT_FILE": "/etc/ssl/cert.pem"}
	s.Observe(ctx, "uid:1", "orders", env)
	s.Observe(ctx, "uid:1", "orders", env)
	recs := flushList(t, s, "orders")
	if len(recs) != 1 || recs[0].Count != 2 || recs[0].Env.Env["MYSQL_PWD"] != inventory.SetMarker {
		t.Fatalf("records %+v", recs)
	}
	// A second replica sharing the table sees the record and adds to it.
	s2, err := inventory.OpenMySQL(ctx, conn, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	clk.Add(time.Second)
	s2.Observe(ctx, "uid:1", "orders", env)
	if recs := flushList(t, s2, "orders"); len(recs) != 1 || recs[0].Count != 3 || !recs[0].LastSeen.Equal(clk.Now()) {
		t.Fatalf("second replica: %+v", recs)
	}
	// Bounded: a third environment evicts the least recently seen.
	for _, v := range []string{"1.1.0", "1.2.0"} {
		clk.Add(time.Second)
		s.Observe(ctx, "uid:2", "orders", pymysql(v))
		flushList(t, s, "")
	}
	recs = flushList(t, s, "orders")
	if len(recs) != 2 || recs[0].Caller != "uid:2" || recs[1].Caller != "uid:2" {
		t.Errorf("after eviction: %+v, want only uid:2's two", recs)
	}
	if st := s.Stats(); st.Backend != "mysql" || st.Records != 2 || !st.Full || st.Evicted != 1 {
		t.Errorf("Stats = %+v", st)
	}
	var secret int
	if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+mariadbtest.Database+"."+inventory.DefaultTable+" WHERE env LIKE '%secret-in-env%'").Scan(&secret); err != nil || secret != 0 {
		t.Errorf("rows holding the MYSQL_PWD value: %d (%v)", secret, err)
	}
}
