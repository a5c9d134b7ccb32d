package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/diagnose"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestReplayOnlyWhenAsked checks, against a real MariaDB, that the prober
// replays a login only when it failed or when a transcript is asked for:
// a successful plain validation has no transcript, the same with
// compare_drivers has one, and a failed login has a transcript and the
// same findings with or without compare_drivers.
func TestReplayOnlyWhenAsked(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not-the-password-1234"), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := "    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n    auth: password\n    password: {file: %s}\n    tls: {mode: verify-identity, ca: %s}\n"
	cfg, err := config.Parse("replay", []byte("endpoints:\n  good:\n"+fmt.Sprintf(ep, db.Port, mariadbtest.NativeUser, mariadbtest.Database, good, db.CAFile)+
		"  bad:\n"+fmt.Sprintf(ep, db.Port, mariadbtest.NativeUser, mariadbtest.Database, bad, db.CAFile)))
	if err != nil {
		t.Fatal(err)
	}
	svc := New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil)
	validate := func(name string, compare bool) (ok, transcript bool, findings []string) {
		t.Helper()
		res, err := svc.Validate(context.Background(), ValidateRequest{Endpoints: []string{name}, CompareDrivers: compare})
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		for _, f := range r.Findings {
			findings = append(findings, f.Code+"/"+severity(f.Severity))
		}
		return r.OK, r.Transcript != nil, findings
	}
	if ok, tr, _ := validate("good", false); !ok || tr {
		t.Errorf("good, plain: ok %v, transcript %v; want ok without a replay", ok, tr)
	}
	if ok, tr, _ := validate("good", true); !ok || !tr {
		t.Errorf("good, compare_drivers: ok %v, transcript %v; want ok with a transcript", ok, tr)
	}
	ok, tr, plain := validate("bad", false)
	if ok || !tr || len(plain) == 0 {
		t.Errorf("bad, plain: ok %v, transcript %v, findings %v; want a failure diagnosed from a replay", ok, tr, plain)
	}
	_, _, compared := validate("bad", true)
	if diff := cmp.Diff(compared, plain); diff != "" {
		t.Errorf("findings of a failure differ with compare_drivers (-compare +plain):\n%s", diff)
	}
	t.Logf("failure findings: %v", plain)
}

func severity(s diagnose.Severity) string { return fmt.Sprint(s) }
