package main

import (
	"strings"
	"testing"

	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestParamsDSNHidesTheSecret: the DSN the CLI prints for drivers that use
// one carries a placeholder, never the password, unless --show-secret.
func TestParamsDSNHidesTheSecret(t *testing.T) {
	br, _ := startStack(t)
	for _, driver := range []string{"go-sql-driver", "connector-j", "sqlalchemy+pymysql", "sqlalchemy+mysqlclient", "mysql2", "mariadb-cli"} {
		for _, format := range []string{"table", "json"} {
			t.Run(driver+"/"+format, func(t *testing.T) {
				code, out, errOut := cli("--broker="+br.Addr, "-o", format, "params", "local-native", "--driver", driver)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				if strings.Contains(out+errOut, mariadbtest.NativePassword) {
					t.Errorf("output contains the password:\n%s", out)
				}
				if !strings.Contains(out, driver) {
					t.Errorf("output does not name the driver %s:\n%s", driver, out)
				}
			})
		}
	}
	code, out, _ := cli("--broker="+br.Addr, "params", "local-native", "--driver", "go-sql-driver", "--show-secret")
	if code != 0 || !strings.Contains(out, mariadbtest.NativePassword) || !strings.Contains(out, "{password}@tcp(") {
		t.Errorf("--show-secret: exit %d, want the secret in its row and the DSN with the placeholder:\n%s", code, out)
	}
}
