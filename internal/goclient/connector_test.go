package goclient_test

import (
	"errors"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/hints"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// A token shaped like a real RDS IAM token: '/', '?', '&', '=' and '%'.
const token = "127.0.0.1:3306/?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"

func params(t *testing.T, in hints.Input, caPEM string) *v1.ConnectionParams {
	t.Helper()
	r, err := driver.For(connbroker.Driver)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Render(in)
	opts, err := v1.OptionsFromMap(h.Options)
	if err != nil {
		t.Fatal(err)
	}
	mode := map[config.TLSMode]v1.TLSMode{config.TLSVerifyIdentity: v1.TLSMode_TLS_MODE_VERIFY_IDENTITY, config.TLSVerifyCA: v1.TLSMode_TLS_MODE_VERIFY_CA,
		config.TLSDisabled: v1.TLSMode_TLS_MODE_DISABLED}[in.TLSMode]
	return &v1.ConnectionParams{
		Endpoint:   "e",
		Credential: &v1.Credential{Secret: token},
		Tls:        &v1.TLSSettings{Mode: mode, CaPem: caPEM, ServerName: in.ServerName},
		Hints:      &v1.DriverHints{Driver: h.Driver, Options: opts, SecretOption: h.SecretOption, Dsn: h.DSN},
	}
}

func TestConfigFromParams(t *testing.T) {
	iam := hints.Input{Host: "127.0.0.1", Port: 3306, User: "app", Database: "d", IAM: true, Plugin: hints.PluginClearText, TLSMode: config.TLSVerifyIdentity, ServerName: "127.0.0.1"}
	cfg, err := connbroker.ConfigFromParams(params(t, iam, ""))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Net, cfg.Addr, cfg.User, cfg.DBName, cfg.Passwd, cfg.AllowCleartextPasswords, cfg.TLSConfig}
	want := []any{"tcp", "127.0.0.1:3306", "app", "d", token, true, "true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	plain := hints.Input{Host: "h", Port: 3306, User: "app", Plugin: hints.PluginCachingSHA2, TLSMode: config.TLSDisabled}
	cfg, err = connbroker.ConfigFromParams(params(t, plain, ""))
	if err != nil || cfg.TLS != nil || cfg.AllowCleartextPasswords {
		t.Errorf("plain: cfg.TLS=%v clear=%v err=%v", cfg.TLS, cfg.AllowCleartextPasswords, err)
	}

	p := params(t, iam, "")
	p.Hints.Driver = "pymysql"
	if _, err := connbroker.ConfigFromParams(p); !errors.Is(err, connbroker.ErrHints) {
		t.Errorf("hints for another driver: err = %v, want ErrHints", err)
	}
	bad := params(t, hints.Input{Host: "h", Port: 3306, User: "app", TLSMode: config.TLSVerifyCA, HasCA: true}, "not a pem")
	if _, err := connbroker.ConfigFromParams(bad); !errors.Is(err, connbroker.ErrHints) || strings.Contains(err.Error(), token) {
		t.Errorf("bad CA: err = %v, want ErrHints without the secret", err)
	}
}

// TestDSNTakesTheRawSecret pins what go-sql-driver does with the hints' DSN:
// it keeps the password verbatim, so {password} must be the raw secret
// (a URL-escaped token would be sent escaped and refused).
func TestDSNTakesTheRawSecret(t *testing.T) {
	dsn := params(t, hints.Input{Host: "127.0.0.1", Port: 3306, User: "app", Database: "d", IAM: true, TLSMode: config.TLSVerifyIdentity, ServerName: "127.0.0.1"}, "").GetHints().GetDsn()
	cfg, err := mysql.ParseDSN(strings.Replace(dsn, hints.Password, token, 1))
	if err != nil {
		t.Fatalf("ParseDSN: %v", err)
	}
	if cfg.Passwd != token || cfg.DBName != "d" || !cfg.AllowCleartextPasswords || cfg.TLSConfig != "true" {
		t.Errorf("parsed passwd=%q db=%q clear=%v tls=%q", cfg.Passwd, cfg.DBName, cfg.AllowCleartextPasswords, cfg.TLSConfig)
	}
}
