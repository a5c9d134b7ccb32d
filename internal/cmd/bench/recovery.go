package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	connbroker "github.com/connbroker/connbroker/clients/go"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// recoveryDown is how long the broker stays down in the restart
// measurement: a quick restart (a crash and a supervisor's restart).
const recoveryDown = 3 * time.Second

// recoveryConfig is a daemon config serving the password endpoint "local".
func recoveryConfig(o options, dir, addr string, db *mariadbtest.Server) (string, error) {
	pw := filepath.Join(dir, "native.pw")
	if err := os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf(`listen: %s
log: {level: info, format: json}
endpoints:
  local:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, addr, db.Port, mariadbtest.NativeUser, pw, db.CAFile), nil
}

// kill9 SIGKILLs d and waits for it, leaving its exit in d.done so that a
// later d.stop returns at once.
func kill9(d *daemon) {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	err := <-d.done
	d.done <- err
}

// restartRecovery SIGKILLs a broker that a client (the Go helper's
// connection: its retry policy and reconnect backoff) uses, keeps it down
// recoveryDown, restarts it on the same address, and times from the
// restart's exec to the first fresh params the waiting client gets,
// beside the restarted daemon's own exec-to-SERVING time (a fresh health
// poll): the difference is what the client's reconnect adds.
func restartRecovery(ctx context.Context, o options, dir string, db *mariadbtest.Server, reps int) (row, error) {
	addr, err := freePort()
	if err != nil {
		return row{}, err
	}
	cfg, err := recoveryConfig(o, dir, addr, db)
	if err != nil {
		return row{}, err
	}
	d, err := startWithConfig(o, dir, "recovery", addr, cfg)
	if err != nil {
		return row{}, err
	}
	cl, err := connbroker.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.stop()
		return row{}, err
	}
	defer cl.Close()
	req := &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true}
	get := func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := cl.GetConnectionParams(cctx, req)
		return err
	}
	if err := waitOK(ctx, 15*time.Second, get); err != nil {
		d.stop()
		return row{}, fmt.Errorf("recovery: first params: %w", err)
	}
	var first, serving []time.Duration
	for range reps {
		kill9(d)
		// The app keeps asking while the broker is down (each call fails
		// after its deadline), as a pool opening connections does.
		downUntil := time.Now().Add(recoveryDown)
		for time.Now().Before(downUntil) {
			_ = get()
			time.Sleep(100 * time.Millisecond)
		}
		start := time.Now()
		if d, err = startWithConfig(o, dir, "recovery", addr, cfg); err != nil {
			return row{}, err
		}
		var servingAt time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func(d *daemon) { // the daemon's own readiness, on a fresh connection
			defer wg.Done()
			conn, err := readinessClient(addr)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = d.waitReady(ctx, healthpb.NewHealthClient(conn))
			servingAt = time.Since(start)
		}(d)
		if err := waitOK(ctx, 30*time.Second, get); err != nil {
			d.stop()
			return row{}, fmt.Errorf("recovery: params after the restart: %w", err)
		}
		first = append(first, time.Since(start))
		wg.Wait()
		serving = append(serving, servingAt)
	}
	d.stop()
	f, s := median(first), median(serving)
	r := float64(f) / float64(s)
	return row{what: fmt.Sprintf("broker restart: exec to the first fresh params a waiting Go-helper client gets (SIGKILL, %s down; median of %d)", recoveryDown, reps),
		baseline: fmt.Sprintf("exec to SERVING %.0f ms", ms(s)), measured: fmt.Sprintf("%.0f ms (max %.0f ms)", ms(f), ms(slices.Max(first))),
		ratio: r, ratioText: fmt.Sprintf("%.2fx", r), target: "info"}, nil
}

// replicaFailover runs two brokers on 127.0.0.2 and 127.0.0.3 behind one
// Go-helper client (round_robin over the address list, the retry policy
// for UNAVAILABLE), calls GetConnectionParams every 5 ms, SIGKILLs one
// broker and counts the calls that failed and the slowest call after the
// kill, beside the median call before it.
func replicaFailover(ctx context.Context, o options, dir string, db *mariadbtest.Server) (row, error) {
	port, err := freePort()
	if err != nil {
		return row{}, err
	}
	_, p, _ := net.SplitHostPort(port)
	var ds []*daemon
	var addrs []string
	for i, host := range []string{"127.0.0.2", "127.0.0.3"} {
		addr := net.JoinHostPort(host, p)
		cfg, err := recoveryConfig(o, dir, addr, db)
		if err != nil {
			return row{}, err
		}
		d, err := startWithConfig(o, dir, fmt.Sprintf("replica%d", i), addr, cfg)
		if err != nil {
			return row{}, err
		}
		defer d.stop()
		ds, addrs = append(ds, d), append(addrs, addr)
	}
	cl, err := connbroker.NewClient(addrs[0]+","+addrs[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return row{}, err
	}
	defer cl.Close()
	req := &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true}
	call := func() (time.Duration, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := cl.GetConnectionParams(cctx, req)
		return time.Since(start), err
	}
	if err := waitOK(ctx, 15*time.Second, func() error { _, err := call(); return err }); err != nil {
		return row{}, fmt.Errorf("failover: first params: %w", err)
	}
	for range 200 { // both subchannels ready
		if _, err := call(); err != nil {
			return row{}, err
		}
	}
	var before []time.Duration
	for range 200 {
		d, err := call()
		if err != nil {
			return row{}, err
		}
		before = append(before, d)
		time.Sleep(5 * time.Millisecond)
	}
	kill9(ds[0])
	var after []time.Duration
	failed, calls := 0, 0
	var firstErr error
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		d, err := call()
		calls++
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		after = append(after, d)
		time.Sleep(5 * time.Millisecond)
	}
	b, worst := median(before), slices.Max(after)
	r := float64(worst) / float64(b)
	measured := fmt.Sprintf("slowest call after the kill %.1f ms, %d of %d calls failed", ms(worst), failed, calls)
	if firstErr != nil {
		measured += fmt.Sprintf(" (first: %v)", firstErr)
	}
	return row{what: "replica failover: 2 brokers behind one Go-helper client, one SIGKILLed",
		baseline: fmt.Sprintf("median call before %.2f ms", ms(b)), measured: measured,
		ratio: r, ratioText: fmt.Sprintf("%.0fx", r), target: "0 failed calls", ok: check(failed == 0)}, nil
}

// waitOK calls f until it returns nil or d passes.
func waitOK(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
