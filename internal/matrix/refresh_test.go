package matrix

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	cbgo "github.com/connbroker/connbroker/clients/go"
	"github.com/connbroker/connbroker/internal/iamverify"
	"github.com/connbroker/connbroker/internal/testbroker"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// tokenAge returns how long ago an IAM token was signed (X-Amz-Date).
func tokenAge(token string, now time.Time) (time.Duration, error) {
	i := strings.IndexByte(token, '?')
	if i < 0 {
		return 0, errors.New("token has no query")
	}
	q, err := url.ParseQuery(token[i+1:])
	if err != nil {
		return 0, fmt.Errorf("parse token query: %w", err)
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return 0, fmt.Errorf("parse X-Amz-Date: %w", err)
	}
	return now.Sub(signed), nil
}

// goPoolAcrossWindows uses a database/sql pool on clients/go whose
// connections live half a window, two at a time per window, and returns
// the errors.
func goPoolAcrossWindows(client v1.BrokerServiceClient, window time.Duration, windows int) []error {
	db := sql.OpenDB(cbgo.Connector(client, "iam"))
	defer db.Close()
	db.SetConnMaxLifetime(window / 2)
	var errs []error
	for range windows {
		var wg sync.WaitGroup
		res := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := db.Conn(context.Background())
				if err != nil {
					res <- err
					return
				}
				defer conn.Close()
				var u string
				res <- conn.QueryRowContext(context.Background(), "SELECT CURRENT_USER()").Scan(&u)
			}()
		}
		wg.Wait()
		close(res)
		for err := range res {
			if err != nil {
				errs = append(errs, err)
			}
		}
		time.Sleep(window)
	}
	return errs
}

// TestTokenRefreshAcrossWindows proves that a SQLAlchemy pool built by
// connbroker.sqlalchemy, and a database/sql pool on clients/go, keep
// opening connections across several token windows: the peer (RDS-Proxy-like, SigV4 verified) refuses tokens older
// than window, the broker re-signs after iam.refresh_after, and the pool's
// do_connect event fetches fresh params for every physical connection.
func TestTokenRefreshAcrossWindows(t *testing.T) {
	testtier.Integration(t, "mariadbd and the venv's drivers")
	const window, windows = 4 * time.Second, 3 // refresh_after 1s leaves 2-3s of margin for a loaded machine
	root := moduleRoot(t)
	python := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s missing: run `make venv`", python)
	}
	tlsCfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	var (
		port    int
		mu      sync.Mutex
		refused int
	)
	m8 := mysql8test.StartForTest(t, mysql8test.Options{
		TLS: tlsCfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{{User: "iam", Plugin: mysql8test.PluginClearPassword, RequireTLS: true}},
		ClearPasswordVerifier: func(user, secret string, _ bool) error {
			if err := iamverify.Verify(iamverify.Policy{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
				Region: testbroker.Region, Host: "127.0.0.1", Port: port}, user, secret); err != nil {
				return err
			}
			age, err := tokenAge(secret, time.Now())
			if err != nil {
				return err
			}
			if age > window {
				mu.Lock()
				refused++
				mu.Unlock()
				return fmt.Errorf("token is %v old, this peer accepts %v", age.Round(time.Second), window)
			}
			return nil
		},
	})
	port = m8.Port
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	br := testbroker.Start(t, fmt.Sprintf("iam: {refresh_after: 1s}\nendpoints:\n  iam:\n    host: 127.0.0.1\n    port: %d\n    user: iam\n    database: app\n    auth: iam\n    region: %s\n    tls: {mode: verify-identity, ca: %s}\n",
		m8.Port, testbroker.Region, ca))

	// The token of the first window, kept to show that the peer enforces it.
	first, err := br.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "iam"})
	if err != nil {
		t.Fatal(err)
	}

	in, _ := json.Marshal(map[string]any{"broker": br.Addr, "endpoint": "iam", "windows": windows, "window": window.Seconds()})
	e := &env{root: root}
	var out struct {
		OK     int      `json:"ok"`
		Errors []string `json:"errors"`
	}
	// The Go pool (clients/go) runs across the same windows, meanwhile.
	goErrs := make(chan []error, 1)
	go func() { goErrs <- goPoolAcrossWindows(br.Client, window, windows) }()
	raw := e.subprocessRaw(t, []string{python, filepath.Join(root, "internal/matrix/runners/refresh.py")}, in, filepath.Join(root, "clients/python"))
	if errs := <-goErrs; len(errs) != 0 {
		t.Errorf("database/sql pool on clients/go across %d windows of %v: %v", windows, window, errs)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("refresh.py output %q: %v", raw, err)
	}
	if out.OK != windows || len(out.Errors) != 0 {
		t.Fatalf("pool across %d windows of %v: %d ok, errors %v", windows, window, out.OK, out.Errors)
	}
	var okLogins int
	for _, l := range m8.Logins() {
		if l.User == "iam" && l.OK {
			okLogins++
		}
	}
	if okLogins < 1+2*windows-2 { // the long-lived one plus two new ones per window (the pool may keep a young one)
		t.Errorf("the peer saw %d successful logins, want at least %d new physical connections", okLogins, 1+2*windows-2)
	}

	// Control: the first window's token is now refused by the peer.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName, cfg.Passwd = "tcp", m8.Addr, "iam", "app", first.GetParams().GetCredential().GetSecret()
	cfg.AllowCleartextPasswords, cfg.TLS = true, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Errorf("reusing the first window's token: err = %v, want 1045", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused == 0 {
		t.Error("the peer never refused an old token: the window is not enforced")
	}
}
