package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/internal/testlog"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
)

// The recipes of docs/PROGRAMS.md, run with the real programs (Debian's
// prometheus-mysqld-exporter and mydumper, installed by
// scripts/install-deps.sh) against the real MariaDB peer.

func needProgram(t *testing.T, name string) string {
	t.Helper()
	testtier.Integration(t, name+" and MariaDB")
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/install-deps.sh installs it): %v", name, err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// renderOnce renders tmpl for endpoint into dir/name and returns its path.
func renderOnce(t *testing.T, brokerAddr, endpoint, tmpl, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	code, stdout, errOut := cliEnv(map[string]string{"PATH": os.Getenv("PATH")}, "--broker="+brokerAddr, "render", endpoint,
		"--template", writeTemplate(t, tmpl), "--out", out)
	if code != 0 {
		t.Fatalf("render %s: exit %d\n%s%s", endpoint, code, stdout, errOut)
	}
	return out
}

// TestRecipeMysqldExporter: mysqld_exporter --config.my-cnf reads the
// my.cnf that render writes with {{mycnf}} (verified TLS with the CA file)
// and scrapes the server: mysql_up 1.
func TestRecipeMysqldExporter(t *testing.T) {
	bin := needProgram(t, "prometheus-mysqld-exporter")
	br, _, _ := startIAMStack(t)
	for _, endpoint := range []string{"local-native", "local-iam"} {
		t.Run(endpoint, func(t *testing.T) {
			cnf := renderOnce(t, br.Addr, endpoint, "{{mycnf}}", t.TempDir(), "exporter.cnf")
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, bin, "--config.my-cnf="+cnf, "--web.listen-address="+addr)
			var logs testlog.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); cmd.Wait() })
			scrape := func() string {
				for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
					resp, err := http.Get("http://" + addr + "/metrics")
					if err != nil {
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					return string(b)
				}
				return ""
			}
			body := scrape()
			if endpoint == "local-iam" {
				// mysqld_exporter 0.14 (Debian 12) builds its go-sql-driver
				// DSN without allowCleartextPasswords, so it cannot log in
				// to an IAM account (clear text): docs/PROGRAMS.md says so.
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), "allowCleartextPasswords"); {
					time.Sleep(100 * time.Millisecond)
				}
				if !strings.Contains(body, "\nmysql_up 0\n") || !strings.Contains(logs.String(), "allowCleartextPasswords") {
					t.Errorf("mysqld_exporter 0.14 with IAM: want mysql_up 0 and the clear-text error; got the log:\n%s", logs.String())
				}
				return
			}
			if !strings.Contains(body, "\nmysql_up 1\n") {
				up := ""
				for _, l := range strings.Split(body, "\n") {
					if strings.HasPrefix(l, "mysql_up") {
						up = l
					}
				}
				t.Errorf("mysqld_exporter: %q, want mysql_up 1\nexporter log:\n%s", up, logs.String())
			}
			// 0.14 reads the file only at start: a new password in it is not
			// seen until a restart (the recipe restarts it on change).
			if err := os.WriteFile(cnf, []byte("[client]\nuser=app_native\npassword=wrong\nhost=127.0.0.1\nport=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if body := scrape(); !strings.Contains(body, "\nmysql_up 1\n") {
				t.Errorf("mysqld_exporter re-read its my.cnf: the recipe (restart on change) is out of date")
			}
		})
	}
}

// TestRecipeMydumper: mydumper --defaults-file reads the [client] file
// that render writes and dumps one table.
func TestRecipeMydumper(t *testing.T) {
	bin := needProgram(t, "mydumper")
	br, db, _ := startIAMStack(t)
	root, err := db.RootDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE TABLE appdb.recipe_orders (id INT PRIMARY KEY, item VARCHAR(20))",
		"INSERT INTO appdb.recipe_orders VALUES (1, 'render-recipe')",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, endpoint := range []string{"local-native", "local-iam"} {
		t.Run(endpoint, func(t *testing.T) {
			cnf := renderOnce(t, br.Addr, endpoint, "{{mycnf}}", t.TempDir(), "dump.cnf")
			outDir := filepath.Join(t.TempDir(), "dump")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// mydumper 0.10 (Debian 12) dumps no table with --tables-list (and
			// hangs with it alone, without --database): dump
			// the database.
			cmd := exec.CommandContext(ctx, bin, "--defaults-file="+cnf, "--database=appdb", "--no-locks", "--outputdir="+outDir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mydumper: %v\n%s", err, out)
			}
			data, err := os.ReadFile(filepath.Join(outDir, "appdb.recipe_orders.sql"))
			if err != nil || !strings.Contains(string(data), "render-recipe") {
				ents, _ := os.ReadDir(outDir)
				t.Errorf("dump: %v %q; files %v", err, data, ents)
			}
		})
	}
}

// TestRecipePasswordCommand: a GUI "password command" hook runs
// `connbroker token ENDPOINT` and takes its stdout, minus the trailing
// newline, as the password: here a PyMySQL program does exactly that and
// logs in to the IAM account (clear text over verified TLS).
func TestRecipePasswordCommand(t *testing.T) {
	testtier.Integration(t, "MariaDB, PyMySQL and the go toolchain")
	br, db, _ := startIAMStack(t)
	cb := filepath.Join(t.TempDir(), "connbroker")
	if out, err := exec.Command("go", "build", "-o", cb, ".").CombinedOutput(); err != nil {
		t.Fatalf("build connbroker: %v\n%s", err, out)
	}
	prog := `
import subprocess, sys, pymysql
cmd, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pw = subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout.rstrip("\n")
c = pymysql.connect(host="127.0.0.1", port=port, user=sys.argv[4], password=pw, database="appdb",
    ssl_ca=ca, ssl_verify_cert=True, ssl_verify_identity=True)
cur = c.cursor(); cur.execute("SELECT CURRENT_USER()"); print(cur.fetchone()[0])
`
	hook := cb + " --broker=" + br.Addr + " token local-iam"
	out, err := exec.Command("/work/main/.venv/bin/python", "-c", prog, hook, fmt.Sprint(db.Port), db.CAFile, mariadbtest.IAMUser).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != mariadbtest.IAMUser+"@%" {
		t.Errorf("password command: %v\n%s", err, out)
	}
}
