package driver

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/hints"
)

var modes = []config.TLSMode{config.TLSDisabled, config.TLSPreferred, config.TLSRequired, config.TLSVerifyCA, config.TLSVerifyIdentity}

func TestFor(t *testing.T) {
	for in, want := range map[string]string{"pymysql": "pymysql", "PyMySQL": "pymysql", " go ": "go-sql-driver", "go-sql-driver/mysql": "go-sql-driver"} {
		r, err := For(in)
		if err != nil || r.Name != want {
			t.Errorf("For(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	_, err := For("odbc")
	var ud *UnknownDriverError
	if !errors.Is(err, ErrUnknownDriver) || !errors.As(err, &ud) || ud.Driver != "odbc" {
		t.Fatalf("For(odbc) err = %v", err)
	}
	// The error lists every driver with its aliases.
	for _, d := range All() {
		want := d.Name
		if len(d.Aliases) > 0 {
			want += " (aliases " + strings.Join(d.Aliases, ", ") + ")"
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("For(odbc) err = %v; lacks %q", err, want)
		}
	}
}

// TestSafeWhereverSecretsTravelInClear is the safety rule: for every driver
// and every account kind, when a token or clear-text password is sent the
// options must verify the server's certificate and host name.
func TestSafeWhereverSecretsTravelInClear(t *testing.T) {
	for _, d := range Names() {
		r, _ := For(d)
		for _, plugin := range []string{"", hints.PluginClearText, hints.PluginNative, hints.PluginCachingSHA2, hints.PluginSHA256, hints.PluginEd25519} {
			for _, iam := range []bool{false, true} {
				in := hints.Input{Host: "db.example", Port: 3306, User: "u", Plugin: plugin, IAM: iam, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "db.example"}
				if !in.ClearText() {
					continue
				}
				h := r.Render(in)
				if !verifiesIdentity(h) {
					t.Errorf("%s plugin=%q iam=%v: options do not verify the server: %v", d, plugin, iam, h.Options)
				}
			}
		}
	}
}

func verifiesIdentity(h hints.Hints) bool {
	o := h.Options
	sub := func(k string) map[string]any { m, _ := o[k].(map[string]any); return m }
	switch strings.TrimPrefix(h.Driver, "sqlalchemy+") {
	case "pymysql":
		return o["ssl_verify_cert"] == true && o["ssl_verify_identity"] == true && o["ssl_ca"] == hints.CAFile
	case "go-sql-driver":
		return (o["tls"] == "true" || o["tls"] == GoTLSConfigName) && !strings.Contains(h.DSN, "skip-verify") && !strings.Contains(h.DSN, "preferred")
	case "mysqlclient":
		return o["ssl_mode"] == "VERIFY_IDENTITY" && sub("ssl")["ca"] == hints.CAFile
	case "mysql-connector-python", "mysql-connector-python-pure", "mysqlconnector":
		return o["ssl_verify_cert"] == true && o["ssl_verify_identity"] == true && o["ssl_ca"] == hints.CAFile && o["ssl_disabled"] == nil
	case "aiomysql":
		s := sub("ssl")
		return s["cafile"] == hints.CAFile && s["check_hostname"] == true && s["verify_mode"] == "CERT_REQUIRED"
	case "mysql2":
		s := sub("ssl")
		return s["ca"] == hints.CAFile && s["rejectUnauthorized"] == true && s["verifyIdentity"] == true
	case "connector-j":
		return o["sslMode"] == "VERIFY_IDENTITY" && strings.Contains(h.DSN, "sslMode=VERIFY_IDENTITY")
	case "mysql-cli":
		return o["ssl-mode"] == "VERIFY_IDENTITY" && o["ssl-ca"] == hints.CAFile
	case "mariadb-cli":
		return o["ssl"] == true && o["ssl-verify-server-cert"] == true && o["ssl-ca"] == hints.CAFile && o["skip-ssl"] == nil
	}
	return false
}

func TestPyMySQL(t *testing.T) {
	r, _ := For("pymysql")
	tests := []struct {
		name         string
		in           hints.Input
		wantOpts     map[string]any
		wantPackages []string
		wantWarn     []string
	}{
		{
			name: "iam verify-identity",
			in:   hints.Input{Host: "h", Port: 3306, User: "u", Database: "d", IAM: true, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "h"},
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d",
				"ssl_ca": hints.CAFile, "ssl_verify_cert": true, "ssl_verify_identity": true},
			wantPackages: []string{"PyMySQL>=1.1.2"},
			wantWarn:     []string{"without any opt-in"},
		},
		{
			name:         "caching_sha2 without tls needs cryptography",
			in:           hints.Input{Host: "h", Port: 3306, User: "u", Plugin: hints.PluginCachingSHA2, TLSMode: config.TLSDisabled},
			wantOpts:     map[string]any{"host": "h", "port": 3306, "user": "u", "ssl_disabled": true},
			wantPackages: []string{"PyMySQL>=1.1.2", "cryptography"},
			wantWarn:     []string{"unencrypted", "cryptography"},
		},
		{
			name:         "ed25519 needs pynacl",
			in:           hints.Input{Host: "h", Port: 3306, User: "u", Plugin: hints.PluginEd25519, TLSMode: config.TLSVerifyCA, HasCA: true},
			wantOpts:     map[string]any{"host": "h", "port": 3306, "user": "u", "ssl_ca": hints.CAFile, "ssl_verify_cert": true},
			wantPackages: []string{"PyMySQL>=1.1.2", "PyNaCl"},
			wantWarn:     []string{"PyNaCl"},
		},
		{
			name:         "required warns that ssl_ca alone does not verify",
			in:           hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: config.TLSRequired},
			wantOpts:     map[string]any{"host": "h", "port": 3306, "user": "u", "ssl_ca": hints.CAFile},
			wantPackages: []string{"PyMySQL>=1.1.2"},
			wantWarn:     []string{"ssl_ca alone encrypts but does not verify"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := r.Render(tt.in)
			if diff := cmp.Diff(tt.wantOpts, h.Options); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPackages, h.Packages); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			if h.SecretOption != "password" {
				t.Errorf("secret option = %q", h.SecretOption)
			}
			all := strings.Join(h.Warnings, "\n")
			for _, w := range tt.wantWarn {
				if !strings.Contains(all, w) {
					t.Errorf("warnings lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestGoSQLDriver(t *testing.T) {
	r, _ := For("go-sql-driver")
	tests := []struct {
		in      hints.Input
		wantTLS string
		wantDSN string
	}{
		{hints.Input{Host: "h", Port: 3306, User: "u", Database: "d", IAM: true, TLSMode: config.TLSVerifyIdentity, ServerName: "h"}, "true",
			"u:{password}@tcp(h:3306)/d?allowCleartextPasswords=true&tls=true"},
		{hints.Input{Host: "h", Port: 3306, User: "u", IAM: true, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "h"}, GoTLSConfigName,
			"u:{password}@tcp(h:3306)/?allowCleartextPasswords=true&tls=connbroker"},
		{hints.Input{Host: "::1", Port: 3307, User: "u", TLSMode: config.TLSVerifyCA, HasCA: true}, GoTLSConfigName,
			"u:{password}@tcp([::1]:3307)/?tls=connbroker"},
		{hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: config.TLSRequired}, "skip-verify", "u:{password}@tcp(h:3306)/?tls=skip-verify"},
		{hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: config.TLSPreferred}, "preferred", "u:{password}@tcp(h:3306)/?tls=preferred"},
		{hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: config.TLSDisabled}, "false", "u:{password}@tcp(h:3306)/?tls=false"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%v-%v", tt.in.TLSMode, tt.in.IAM, tt.in.HasCA), func(t *testing.T) {
			h := r.Render(tt.in)
			if h.Options["tls"] != tt.wantTLS || h.DSN != tt.wantDSN {
				t.Errorf("tls=%v dsn=%q; want %q %q", h.Options["tls"], h.DSN, tt.wantTLS, tt.wantDSN)
			}
			if _, ok := h.Options["allowCleartextPasswords"]; ok != tt.in.IAM {
				t.Errorf("allowCleartextPasswords present=%v, want %v", ok, tt.in.IAM)
			}
		})
	}
}

// TestEveryModeRenders guards against a renderer forgetting a TLS mode.
func TestEveryModeRenders(t *testing.T) {
	for _, d := range Names() {
		r, _ := For(d)
		for _, m := range modes {
			h := r.Render(hints.Input{Host: "h", Port: 1, User: "u", TLSMode: m})
			if h.Driver != d || h.SecretOption == "" || h.MinVersion == "" || len(h.Packages) == 0 {
				t.Errorf("%s %s: incomplete hints %+v", d, m, h)
			}
			if !m.Verifies() && len(h.Warnings) == 0 && m != config.TLSVerifyCA {
				t.Errorf("%s %s: no warning for an unverified mode", d, m)
			}
		}
	}
}
