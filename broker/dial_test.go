package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpeer/forward"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestDialThroughTunnel: an endpoint whose host is the name on the
// certificate (localhost) and whose dial is a forwarder on an address the
// certificate does not name (127.0.0.2). The hints connect to the dial
// address, the validation and the diagnosis log in through it and verify
// the real name, and every driver of the table is played there.
func TestDialThroughTunnel(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	fw := forward.StartForTest(t, "127.0.0.2:0", db.Addr)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, db.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("endpoints:\n  tunnel:\n    host: localhost\n    port: %d\n    dial: %q\n    user: %s\n    auth: password\n    password: {env: DIAL_PW}\n    tls: {mode: verify-identity, ca: %s}\n",
		db.Port, fw.Addr, mariadbtest.NativeUser, ca)
	cfg, err := config.Parse("dial", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	pw := credential.NewPasswords(func(string) (string, bool) { return mariadbtest.NativePassword, true })
	svc := New(cfg, &credential.Router{Password: pw}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	p, err := svc.Params(ctx, "tunnel", "go")
	if err != nil {
		t.Fatal(err)
	}
	if p.Hints.Options["addr"] != fw.Addr || p.Hints.Options["tls"] != "connbroker" {
		t.Errorf("go-sql-driver hints %v: want addr %s and a registered tls config (server name localhost)", p.Hints.Options, fw.Addr)
	}
	res, err := svc.Validate(ctx, ValidateRequest{Endpoints: []string{"tunnel"}, CompareDrivers: true})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if !r.OK {
		t.Fatalf("validate through the tunnel: %s %+v", r.Reason, r.Stages)
	}
	works := map[string]bool{}
	for _, d := range r.Drivers {
		works[d.Case.Key] = works[d.Case.Key] || d.Works
	}
	// Only go-sql-driver checks a TLS name other than the host it dials;
	// the others' hints say unsupported, and the table agrees.
	if !works["go-sql-driver"] || works["pymysql"] || works["mariadb-cli"] {
		t.Errorf("table: %v", works)
	}
	if fw.Accepted() < 3 {
		t.Errorf("only %d connections went through the tunnel", fw.Accepted())
	}
}
