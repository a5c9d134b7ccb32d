package main

import (
	"os"
	"strings"
	"testing"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

const pymysqlProgram = `
import os, pymysql
with open(os.environ["MYSQL_PWD_FILE"]) as f:
    pw = f.read()
c = pymysql.connect(host=os.environ["MYSQL_HOST"], port=int(os.environ["MYSQL_TCP_PORT"]), user=os.environ["MYSQL_USER"],
    password=pw, database=os.environ["MYSQL_DATABASE"], ssl_ca=os.environ["MYSQL_SSL_CA"], ssl_verify_cert=True, ssl_verify_identity=True)
cur = c.cursor(); cur.execute("SELECT CURRENT_USER()"); print(cur.fetchone()[0])
print("secret-in-env" if any(pw in v for v in os.environ.values()) else "env-clean")
`

// TestExec: a plain PyMySQL program and a shell script log in using only
// exec's variables and files (IAM and password); the secret is in no
// variable; the files are 0600 and gone after; the exit code is the child's.
func TestExec(t *testing.T) {
	br, _, _ := startIAMStack(t)
	b := "--broker=" + br.Addr
	env := map[string]string{"PATH": os.Getenv("PATH")}
	for _, tt := range []struct{ endpoint, user string }{{"local-iam", mariadbtest.IAMUser}, {"local-native", mariadbtest.NativeUser}} {
		code, out, errOut := cliEnv(env, b, "exec", tt.endpoint, "--", "/work/main/.venv/bin/python", "-c", pymysqlProgram)
		if code != 0 || out != tt.user+"@%\nenv-clean\n" {
			t.Errorf("%s pymysql: exit %d\n%s%s", tt.endpoint, code, out, errOut)
		}
		script := `stat -c %a "$MYSQL_PWD_FILE" "$MYSQL_DEFAULTS_FILE"; mariadb --defaults-extra-file="$MYSQL_DEFAULTS_FILE" -N -B -e 'SELECT CURRENT_USER()'; echo "$DATABASE_URL"; echo "$(dirname "$MYSQL_PWD_FILE")"; exit 7`
		code, out, errOut = cliEnv(env, b, "exec", tt.endpoint, "--", "sh", "-c", script)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 7 || len(lines) != 5 || lines[0] != "600" || lines[1] != "600" || lines[2] != tt.user+"@%" ||
			!strings.HasPrefix(lines[3], "mysql+pymysql://"+tt.user+"@127.0.0.1:") {
			t.Fatalf("%s script: exit %d\n%s%s", tt.endpoint, code, out, errOut)
		}
		if _, err := os.Stat(lines[4]); !os.IsNotExist(err) {
			t.Errorf("files left in %s", lines[4])
		}
	}
	secret := secretOf(t, br, "local-native")
	code, out, errOut := cliEnv(env, b, "exec", "local-native", "--password-env", "DB_PASS", "--", "sh", "-c", `printf %s "$DB_PASS"`)
	if code != 0 || out != secret || !strings.Contains(errOut, "warning: --password-env") {
		t.Errorf("--password-env: exit %d, secret printed %v, stderr %s", code, out == secret, errOut)
	}
	if code, _, _ := cliEnv(env, b, "exec", "local-native"); code != cmdline.Usage {
		t.Errorf("no command: exit %d", code)
	}
}
