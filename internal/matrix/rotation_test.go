package matrix

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
)

// TestPasswordRotation proves that a pool built by connbroker.sqlalchemy
// survives a password rotation: after the account's password and the
// broker's password file change, the pool's next physical connection logs
// in with the new password, without restarting the application.
func TestPasswordRotation(t *testing.T) {
	testtier.Integration(t, "mariadbd and the venv's drivers")
	root := moduleRoot(t)
	python := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s missing: run `make venv`", python)
	}
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	writePW := func(pw string) { // atomically, as a secret agent would
		tmp := pwFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, pwFile); err != nil {
			t.Fatal(err)
		}
	}
	writePW(mariadbtest.NativePassword)
	br := testbroker.Start(t, fmt.Sprintf("endpoints:\n  rot:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n    auth: password\n    password: {file: %s}\n    tls: {mode: verify-identity, ca: %s}\n",
		db.Port, mariadbtest.NativeUser, mariadbtest.Database, pwFile, db.CAFile))
	rootDB, err := db.RootDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rootDB.Close()

	for i, driver := range []string{"pymysql", "mysqlclient"} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, filepath.Join(root, "internal/matrix/runners/rotation.py"), br.Addr, "rot", driver)
			cmd.Dir = filepath.Join(root, "clients/python")
			cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "clients/python")) // this checkout's client
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			query := func() string {
				if _, err := io.WriteString(stdin, "query\n"); err != nil {
					t.Fatalf("write to rotation.py: %v\n%s", err, stderr.String())
				}
				if !lines.Scan() {
					t.Fatalf("rotation.py ended: %v\n%s", lines.Err(), stderr.String())
				}
				return lines.Text()
			}
			want := "ok " + mariadbtest.NativeUser + "@%"
			if got := query(); got != want {
				t.Fatalf("before rotation: %q, want %q", got, want)
			}
			newPW := fmt.Sprintf("rotated-pw-%d", i+2)
			if _, err := rootDB.Exec(fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mariadbtest.NativeUser, newPW)); err != nil {
				t.Fatal(err)
			}
			writePW(newPW)
			if got := query(); got != want {
				t.Errorf("after rotation: %q, want %q", got, want)
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("rotation.py: %v\n%s", err, stderr.String())
			}
		})
	}
}
