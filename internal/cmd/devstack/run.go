package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/connbroker/connbroker/internal/cli"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

// The local stack's AWS identity: fake static keys that only the private
// MariaDB's PAM checker trusts. They are not secret and reach no AWS service.
const (
	LocalAccessKeyID     = "AKIDCONNBROKERLOCAL1"
	LocalSecretAccessKey = "connbroker-local-fake-secret-not-an-aws-key"
	LocalRegion          = "us-east-1"
	LocalHost            = "127.0.0.1"
)

// Endpoint names written into the broker config.
const (
	EndpointNative  = "local-native"  // app_native, TLS verify-identity
	EndpointPlain   = "local-plain"   // app_native, TLS disabled
	EndpointTLS     = "local-tls"     // app_tls (REQUIRE SSL), verify-identity
	EndpointEd25519 = "local-ed25519" // app_ed25519, verify-identity
	EndpointIAM     = "local-iam"     // app_iam via PAM, auth iam, verify-identity (root only)
	// EndpointRDSProxy is app_iam on the RDS-like endpoint (the MySQL 8
	// protocol peer in RDS-Proxy mode: TLS only, real SigV4 token check).
	EndpointRDSProxy = "local-rds-proxy"
)

type options struct {
	dir            string
	brokerBin      string
	cliBin         string
	listen         string
	readyFile      string
	exitOnStdinEOF bool
	noBroker       bool
	dev            bool
	pamCheckBin    string
	mariadbPort    int
}

// parseFlags parses the command line (Go-style single-dash flags, as the
// Makefile and the Python tests write them, and --flags alike). A help
// request returns pflag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var rest []string
	ran := false
	cmd := &cobra.Command{
		Use:   "devstack -dir D -broker-bin PATH [-listen 127.0.0.1:7700] [-ready-file F] [-exit-on-stdin-eof] [-cli-bin PATH] [-no-broker]",
		Short: "Run the local stack: a private MariaDB and connbrokerd configured for it",
		Args:  cobra.ArbitraryArgs,
		RunE:  func(_ *cobra.Command, a []string) error { ran, rest = true, a; return nil },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError(err) })
	fs := cmd.Flags()
	fs.StringVar(&o.dir, "dir", "", "state directory (MariaDB data, secrets, broker config); required")
	fs.StringVar(&o.brokerBin, "broker-bin", "", "connbrokerd binary to run; required unless -no-broker")
	fs.StringVar(&o.cliBin, "cli-bin", "connbroker", "connbroker CLI, only used in the printed hints")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7700", "broker gRPC listen address (port 0 picks a free port)")
	fs.StringVar(&o.readyFile, "ready-file", "", "write a JSON description of the stack here once it is ready")
	fs.BoolVar(&o.exitOnStdinEOF, "exit-on-stdin-eof", false, "stop when stdin reaches EOF (for a parent process)")
	fs.BoolVar(&o.noBroker, "no-broker", false, "start MariaDB and write the config, but no broker")
	fs.BoolVar(&o.dev, "dev", true, "run connbrokerd with --dev: the local stack identifies no callers (no client CA, no unix socket), which connbrokerd serves only in development mode, on loopback")
	fs.StringVar(&o.pamCheckBin, "pam-check-bin", "", "prebuilt connbroker-pam-check (default: the one next to devstack, else go build it)")
	fs.IntVar(&o.mariadbPort, "mariadb-port", 0, "MariaDB port on 127.0.0.1 (0 picks a free port)")
	if err := cli.Execute(cmd, cli.GoFlags(fs, args), stderr, stderr); err != nil {
		return o, err
	}
	switch {
	case !ran:
		return o, pflag.ErrHelp
	case len(rest) != 0:
		return o, cli.Usagef("unexpected arguments: %s", strings.Join(rest, " "))
	case o.dir == "":
		return o, cli.Usagef("-dir is required")
	case o.brokerBin == "" && !o.noBroker:
		return o, cli.Usagef("-broker-bin is required (or -no-broker)")
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return o, cli.Usagef("-listen %q: %v", o.listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return o, cli.Usagef("-listen %q: the local stack listens on a loopback IP only", o.listen)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return o, cli.Usagef("-listen %q: bad port", o.listen)
	}
	return o, nil
}

// Ready is the JSON written to -ready-file. The AWS keys are the fake
// local keys above, for clients that want to mint tokens themselves (e.g.
// boto3 cross-checks); the file is written with mode 0600.
type Ready struct {
	BrokerAddr         string   `json:"broker_addr"`
	ConfigPath         string   `json:"config_path"`
	CAFile             string   `json:"ca_file"`
	Endpoints          []string `json:"endpoints"`
	MariaDBAddr        string   `json:"mariadb_addr"`
	MariaDBVersion     string   `json:"mariadb_version"`
	IAMEnabled         bool     `json:"iam_enabled"`
	IAMDisabledReason  string   `json:"iam_disabled_reason,omitempty"`
	PAMLog             string   `json:"pam_log,omitempty"`
	SecretsDir         string   `json:"secrets_dir"`
	AWSAccessKeyID     string   `json:"aws_access_key_id"`
	AWSSecretAccessKey string   `json:"aws_secret_access_key"`
	AWSRegion          string   `json:"aws_region"`
	RDSProxyAddr       string   `json:"rds_proxy_addr"`
	RDSProxyCAFile     string   `json:"rds_proxy_ca_file"`
	PID                int      `json:"pid"`
	BrokerPID          int      `json:"broker_pid,omitempty"`
}

func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("resolve -dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make state directory: %w", err)
	}
	if o.readyFile != "" {
		os.Remove(o.readyFile) // never leave a stale "ready" from a previous run
	}
	listen := o.listen
	if strings.HasSuffix(listen, ":0") {
		if listen, err = freeAddr(strings.TrimSuffix(listen, ":0")); err != nil {
			return err
		}
	}

	// Stop on a signal, or on stdin EOF when asked.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.exitOnStdinEOF {
		go func() {
			io.Copy(io.Discard, stdin)
			log.Info("devstack: stdin closed, stopping")
			cancel()
		}()
	}

	if o.pamCheckBin == "" {
		// `make build` puts it next to devstack; otherwise mariadbtest builds it.
		if exe, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(exe), "connbroker-pam-check"); isExecutable(p) {
				o.pamCheckBin = p
			}
		}
	}
	log.Info("devstack: starting MariaDB", "dir", filepath.Join(dir, "mariadb"))
	startCtx, startCancel := context.WithTimeout(ctx, 3*time.Minute)
	srv, err := mariadbtest.Start(startCtx, mariadbtest.Options{
		Dir:  filepath.Join(dir, "mariadb"),
		Port: o.mariadbPort,
		IAM: &mariadbtest.IAMOptions{
			AccessKeyID: LocalAccessKeyID, SecretAccessKey: LocalSecretAccessKey,
			Region: LocalRegion, Host: LocalHost,
		},
		PAMCheckBin: o.pamCheckBin,
		Logger:      log,
	})
	startCancel()
	if err != nil {
		return fmt.Errorf("start MariaDB: %w", err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			log.Error("devstack: stop MariaDB", "err", err)
		}
	}()
	if !srv.IAMEnabled {
		fmt.Fprintf(stderr, "devstack: endpoint %s left out: %s\n", EndpointIAM, srv.IAMDisabledReason)
	}
	rds, rdsCA, err := startRDSLike(ctx, dir, log)
	if err != nil {
		return err
	}
	defer rds.Close()

	secretsDir := filepath.Join(dir, "secrets")
	cfgPath := filepath.Join(dir, "connbroker.yaml")
	names, err := writeBrokerConfig(cfgPath, secretsDir, listen, srv, rds.Port, rdsCA)
	if err != nil {
		return err
	}

	ready := Ready{
		ConfigPath: cfgPath, CAFile: srv.CAFile, Endpoints: names,
		MariaDBAddr: srv.Addr, MariaDBVersion: srv.Version,
		IAMEnabled: srv.IAMEnabled, IAMDisabledReason: srv.IAMDisabledReason, PAMLog: srv.PAMLog,
		SecretsDir:   secretsDir,
		RDSProxyAddr: rds.Addr, RDSProxyCAFile: rdsCA,
		AWSAccessKeyID: LocalAccessKeyID, AWSSecretAccessKey: LocalSecretAccessKey, AWSRegion: LocalRegion,
		PID: os.Getpid(),
	}

	var broker *child
	if !o.noBroker {
		broker, err = startBroker(ctx, o.brokerBin, o.dev, cfgPath, listen, environ, stderr, log)
		if err != nil {
			return err
		}
		defer broker.stop(log)
		ready.BrokerAddr, ready.BrokerPID = listen, broker.cmd.Process.Pid
	}
	if o.readyFile != "" {
		if err := writeJSON(o.readyFile, ready); err != nil {
			return err
		}
	}
	printHints(stdout, o, ready)

	var brokerExited <-chan struct{}
	if broker != nil {
		brokerExited = broker.exited
	}
	select {
	case <-ctx.Done():
		log.Info("devstack: stopping")
		return nil
	case <-brokerExited:
		return fmt.Errorf("broker exited unexpectedly: %v", broker.cmd.ProcessState)
	}
}

// yamlConfig mirrors the broker config format (docs/CONFIGURATION.md); only
// the keys devstack needs.
type yamlConfig struct {
	Listen    string                   `yaml:"listen"`
	Log       yamlLog                  `yaml:"log"`
	Endpoints map[string]*yamlEndpoint `yaml:"endpoints"`
}

type yamlLog struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type yamlEndpoint struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	User     string        `yaml:"user"`
	Database string        `yaml:"database,omitempty"`
	Auth     string        `yaml:"auth"`
	Region   string        `yaml:"region,omitempty"`
	Plugin   string        `yaml:"plugin,omitempty"`
	Password *yamlPassword `yaml:"password,omitempty"`
	TLS      yamlTLS       `yaml:"tls"`
}

type yamlPassword struct {
	File string `yaml:"file"`
}

type yamlTLS struct {
	Mode string `yaml:"mode"`
	CA   string `yaml:"ca,omitempty"`
}

// writeBrokerConfig writes the password files and the broker config and
// returns the endpoint names, sorted.
func writeBrokerConfig(cfgPath, secretsDir, listen string, srv *mariadbtest.Server, rdsPort int, rdsCA string) ([]string, error) {
	if err := os.MkdirAll(secretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("make secrets directory: %w", err)
	}
	if err := os.Chmod(secretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("chmod secrets directory: %w", err)
	}
	secret := func(user, password string) (*yamlPassword, error) {
		p := filepath.Join(secretsDir, user)
		if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write password file for %s: %w", user, err)
		}
		if err := os.Chmod(p, 0o600); err != nil { // an older file keeps its mode on write
			return nil, fmt.Errorf("chmod password file for %s: %w", user, err)
		}
		return &yamlPassword{File: p}, nil
	}
	verify := yamlTLS{Mode: "verify-identity", CA: srv.CAFile}
	ep := func(user, auth string, tls yamlTLS) *yamlEndpoint {
		return &yamlEndpoint{Host: srv.Host, Port: srv.Port, User: user, Database: mariadbtest.Database, Auth: auth, TLS: tls}
	}

	cfg := yamlConfig{Listen: listen, Log: yamlLog{Level: "info", Format: "text"}, Endpoints: map[string]*yamlEndpoint{}}
	for _, e := range []struct {
		name, user, password, plugin string
		tls                          yamlTLS
	}{
		{EndpointNative, mariadbtest.NativeUser, mariadbtest.NativePassword, "mysql_native_password", verify},
		{EndpointPlain, mariadbtest.NativeUser, mariadbtest.NativePassword, "mysql_native_password", yamlTLS{Mode: "disabled"}},
		{EndpointTLS, mariadbtest.TLSUser, mariadbtest.TLSPassword, "mysql_native_password", verify},
		{EndpointEd25519, mariadbtest.Ed25519User, mariadbtest.Ed25519Password, "client_ed25519", verify},
	} {
		pw, err := secret(e.user, e.password)
		if err != nil {
			return nil, err
		}
		cfg.Endpoints[e.name] = ep(e.user, "password", e.tls)
		cfg.Endpoints[e.name].Password = pw
		cfg.Endpoints[e.name].Plugin = e.plugin
	}
	if srv.IAMEnabled {
		iam := ep(mariadbtest.IAMUser, "iam", verify)
		iam.Region = LocalRegion
		cfg.Endpoints[EndpointIAM] = iam
	}
	cfg.Endpoints[EndpointRDSProxy] = &yamlEndpoint{Host: LocalHost, Port: rdsPort, User: mariadbtest.IAMUser, Auth: "iam",
		Region: LocalRegion, TLS: yamlTLS{Mode: "verify-identity", CA: rdsCA}}

	body, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode broker config: %w", err)
	}
	header := "# Written by internal/cmd/devstack for the local stack; rewritten on every start.\n" +
		"# MariaDB " + srv.Addr + " (" + srv.Version + "), CA " + srv.CAFile + "\n"
	if !srv.IAMEnabled {
		header += "# " + EndpointIAM + " left out: " + srv.IAMDisabledReason + "\n"
	}
	if err := os.WriteFile(cfgPath, append([]byte(header), body...), 0o600); err != nil {
		return nil, fmt.Errorf("write broker config: %w", err)
	}
	names := make([]string, 0, len(cfg.Endpoints))
	for n := range cfg.Endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// startRDSLike starts the RDS-like endpoint (internal/testpeer/rdslike)
// trusting the local fake AWS key, and writes its CA to dir.
func startRDSLike(ctx context.Context, dir string, log *slog.Logger) (*rdslike.Endpoint, string, error) {
	rds, err := rdslike.Start(ctx, rdslike.Options{Region: LocalRegion, AccessKeyID: LocalAccessKeyID, SecretAccessKey: LocalSecretAccessKey,
		IAMUsers: []string{mariadbtest.IAMUser}, Logger: log})
	if err != nil {
		return nil, "", fmt.Errorf("start RDS-like endpoint: %w", err)
	}
	ca := filepath.Join(dir, "rdslike-ca.pem")
	if err := os.WriteFile(ca, rds.CAPEM, 0o644); err != nil {
		rds.Close()
		return nil, "", fmt.Errorf("write RDS-like CA: %w", err)
	}
	log.Info("devstack: RDS-like endpoint", "addr", rds.Addr, "endpoint", EndpointRDSProxy)
	return rds, ca, nil
}

// child is the running broker process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// brokerEnv is the environment of the broker: the caller's, minus any AWS
// settings, plus the fake local keys and no IMDS or shared config files.
func brokerEnv(environ []string) []string {
	env := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_")
	})
	return append(env,
		"AWS_ACCESS_KEY_ID="+LocalAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+LocalSecretAccessKey,
		"AWS_REGION="+LocalRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

func startBroker(ctx context.Context, bin string, dev bool, cfgPath, listen string, environ []string, out io.Writer, log *slog.Logger) (*child, error) {
	args := []string{"--config", cfgPath}
	if dev {
		args = append([]string{"--dev"}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = brokerEnv(environ)
	cmd.Stdout, cmd.Stderr = out, out
	// The broker dies with devstack if devstack is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start broker %s: %w", bin, err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	log.Info("devstack: broker started", "pid", cmd.Process.Pid, "listen", listen)

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		conn, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("broker exited before accepting connections on %s: %v (its output is above)", listen, cmd.ProcessState)
		case <-ctx.Done():
			c.stop(log)
			return nil, fmt.Errorf("wait for broker: %w", ctx.Err())
		case <-deadline.C:
			c.stop(log)
			return nil, fmt.Errorf("broker did not accept connections on %s within 30s: %w", listen, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, waits up to 15 s for a graceful shutdown, then kills.
func (c *child) stop(log *slog.Logger) {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		log.Info("devstack: broker stopped", "state", c.cmd.ProcessState.String())
	case <-time.After(15 * time.Second):
		log.Warn("devstack: broker did not stop within 15s; killing", "pid", c.cmd.Process.Pid)
		c.cmd.Process.Kill()
		<-c.exited
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ready file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}

func printHints(w io.Writer, o options, r Ready) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("")
	p("connbroker local stack is up")
	p("  MariaDB      %s (%s)", r.MariaDBAddr, r.MariaDBVersion)
	if r.BrokerAddr != "" {
		p("  broker       %s", r.BrokerAddr)
	} else {
		p("  broker       not started (-no-broker)")
	}
	p("  config       %s", r.ConfigPath)
	p("  CA           %s", r.CAFile)
	p("  endpoints    %s", strings.Join(r.Endpoints, ", "))
	if !r.IAMEnabled {
		p("  IAM          off: %s", r.IAMDisabledReason)
	}
	p("")
	p("next commands to try (another terminal):")
	p("  export CONNBROKER_ADDR=%s", r.BrokerAddr)
	p("  %s endpoints", o.cliBin)
	p("  %s params %s --driver pymysql -o json", o.cliBin, EndpointNative)
	if r.IAMEnabled {
		p("  %s params %s --driver pymysql -o json", o.cliBin, EndpointIAM)
	}
	p("  %s validate --all", o.cliBin)
	p(`  .venv/bin/python -c 'import connbroker.pymysql as cb; c = cb.connect("%s"); cur = c.cursor(); cur.execute("SELECT CURRENT_USER()"); print(cur.fetchone())'`, EndpointNative)
	p("")
	if o.exitOnStdinEOF {
		p("Ctrl-C or closing stdin stops the broker and MariaDB.")
	} else {
		p("Ctrl-C stops the broker and MariaDB.")
	}
}

func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port for the broker: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
