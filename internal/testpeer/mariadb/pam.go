package mariadbtest

// PAM setup for the IAM account: the checker's policy, the /etc/pam.d
// service file, building cmd/connbroker-pam-check, and reading back the
// checker's log. The server lifecycle (datadir, mariadbd, accounts, Stop)
// is in server.go; TLS material in certs.go.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/connbroker/connbroker/internal/iamverify"
)

// IAMOptions describe the key and endpoint IAM tokens must be signed for.
type IAMOptions struct {
	// AccessKeyID and SecretAccessKey are the static AWS key tokens must be signed with.
	AccessKeyID, SecretAccessKey string
	// Region is the region of the credential scope, e.g. "us-east-1".
	Region string
	// Host is the host the token must be signed for, e.g. "127.0.0.1"
	// (the port is the server's port). Empty means "127.0.0.1".
	Host string
}

// String hides the secret key.
func (o IAMOptions) String() string {
	return fmt.Sprintf("IAMOptions{AccessKeyID:%q Region:%q Host:%q SecretAccessKey:REDACTED}", o.AccessKeyID, o.Region, o.Host)
}

// GoString hides the secret key in %#v.
func (o IAMOptions) GoString() string { return o.String() }

// iamUnavailable returns why the PAM-backed IAM account cannot be set up here, or "".
func iamUnavailable() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("not running as root (euid %d): the PAM service file must be written to /etc/pam.d and mariadbd must run as root for auth_pam_tool", os.Geteuid())
	}
	if fi, err := os.Stat("/etc/pam.d"); err != nil || !fi.IsDir() {
		return "/etc/pam.d does not exist: PAM (libpam-modules) is not installed"
	}
	return ""
}

// setUpPAM writes the checker policy and the PAM service file, building
// the checker first when Options.PAMCheckBin is empty.
func (s *Server) setUpPAM(ctx context.Context, opts Options) error {
	if strings.ContainsAny(s.Dir, " \t\n\"'\\") {
		return fmt.Errorf("options: Dir %q contains characters a PAM config line cannot hold", s.Dir)
	}
	bin := opts.PAMCheckBin
	if bin == "" {
		bin = filepath.Join(s.Dir, "bin", "connbroker-pam-check")
		if _, err := os.Stat(bin); err != nil {
			if err := buildChecker(ctx, bin); err != nil {
				return err
			}
		}
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return fmt.Errorf("options: PAMCheckBin: %w", err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("options: PAMCheckBin %s is not an executable file", bin)
	}

	host := opts.IAM.Host
	if host == "" {
		host = "127.0.0.1"
	}
	s.PolicyFile = filepath.Join(s.Dir, "pam-policy.json")
	s.PAMLog = filepath.Join(s.Dir, "pam-check.log")
	pf := iamverify.PolicyFile{
		AccessKeyID:     opts.IAM.AccessKeyID,
		SecretAccessKey: opts.IAM.SecretAccessKey,
		Region:          opts.IAM.Region,
		Host:            host,
		Port:            s.Port,
		LogFile:         s.PAMLog,
	}
	if _, err := pf.Policy(); err != nil {
		return fmt.Errorf("options: IAM: %w", err)
	}
	if err := iamverify.WritePolicyFile(s.PolicyFile, pf); err != nil {
		return err
	}

	if s.pamFile == "" {
		removeStalePAMFiles(s.log)
		var rnd [6]byte
		rand.Read(rnd[:])
		s.PAMService = PAMServicePrefix + hex.EncodeToString(rnd[:])
		s.pamFile = filepath.Join("/etc/pam.d", s.PAMService)
	}
	conf := fmt.Sprintf("# %s: written by internal/testpeer/mariadb for a private test server; removed by Server.Stop\n"+
		"# policy %s\n"+
		"auth required pam_exec.so quiet expose_authtok %s --policy %s\n"+
		"account required pam_permit.so\n", pamMarker, s.PolicyFile, bin, s.PolicyFile)
	if err := os.WriteFile(s.pamFile, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write PAM service file: %w", err)
	}
	return nil
}

const pamMarker = "connbroker-mariadbtest"

// removeStalePAMFiles deletes PAM service files this package wrote for
// servers whose directory is gone (a test binary killed before Stop).
// Files of live servers (their policy file still exists) are kept.
func removeStalePAMFiles(log *slog.Logger) {
	matches, _ := filepath.Glob(filepath.Join("/etc/pam.d", PAMServicePrefix+"*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil || !bytes.HasPrefix(b, []byte("# "+pamMarker+":")) {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "# policy "); ok {
				if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
					log.Info("mariadbtest: removing stale PAM service", "file", m)
					os.Remove(m)
				}
				break
			}
		}
	}
}

func buildChecker(ctx context.Context, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build connbroker-pam-check: %w (set Options.PAMCheckBin)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/connbroker/connbroker/cmd/connbroker-pam-check")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build connbroker-pam-check (run from inside the module, or set Options.PAMCheckBin): %w\n%s", err, tail(b, 20))
	}
	return nil
}

// SetIAMPolicy rewrites the checker's policy, which is read again on every
// login: e.g. set ClockOffset to "20m" to make fresh tokens look expired,
// or Region to another region. The file keeps its secret key unless mutate
// changes it.
func (s *Server) SetIAMPolicy(mutate func(*iamverify.PolicyFile)) error {
	if !s.IAMEnabled {
		return fmt.Errorf("set IAM policy: IAM is not enabled: %s", s.IAMDisabledReason)
	}
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	pf, err := iamverify.LoadPolicyFile(s.PolicyFile)
	if err != nil {
		return fmt.Errorf("set IAM policy: %w", err)
	}
	mutate(&pf)
	if err := iamverify.WritePolicyFile(s.PolicyFile, pf); err != nil {
		return fmt.Errorf("set IAM policy: %w", err)
	}
	return nil
}

// PAMAttempt is one line of the checker's log.
type PAMAttempt struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Service string    `json:"service"`
	Verdict string    `json:"verdict"` // "accept" or "reject"
	Reason  string    `json:"reason"`  // iamverify.Reason of the verdict
	Detail  string    `json:"detail"`  // safe description of a rejection
}

// PAMAttempts returns every login attempt the checker logged, oldest first.
func (s *Server) PAMAttempts() ([]PAMAttempt, error) {
	if s.PAMLog == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.PAMLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read PAM log: %w", err)
	}
	var out []PAMAttempt
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var a PAMAttempt
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("decode PAM log line: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
