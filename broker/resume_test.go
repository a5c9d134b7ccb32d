package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/validate"
	"github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testpki"
)

// resumeFixture is a real MariaDB and a service whose endpoints all point
// at it: a0..a3 trust the server's CA file, b0..b3 a bundle of the same CA
// and another one (a different CA configuration that verifies the same
// server), and bad is a0 with a wrong password. Logins run one at a time
// (validation.max_concurrent 1), so within a request the first login per
// TLS configuration is the only full handshake.
func resumeFixture(t *testing.T) *Service {
	t.Helper()
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("good", []byte(mariadbtest.NativePassword)), write("bad", []byte("not-the-password-1234"))
	bundle := write("bundle.pem", append(append([]byte{}, db.CAPEM...), testpki.NewCA(t, "another CA").PEM...))
	ep := "  %s:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n    auth: password\n    password: {file: %s}\n    tls: {mode: verify-identity, ca: %s}\n"
	var b strings.Builder
	b.WriteString("validation: {max_concurrent: 1}\nendpoints:\n")
	for i := range 4 {
		fmt.Fprintf(&b, ep, fmt.Sprintf("a%d", i), db.Port, mariadbtest.NativeUser, mariadbtest.Database, good, db.CAFile)
		fmt.Fprintf(&b, ep, fmt.Sprintf("b%d", i), db.Port, mariadbtest.NativeUser, mariadbtest.Database, good, bundle)
	}
	fmt.Fprintf(&b, ep, "bad", db.Port, mariadbtest.NativeUser, mariadbtest.Database, bad, db.CAFile)
	cfg, err := config.Parse("resume", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil)
}

// TestValidationResumesTLSWithinRequest checks against a real MariaDB that
// the logins of one multi-endpoint validation resume the TLS session of
// the request's first login to the server (DidResume, Result.TLSResumed),
// that the endpoints with a different CA configuration do not resume the
// other configuration's session but make their own full handshake, and
// that a new request starts without sessions.
func TestValidationResumesTLSWithinRequest(t *testing.T) {
	svc := resumeFixture(t)
	names := []string{"a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"}
	for round := range 2 {
		res, err := svc.Validate(context.Background(), ValidateRequest{Endpoints: names})
		if err != nil {
			t.Fatal(err)
		}
		full := map[string][]string{}
		for _, r := range res {
			if !r.OK || r.TLSVersion == "" {
				t.Fatalf("round %d: %s: ok %v, TLS %q, reason %q; want a TLS login", round, r.Endpoint, r.OK, r.TLSVersion, r.Reason)
			}
			if !r.TLSResumed {
				full[r.Endpoint[:1]] = append(full[r.Endpoint[:1]], r.Endpoint)
			}
		}
		// One full handshake per CA configuration: a resumed b login would
		// mean b trusted a session verified against a's CA.
		if len(full["a"]) != 1 || len(full["b"]) != 1 {
			t.Errorf("round %d: full handshakes %v; want exactly one per CA configuration (a, b), the other logins resumed", round, full)
		}
	}
}

// TestResumedFailureSameFindings checks that a login that fails after a
// resumed TLS session (a wrong password) reports the same stage, server
// error, reason and findings as the same login with a full handshake.
func TestResumedFailureSameFindings(t *testing.T) {
	svc := resumeFixture(t)
	ctx := context.Background()
	alone, err := svc.Validate(ctx, ValidateRequest{Endpoints: []string{"bad"}})
	if err != nil {
		t.Fatal(err)
	}
	sessions := dbtls.NewSessions()
	endpoint := func(name string) *config.Endpoint {
		t.Helper()
		ep, err := svc.endpointFor(ctx, "endpoints[0]", name)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	first := svc.validateOne(ctx, endpoint("a0"), 10*time.Second, false, nil, time.Time{}, sessions)
	if !first.res.OK || first.res.TLSResumed {
		t.Fatalf("a0: ok %v, resumed %v; want a full, successful login", first.res.OK, first.res.TLSResumed)
	}
	after := svc.validateOne(ctx, endpoint("bad"), 10*time.Second, false, nil, time.Time{}, sessions).res
	if alone[0].TLSResumed || !after.TLSResumed {
		t.Fatalf("bad alone resumed %v, after a0 resumed %v; want false, true", alone[0].TLSResumed, after.TLSResumed)
	}
	type view struct {
		OK              bool
		Stage, Reason   string
		Code            uint16
		Findings        []string
		TLS, Transcript bool
	}
	see := func(r validate.Result) view {
		v := view{OK: r.OK, Reason: r.Reason, TLS: r.TLSVersion != "", Transcript: r.Transcript != nil}
		if st, ok := r.Failed(); ok {
			v.Stage = st.Name
		}
		if r.MySQLError != nil {
			v.Code = r.MySQLError.Code
		}
		for _, f := range r.Findings {
			v.Findings = append(v.Findings, f.Code+"/"+severity(f.Severity)+": "+f.Cause)
		}
		return v
	}
	if diff := cmp.Diff(see(alone[0]), see(after)); diff != "" {
		t.Errorf("a failure after a resumed session differs from the same failure alone (-alone +resumed):\n%s", diff)
	}
	if v := see(after); v.OK || v.Code != 1045 || len(v.Findings) == 0 {
		t.Errorf("bad: %+v; want an access-denied failure with findings", v)
	}
}
