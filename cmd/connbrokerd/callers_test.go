package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// nobody is the uid (and gid) the attacker runs as.
const nobody = "65534"

// sharedDir returns a new directory that another uid can traverse (t.TempDir
// nests in a 0700 directory), removed at the end of the test.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "connbroker-callers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// otherUID builds the connbroker CLI (buildBin: into a directory anyone
// may traverse), makes dir traversable by anyone and returns a function
// that runs the CLI as uid 65534 (setpriv, no supplementary groups) and
// returns its output.
func otherUID(t *testing.T, dir string) func(broker string, args ...string) (string, error) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("this test runs the attacker as another uid with setpriv and needs root (it runs as root in make test and CI)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv not found (util-linux): it runs the attacker as another uid")
	}
	cli := buildBin(t, "../connbroker", "connbroker")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return func(broker string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		argv := append([]string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups", cli, "--broker", broker, "--timeout", "5s"}, args...)
		cmd := exec.CommandContext(ctx, setpriv, argv...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// rootOnlySecret writes a random password into a 0600 file in a 0700
// directory, which uid 65534 cannot read, and checks that it cannot.
func rootOnlySecret(t *testing.T, dir string) (path, secret string) {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	secret = "root-only-" + hex.EncodeToString(b)
	sdir := filepath.Join(dir, "secrets")
	if err := os.Mkdir(sdir, 0o700); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(sdir, "pw")
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("setpriv", "--reuid="+nobody, "--regid="+nobody, "--clear-groups", "cat", path).CombinedOutput(); err == nil || strings.Contains(string(out), secret) {
		t.Fatalf("uid %s can read the password file directly: %s", nobody, out)
	}
	return path, secret
}

func freeTCP(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// startDaemon runs the connbrokerd binary with args, killed at the end of
// the test if it is still running; its logs collect stdout and stderr.
func startDaemon(t *testing.T, bin string, args ...string) (logs *lockedBuffer, exited chan error, pid int) {
	t.Helper()
	logs = &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = []string{"PATH=/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED=true", "HOME=" + t.TempDir()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return logs, exited, cmd.Process.Pid
}

func waitServing(t *testing.T, target string, exited chan error, logs *lockedBuffer) {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("daemon exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving on %s: %v\n%s", target, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOtherUIDCannotReadCredentials is finding F2: a local process of
// another uid (65534, through setpriv) asks the broker for a password kept
// in a root-only 0600 file.
//
//   - Without caller identities and without --dev the broker refuses to
//     start (exit 2, the reason and the fix on stderr), so nothing serves
//     the credential; --check-config warns the same way.
//   - With --dev (make run) it serves, warns at start, and the other uid
//     does read the password: proof that the attack works when it is not
//     refused.
//   - With the Unix socket and a policy by uid, uid 65534 gets exactly the
//     endpoint its rule names, nothing else (a denied and an unknown name
//     alike), and nothing over the unidentified TCP listener.
func TestOtherUIDCannotReadCredentials(t *testing.T) {
	bin := buildDaemon(t)
	dir := sharedDir(t)
	asNobody := otherUID(t, dir)
	pw, secret := rootOnlySecret(t, dir)
	endpoints := mineAndTheirs(pw)

	t.Run("plaintext loopback without --dev", func(t *testing.T) {
		addr := freeTCP(t)
		cfg := writeConfig(t, "listen: "+addr+"\n"+endpoints)
		check, err := exec.Command(bin, "--config", cfg, "--check-config").CombinedOutput()
		if err != nil || !strings.Contains(string(check), "would refuse to start") {
			t.Errorf("--check-config: %v, want exit 0 with a warning:\n%s", err, check)
		}
		logs, exited, _ := startDaemon(t, bin, "--config", cfg)
		select {
		case err := <-exited:
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Errorf("exit %v, want 2", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("the broker kept running without identities or --dev:\n%s", logs.String())
		}
		for _, want := range []string{"no caller identities configured", "tls.client_ca", "unix.path", "--dev"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("refusal does not say %q:\n%s", want, logs.String())
			}
		}
		out, err := asNobody(addr, "params", "mine", "--show-secret", "-o", "json")
		if err == nil || strings.Contains(out, secret) {
			t.Errorf("uid %s got the credential: %v\n%s", nobody, err, out)
		}
	})

	t.Run("plaintext loopback with --dev", func(t *testing.T) {
		addr := freeTCP(t)
		cfg := writeConfig(t, "listen: "+addr+"\n"+endpoints)
		logs, exited, _ := startDaemon(t, bin, "--dev", "--config", cfg)
		waitServing(t, addr, exited, logs)
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "DEVELOPMENT MODE (--dev)") {
			t.Errorf("no development-mode warning at start:\n%s", logs.String())
		}
		out, err := asNobody(addr, "params", "mine", "--show-secret", "-o", "json")
		if err != nil || !strings.Contains(out, secret) {
			t.Errorf("with --dev uid %s should read the credential (the attack this test guards against): %v\n%s", nobody, err, out)
		}
		// --dev is refused off loopback (tested here with the address only:
		// tests never listen elsewhere).
		off := writeConfig(t, "listen: 0.0.0.0:1\ninsecure: true\n"+endpoints)
		if code, _, errOut := daemon(context.Background(), "--dev", "--config", off); code != 2 || !strings.Contains(errOut, "loopback") {
			t.Errorf("--dev off loopback: exit %d: %s", code, errOut)
		}
	})

	t.Run("unix socket with a policy by uid", func(t *testing.T) {
		addr := freeTCP(t)
		sock := filepath.Join(dir, "broker.sock")
		cfg := writeConfig(t, fmt.Sprintf("listen: %s\nunix: {path: %s, mode: \"0660\", group: nogroup}\n%spolicy:\n  - caller: uid:%s\n    endpoints: [mine]\n", addr, sock, endpoints, nobody))
		logs, exited, _ := startDaemon(t, bin, "--config", cfg)
		waitServing(t, "unix://"+sock, exited, logs)
		if strings.Contains(logs.String(), "DEVELOPMENT MODE") {
			t.Errorf("development-mode warning with identities in use:\n%s", logs.String())
		}
		out, err := asNobody("unix://"+sock, "params", "mine", "--show-secret", "-o", "json")
		if err != nil || !strings.Contains(out, secret) {
			t.Errorf("uid %s over the socket, allowed endpoint: %v\n%s", nobody, err, out)
		}
		var denied []string
		for _, name := range []string{"theirs", "nosuch"} {
			out, err := asNobody("unix://"+sock, "params", name, "--show-secret", "-o", "json")
			if err == nil || strings.Contains(out, secret) || !strings.Contains(out, "PermissionDenied") && !strings.Contains(out, "may not get") {
				t.Errorf("uid %s over the socket, endpoint %s: %v, want a denial\n%s", nobody, name, err, out)
			}
			denied = append(denied, strings.ReplaceAll(out, name, "NAME"))
		}
		if denied[0] != denied[1] {
			t.Errorf("a denied and an unknown endpoint answer differently (an oracle):\n%s\n%s", denied[0], denied[1])
		}
		out, err = asNobody(addr, "params", "mine", "--show-secret", "-o", "json")
		if err == nil || strings.Contains(out, secret) {
			t.Errorf("uid %s over unidentified TCP got the credential: %v\n%s", nobody, err, out)
		}
	})
}

// mineAndTheirs is the endpoints section of the caller tests: two
// password endpoints, "mine" and "theirs", with the password in pwFile.
func mineAndTheirs(pwFile string) string {
	return fmt.Sprintf(`endpoints:
  mine:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
  theirs:
    host: 127.0.0.1
    user: other
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, pwFile, pwFile)
}
