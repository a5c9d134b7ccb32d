package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestReloadCannotTurnOffIdentities is finding F8, against the real daemon
// binary and a real SIGHUP: a reload that removes unix: and policy: (which
// would leave no caller identities, so the policy would no longer apply to
// the TCP listener) is rejected with the reason and the old config keeps
// serving, with enforcement on; a reload that removes only the policy is
// applied and denies everyone (enforcement stays on, it never opens).
func TestReloadCannotTurnOffIdentities(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "broker.sock")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("reload-identity-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeTCP(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	me := fmt.Sprintf("uid:%d", os.Getuid())
	write := func(unix, policy bool) {
		t.Helper()
		body := fmt.Sprintf("listen: %s\nendpoints:\n  mine:\n    host: 127.0.0.1\n    user: app\n    auth: password\n    password: {file: %s}\n    tls: {mode: disabled}\n", addr, pw)
		if unix {
			body += "unix: {path: " + sock + "}\n"
		}
		if policy {
			body += fmt.Sprintf("policy:\n  - caller: %q\n    endpoints: [mine]\n", me)
		}
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(true, true)
	logs, exited, pid := startDaemon(t, bin, "--config", cfgPath)
	waitServing(t, "unix://"+sock, exited, logs)

	dial := func(target string) v1.BrokerServiceClient {
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return v1.NewBrokerServiceClient(conn)
	}
	tcp, unix := dial(addr), dial("unix://"+sock)
	get := func(cl v1.BrokerServiceClient) codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "mine"})
		return status.Code(err)
	}
	expect := func(when string, tcpWant, unixWant codes.Code) {
		t.Helper()
		if got := get(tcp); got != tcpWant {
			t.Errorf("%s: unidentified TCP caller: %v, want %v", when, got, tcpWant)
		}
		if got := get(unix); got != unixWant {
			t.Errorf("%s: uid caller over the socket: %v, want %v", when, got, unixWant)
		}
	}
	expect("at start", codes.PermissionDenied, codes.OK)

	hup := func(wantLog string, n int) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, wantLog, 10*time.Second, func() bool { return strings.Count(logs.String(), wantLog) >= n })
	}

	write(false, false) // drop unix: and policy:
	hup("config reload rejected", 1)
	for _, want := range []string{"unix", "caller identities", "take effect only on a restart"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the rejection does not name %q:\n%s", want, logs.String())
		}
	}
	expect("after a reload dropping unix and policy", codes.PermissionDenied, codes.OK)

	write(true, false) // drop only the policy: applied, and it denies
	hup("config reloaded", 1)
	expect("after a reload dropping the policy", codes.PermissionDenied, codes.PermissionDenied)

	write(false, false) // and still no way to drop unix from there
	hup("config reload rejected", 2)
	expect("after a second reload dropping unix", codes.PermissionDenied, codes.PermissionDenied)
}

// TestRestartOnly lists what a reload may not change.
func TestRestartOnly(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{Listen: "127.0.0.1:7700", Unix: config.UnixListener{Path: "/run/b.sock", Mode: "0600"}, TLS: config.ServerTLS{Cert: "c", Key: "k", ClientCA: "ca"}}
	}
	for _, tt := range []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"nothing", func(*config.Config) {}, ""},
		{"policy", func(c *config.Config) { c.Policy = nil }, ""},
		{"unix removed", func(c *config.Config) { c.Unix = config.UnixListener{} }, "unix"},
		{"unix mode", func(c *config.Config) { c.Unix.Mode = "0660"; c.Unix.Group = "g" }, "unix"},
		{"client ca removed", func(c *config.Config) { c.TLS.ClientCA = "" }, "tls"},
		{"every identity removed", func(c *config.Config) { c.TLS.ClientCA, c.Unix = "", config.UnixListener{} }, "caller identities"},
		{"listen", func(c *config.Config) { c.Listen = "127.0.0.1:7701" }, "listen"},
		{"audit", func(c *config.Config) { c.Audit.Output = "stdout" }, "audit"},
		{"aws endpoint_url", func(c *config.Config) { c.AWS.EndpointURL = "http://127.0.0.1:5000" }, "aws"},
		{"aws timeout", func(c *config.Config) { c.AWS.Timeout = time.Second }, "aws"},
		{"iam refresh_after", func(c *config.Config) { c.IAM.RefreshAfter = time.Minute }, "iam"},
		{"discovery is reloadable", func(c *config.Config) {
			c.Discovery.AWS = &config.AWSDiscovery{Regions: []string{"us-east-1"}, Tag: "connbroker"}
		}, ""},
		{"inventory on", func(c *config.Config) { c.Inventory.Path = "/var/lib/connbroker/inv.db" }, "inventory"},
		{"inventory backend", func(c *config.Config) { c.Inventory.MySQL = &config.InventoryMySQL{Endpoint: "x"} }, "inventory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc := base()
			tt.change(nc)
			err := restartOnly(base(), nc)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("restartOnly = %v, want mention of %q", err, tt.want)
			}
		})
	}
}
