package diagnose

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.0.2", "1.1.2", true},
		{"1.1.2", "1.1.2", false},
		{"1.1.1", "1.1.2", true},
		{"1.2.4", "1.1.2", false},
		{"1.1", "1.1.2", true},
		{"1.1.2rc1", "1.1.2", false},
		{"", "1.1.2", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestEnvironmentCases(t *testing.T) {
	type row struct {
		Key, Options string
		RSA          handshake.RSAMode
		ClearOptIn   bool
	}
	for _, tc := range []struct {
		name      string
		env       ClientEnvironment
		clearText bool
		wantApp   string
		want      []row
		missing   bool
	}{
		{
			name:    "app driver first, cryptography decides RSA",
			env:     ClientEnvironment{Driver: "mysqlclient", Packages: []ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}, {Name: "mysqlclient", Version: "2.3.1", ClientLibrary: "MariaDB Connector/C 3.3.14"}}},
			wantApp: "mysqlclient",
			want: []row{
				{"mysqlclient", "linked against MariaDB Connector/C 3.3.14", handshake.RSARetrieveKey, false},
				{"pymysql", "without cryptography", handshake.RSAUnavailable, false},
			},
		},
		{
			name:    "libmysqlclient with the env var, SQLAlchemy URL name",
			env:     ClientEnvironment{Driver: "sqlalchemy+mysqldb", Env: map[string]string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN": "y"}, Packages: []ClientPackage{{Name: "mysqlclient", Version: "2.2.7", ClientLibrary: "libmysqlclient 8.0.40"}}},
			wantApp: "mysqlclient",
			want:    []row{{"mysqlclient", "linked against libmysqlclient 8.0.40, LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN set", handshake.RSAPinnedKeyOnly, true}},
		},
		{
			name:      "connector: C extension with the hints' auth_plugin, pure without it",
			env:       ClientEnvironment{Packages: []ClientPackage{{Name: "mysql-connector-python", Version: "26.10.0", CExtension: true}}},
			clearText: true,
			wantApp:   "mysql-connector-python",
			want:      []row{{"mysql-connector-python", "C extension", handshake.RSAUnavailable, true}},
		},
		{
			name:    "connector without its C extension is the pure driver",
			env:     ClientEnvironment{Packages: []ClientPackage{{Name: "mysql-connector-python", Version: "26.10.0"}, {Name: "cryptography", Version: "50"}}},
			wantApp: "mysql-connector-python-pure",
			want:    []row{{"mysql-connector-python-pure", "pure Python (no C extension)", handshake.RSAUnavailable, false}},
		},
		{
			name:    "SQLAlchemy's mysqlconnector asks for a C extension that does not load",
			env:     ClientEnvironment{Driver: "sqlalchemy+mysqlconnector", Packages: []ClientPackage{{Name: "mysql-connector-python", Version: "26.10.0"}}},
			wantApp: "mysql-connector-python",
			want: []row{
				{"mysql-connector-python", "C extension (does not load)", handshake.RSAUnavailable, false},
				{"mysql-connector-python-pure", "pure Python (no C extension)", handshake.RSAUnavailable, false},
			},
		},
		{
			name:    "the app's driver is not installed",
			env:     ClientEnvironment{Driver: "aiomysql", Packages: []ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}, {Name: "cryptography", Version: "50"}}},
			wantApp: "aiomysql",
			want:    []row{{"pymysql", "with cryptography", handshake.RSARetrieveKey, false}},
			missing: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := hints.Input{Host: "db.example", Port: 3306, User: "u", TLSMode: config.TLSVerifyIdentity, ServerName: "db.example", IAM: tc.clearText}
			cases, app, missing := EnvironmentCases(tc.env, in)
			var got []row
			for _, c := range cases {
				got = append(got, row{c.Key, c.Options, c.Profile.RSA, c.Profile.ClearTextOptIn})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cases (-want +got):\n%s", diff)
			}
			if app != tc.wantApp || (missing != nil) != tc.missing {
				t.Errorf("app %q missing %v, want %q missing %v", app, missing, tc.wantApp, tc.missing)
			}
		})
	}
}

// TestEveryAliasResolvesEverywhere: every name and alias of broker/driver
// is the same driver for the hints (driver.For), the environment rules and
// the package a missing driver is installed from.
func TestEveryAliasResolvesEverywhere(t *testing.T) {
	for _, d := range driver.All() {
		for _, n := range d.Names() {
			got, err := driver.For(n)
			if err != nil || got != d {
				t.Errorf("driver.For(%q) = %v, %v; want %s", n, got, err, d.Name)
				continue
			}
			if c := canonicalEnvDriver(n); c != d.Base().Name {
				t.Errorf("environment: %q is %q, want %q", n, c, d.Base().Name)
			}
			if d.Runtime == driver.RuntimePython {
				if pkg := driverPackage(n); pkg != d.Base().Env.Package || pkg == "" {
					t.Errorf("environment: package of %q is %q, want %q", n, pkg, d.Base().Env.Package)
				}
			}
		}
	}
	// The aliases environment.go used not to know.
	for _, n := range []string{"go", "gosqldriver", "mysql-connector-python-c"} {
		if canonicalEnvDriver(n) == n {
			t.Errorf("environment does not know %q", n)
		}
	}
}
