package driver

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/hints"
)

// TestRenderers pins each driver's options for the account kinds the
// compatibility matrix runs (internal/matrix proves them with the real
// drivers; this catches an accidental change early).
func TestRenderers(t *testing.T) {
	iam := hints.Input{Host: "h", Port: 3306, User: "u", Database: "d", IAM: true, Plugin: hints.PluginClearText, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "h"}
	sha2Plain := hints.Input{Host: "h", Port: 3306, User: "u", Plugin: hints.PluginCachingSHA2, TLSMode: config.TLSDisabled}
	ed := hints.Input{Host: "h", Port: 3306, User: "u", Plugin: hints.PluginEd25519, TLSMode: config.TLSVerifyCA, HasCA: true}
	tests := []struct {
		name, driver string
		in           hints.Input
		wantOpts     map[string]any
		wantDSN      string
		wantEnv      []hints.EnvVar
		wantWarn     []string
		unsupported  bool
	}{
		{name: "mysqlclient iam", driver: "mysqlclient", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "ssl_mode": "VERIFY_IDENTITY", "ssl": map[string]any{"ca": hints.CAFile}},
			wantEnv:  []hints.EnvVar{{Name: "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", Value: "1"}}},
		{name: "mysqlclient sha2 plain", driver: "mysqlclient", in: sha2Plain,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "ssl_mode": "DISABLED"},
			wantWarn: []string{"unencrypted", "server_public_key_path"}},
		{name: "connector C iam", driver: "mysql-connector-python", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "use_pure": false,
				"ssl_ca": hints.CAFile, "ssl_verify_cert": true, "ssl_verify_identity": true, "auth_plugin": hints.PluginClearText},
			wantWarn: []string{"OpenSSL 3.2"}},
		{name: "connector C sha2 plain", driver: "mysql-connector-python", in: sha2Plain,
			wantOpts:    map[string]any{"host": "h", "port": 3306, "user": "u", "use_pure": false, "ssl_disabled": true},
			unsupported: true},
		{name: "connector pure ed25519", driver: "mysql-connector-python-pure", in: ed,
			wantOpts:    map[string]any{"host": "h", "port": 3306, "user": "u", "use_pure": true, "ssl_ca": hints.CAFile, "ssl_verify_cert": true},
			unsupported: true},
		{name: "aiomysql iam", driver: "aiomysql", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "db": "d",
				"ssl": map[string]any{"cafile": hints.CAFile, "check_hostname": true, "verify_mode": "CERT_REQUIRED"}},
			wantWarn: []string{"without any opt-in", "plain text when the server does not offer TLS"}},
		{name: "aiomysql ed25519", driver: "aiomysql", in: ed, unsupported: true,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u",
				"ssl": map[string]any{"cafile": hints.CAFile, "check_hostname": false, "verify_mode": "CERT_REQUIRED"}}},
		{name: "sqlalchemy+pymysql iam", driver: "sqlalchemy+pymysql", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "ssl_ca": hints.CAFile, "ssl_verify_cert": true, "ssl_verify_identity": true},
			wantDSN:  "mysql+pymysql://u@h:3306/d", wantWarn: []string{"do_connect"}},
		{name: "sqlalchemy+mysqlclient", driver: "sqlalchemy+mysqlclient", in: sha2Plain,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "ssl_mode": "DISABLED"},
			wantDSN:  "mysql+mysqldb://u@h:3306/"},
		{name: "mysql2 iam", driver: "mysql2", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "enableCleartextPlugin": true,
				"ssl": map[string]any{"ca": hints.CAFile, "rejectUnauthorized": true, "verifyIdentity": true}},
			wantWarn: []string{"PEM contents"}},
		{name: "mysql2 iam by IP", driver: "mysql2", in: hints.Input{Host: "127.0.0.1", Port: 3306, User: "u", IAM: true, Plugin: hints.PluginClearText, TLSMode: config.TLSVerifyIdentity, HasCA: true},
			wantOpts: map[string]any{"host": "127.0.0.1", "port": 3306, "user": "u", "enableCleartextPlugin": true,
				"ssl": map[string]any{"ca": hints.CAFile, "rejectUnauthorized": true, "verifyIdentity": true}},
			wantWarn: []string{`checks the name "localhost"`}},
		{name: "connector-j iam", driver: "connector-j", in: iam,
			wantOpts: map[string]any{"user": "u", "sslMode": "VERIFY_IDENTITY"},
			wantDSN:  "jdbc:mysql://h:3306/d?sslMode=VERIFY_IDENTITY", wantWarn: []string{"keytool"}},
		{name: "connector-j sha2 plain", driver: "connector-j", in: sha2Plain,
			wantOpts: map[string]any{"user": "u", "sslMode": "DISABLED", "allowPublicKeyRetrieval": true},
			wantDSN:  "jdbc:mysql://h:3306/?allowPublicKeyRetrieval=true&sslMode=DISABLED"},
		{name: "mariadb-cli iam", driver: "mariadb-cli", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "ssl": true, "ssl-ca": hints.CAFile, "ssl-verify-server-cert": true}},
		{name: "mysql-cli iam", driver: "mysql-cli", in: iam,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "database": "d", "ssl-mode": "VERIFY_IDENTITY", "ssl-ca": hints.CAFile, "enable-cleartext-plugin": true},
			wantWarn: []string{"Debian 12"}},
		{name: "mysql-cli sha2 plain", driver: "mysql-cli", in: sha2Plain,
			wantOpts: map[string]any{"host": "h", "port": 3306, "user": "u", "ssl-mode": "DISABLED", "get-server-public-key": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := For(tt.driver)
			if err != nil {
				t.Fatal(err)
			}
			h := r.Render(tt.in)
			if diff := cmp.Diff(tt.wantOpts, h.Options); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if h.DSN != tt.wantDSN {
				t.Errorf("dsn = %q, want %q", h.DSN, tt.wantDSN)
			}
			var env []hints.EnvVar
			for _, e := range h.Env {
				env = append(env, hints.EnvVar{Name: e.Name, Value: e.Value})
			}
			if diff := cmp.Diff(tt.wantEnv, env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			all := strings.Join(h.Warnings, "\n")
			for _, w := range tt.wantWarn {
				if !strings.Contains(all, w) {
					t.Errorf("warnings lack %q:\n%s", w, all)
				}
			}
			if got := strings.Contains(all, hints.UnsupportedPrefix); got != tt.unsupported {
				t.Errorf("unsupported warning present = %v, want %v:\n%s", got, tt.unsupported, all)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	for in, want := range map[string]string{
		"MySQLdb": "mysqlclient", "mysql.connector": "mysql-connector-python", "mysql-connector-pure": "mysql-connector-python-pure",
		"mysql+pymysql": "sqlalchemy+pymysql", "mysql+mysqldb": "sqlalchemy+mysqlclient", "mysql+mysqlconnector": "sqlalchemy+mysqlconnector",
		"node-mysql2": "mysql2", "jdbc": "connector-j", "mariadb": "mariadb-cli", "mysql": "mysql-cli",
	} {
		r, err := For(in)
		if err != nil || r.Name != want {
			t.Errorf("For(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
}

// TestClearTextVerifiesCertInVerifyCA extends the safety rule to the other
// mode the config allows for clear text (verify-ca): every driver's options
// must still verify the certificate, for every account kind.
func TestClearTextVerifiesCertInVerifyCA(t *testing.T) {
	for _, d := range Names() {
		r, _ := For(d)
		for _, plugin := range []string{"", hints.PluginClearText, hints.PluginNative, hints.PluginCachingSHA2, hints.PluginSHA256, hints.PluginEd25519} {
			for _, iam := range []bool{false, true} {
				in := hints.Input{Host: "db.example", Port: 3306, User: "u", Plugin: plugin, IAM: iam, TLSMode: config.TLSVerifyCA, HasCA: true, ServerName: "db.example"}
				if !in.ClearText() {
					continue
				}
				if h := r.Render(in); !verifiesCert(h) {
					t.Errorf("%s plugin=%q iam=%v verify-ca: options do not verify the certificate: %v %s", d, plugin, iam, h.Options, h.DSN)
				}
			}
		}
	}
}

func verifiesCert(h hints.Hints) bool {
	o := h.Options
	sub := func(k string) map[string]any { m, _ := o[k].(map[string]any); return m }
	switch strings.TrimPrefix(h.Driver, "sqlalchemy+") {
	case "pymysql", "mysql-connector-python", "mysql-connector-python-pure", "mysqlconnector":
		return o["ssl_verify_cert"] == true && o["ssl_ca"] == hints.CAFile && o["ssl_disabled"] == nil
	case "go-sql-driver":
		return o["tls"] == GoTLSConfigName
	case "mysqlclient":
		return o["ssl_mode"] == "VERIFY_CA" && sub("ssl")["ca"] == hints.CAFile
	case "aiomysql":
		return sub("ssl")["cafile"] == hints.CAFile && sub("ssl")["verify_mode"] == "CERT_REQUIRED"
	case "mysql2":
		return sub("ssl")["ca"] == hints.CAFile && sub("ssl")["rejectUnauthorized"] == true
	case "connector-j":
		return o["sslMode"] == "VERIFY_CA" && strings.Contains(h.DSN, "sslMode=VERIFY_CA")
	case "mysql-cli":
		return o["ssl-mode"] == "VERIFY_CA" && o["ssl-ca"] == hints.CAFile
	case "mariadb-cli":
		return o["ssl-verify-server-cert"] == true && o["ssl-ca"] == hints.CAFile
	}
	return false
}
