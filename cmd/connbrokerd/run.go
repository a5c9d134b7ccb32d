package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
	"github.com/connbroker/connbroker/server/metrics"
	"github.com/connbroker/connbroker/server/ui"
)

// The daemon's timing.
const (
	// shutdownGrace bounds draining in-flight calls at shutdown.
	shutdownGrace = 10 * time.Second
	// awsCredentialTimeout bounds one request to a container/pod
	// credential endpoint.
	awsCredentialTimeout = 4 * time.Second
	// drainDelay is how long health reports NOT_SERVING before streams
	// are ended and the listener closes.
	drainDelay = 250 * time.Millisecond
)

// restartOnly refuses a reload that changes what only a restart can apply:
// the listeners (TCP and Unix), their TLS, whether callers are identified
// (IdentitiesInUse: tls.client_ca, unix), the audit output and the
// inventory store. Applying
// the rest while these stay old could open access the operator meant to
// close: a reload that dropped unix (or the client CA) would otherwise
// turn identity enforcement off on the running TCP listener. Policy
// changes do reload; with identities in use, removing every rule denies
// every caller, it never opens anything.
func restartOnly(old, nc *config.Config) error {
	var changed []string
	for _, part := range []struct {
		name    string
		differs bool
	}{
		{"listen", old.Listen != nc.Listen},
		{"tls", old.TLS != nc.TLS},
		{"unix", old.Unix != nc.Unix},
		{"caller identities (tls.client_ca, unix)", old.IdentitiesInUse() != nc.IdentitiesInUse()},
		{"audit", old.Audit != nc.Audit},
		{"aws", old.AWS != nc.AWS},
		{"iam", old.IAM != nc.IAM},
		{"inventory", !old.Inventory.Equal(nc.Inventory)},
	} {
		if part.differs {
			changed = append(changed, part.name)
		}
	}
	if len(changed) > 0 {
		return fmt.Errorf("reload: %s changed; these take effect only on a restart (restart connbrokerd, or revert them)", strings.Join(changed, ", "))
	}
	return nil
}

// errNoIdentities is why connbrokerd refuses to start without caller
// identities: every process that reaches the listener would get every
// credential.
var errNoIdentities = errors.New("no caller identities configured (no tls.client_ca, no unix.path): every process that can reach the listener would get every credential. " +
	"Identify callers with tls.client_ca (mTLS) or unix.path (uid:N) and a policy, or pass --dev to serve unidentified callers on loopback for development")

// checkCallers decides whether cfg may serve: with caller identities in
// use always; without them only with --dev, and only on loopback.
func checkCallers(cfg *config.Config, dev bool) error {
	if cfg.IdentitiesInUse() {
		return nil
	}
	if !dev {
		return errNoIdentities
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return fmt.Errorf("--dev serves unidentified callers on a loopback listen address only, not %q: identify callers with tls.client_ca or unix.path", cfg.Listen)
	}
	return nil
}

// devWarning is logged at every start with --dev and no identities.
const devWarning = "DEVELOPMENT MODE (--dev): callers are NOT identified; every local process and user that can connect to the listener gets every credential. Never run this way in production: set tls.client_ca or unix.path and a policy"

// flags are connbrokerd's command line.
type flags struct {
	config, listen, pprof string
	check, dev, refl      bool
}

// run parses args (Go-style single-dash flags are accepted too) and
// serves; cli.Exit maps its error to the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	var f flags
	cmd := &cobra.Command{
		Use:   "connbrokerd --config FILE [--check-config] [--listen HOST:PORT] [--dev] [--reflection] [--pprof 127.0.0.1:PORT]",
		Short: "The connbroker daemon: issues database connection params for named endpoints and validates them",
		Args:  cobra.ArbitraryArgs,
		RunE: func(*cobra.Command, []string) error {
			return serve(ctx, f, lookupEnv, stdout, stderr)
		},
	}
	defCfg, _ := lookupEnv("CONNBROKER_CONFIG")
	fs := cmd.Flags()
	fs.StringVar(&f.config, "config", defCfg, "config file (env CONNBROKER_CONFIG)")
	fs.BoolVar(&f.check, "check-config", false, "validate the config file and exit: 0 valid, 2 invalid")
	fs.StringVar(&f.listen, "listen", "", "override the config's listen address")
	fs.BoolVar(&f.dev, "dev", false, "development mode: serve callers that are not identified (no tls.client_ca, no unix.path), on loopback only, with a warning at start")
	fs.BoolVar(&f.refl, "reflection", false, "serve gRPC server reflection (off by default: it lists every method to any caller)")
	fs.StringVar(&f.pprof, "pprof", "", "serve net/http/pprof on this loopback IP address, e.g. 127.0.0.1:6060 (off by default; refused off loopback: profiles are served to any local process)")
	return cli.Execute(cmd, cli.GoFlags(fs, args), stdout, stderr)
}

func serve(ctx context.Context, f flags, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cfgPath, check, listen, dev, reflect := &f.config, &f.check, &f.listen, &f.dev, &f.refl
	if *cfgPath == "" {
		return cli.Usagef("no config file: pass --config FILE or set CONNBROKER_CONFIG")
	}
	load := func() (*config.Config, error) {
		c, err := config.Load(*cfgPath)
		if err == nil && *listen != "" {
			c.Listen = *listen
			err = c.Validate()
		}
		return c, err
	}
	cfg, err := load()
	if err != nil {
		return cli.UsageError(err)
	}
	callersErr := checkCallers(cfg, *dev)
	if *check {
		for _, w := range cfg.FileWarnings() {
			fmt.Fprintln(stderr, "warning:", w)
		}
		if callersErr != nil {
			fmt.Fprintf(stderr, "warning: connbrokerd would refuse to start with this config: %v\n", callersErr)
		}
		fmt.Fprintf(stdout, "%s: OK (%d endpoints)\n", *cfgPath, len(cfg.Endpoints))
		printSecurityWarnings(stdout, cfg)
		return nil
	}
	if callersErr != nil {
		return cli.UsageError(callersErr)
	}
	if err := checkPprofAddr(f.pprof); err != nil {
		return cli.UsageError(err)
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.FileWarnings() {
		log.Warn("secret file readable by others", "problem", w)
	}
	if !cfg.IdentitiesInUse() {
		log.Warn(devWarning, "listen", cfg.Listen)
	}
	logSecurityWarnings(log, cfg)

	// A credential endpoint that hangs must not wedge the SDK's credential
	// cache (it retrieves on a context that is never cancelled): bound each
	// request so the source is retried, and recovery is automatic.
	// Every connection the AWS clients dial is tracked, so that idle
	// keep-alive ones (and their goroutines) end with run, not 90 s later.
	conns := &awsConns{m: map[*trackedConn]struct{}{}}
	defer conns.Close()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(conns.track)),
		awsconfig.WithEndpointCredentialOptions(func(o *endpointcreds.Options) {
			o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(awsCredentialTimeout).WithTransportOptions(conns.track)
		}))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	if u := cfg.AWS.EndpointURL; u != "" {
		awsCfg.BaseEndpoint = &u // every AWS client: an emulator such as moto (aws.go)
	}
	mx := metrics.New()
	passwords := credential.NewPasswords(lookupEnv)
	issuer := &credential.Router{
		IAM:      credential.NewIAM(awsCfg.Credentials, append(credential.IAMOptionsFromConfig(cfg), credential.WithLogger(log), credential.WithSink(mx), credential.WithRoles(roleProviders(awsCfg)))...),
		Password: passwords,
		Secrets:  credential.NewSecrets(secretsmanager.NewFromConfig(awsCfg)),
	}
	svc := broker.New(cfg, issuer, log)
	svc.Subscribe(mx) // the metrics consume the event stream; server.Extras.Audit subscribes the audit log
	// The fleet page (/ui/ on the metrics listener) keeps each endpoint's
	// last validation from the same stream.
	lastValidations := ui.NewValidations()
	svc.Subscribe(lastValidations)
	enableAWSAPI(ctx, svc, awsCfg, cfg, log)
	conf := newConfigurator(svc, cfg, awsCfg, log) // discovery.go
	confCtx, stopConf := context.WithCancel(ctx)
	confDone := make(chan struct{})
	go func() { defer close(confDone); conf.Run(confCtx) }()
	defer func() { stopConf(); <-confDone }()

	// The fleet page draws the last ValidateConnection answer too.
	opts := append(mx.ServerOptions(), grpc.ChainUnaryInterceptor(ui.CaptureValidations(lastValidations)))
	var tcpCreds credentials.TransportCredentials
	if cfg.TLS.Enabled() {
		tc, err := serverTLS(cfg.TLS)
		if err != nil {
			return cli.UsageError(err)
		}
		tcpCreds = credentials.NewTLS(tc)
	}
	if cfg.Unix.Path != "" {
		opts = append(opts, grpc.Creds(server.WithPeerCred(tcpCreds)))
	} else if tcpCreds != nil {
		opts = append(opts, grpc.Creds(tcpCreds))
	}
	if !cfg.TLS.Enabled() && cfg.Insecure {
		log.Warn("insecure: true: serving without TLS; requests and the secrets in responses cross the network in clear text", "listen", cfg.Listen)
	}
	audit, closeAudit, err := server.OpenAudit(cfg.Audit, stdout, log)
	if err != nil {
		return cli.UsageError(err)
	}
	defer closeAudit.Close()
	drain := make(chan struct{}) // closed at shutdown: ends every stream
	audit.FailClosed(cfg.Audit.OnError == config.AuditDeny).CountErrors(mx.AuditWriteErrors)
	inv, err := openInventory(ctx, cfg, svc, mx, log)
	if err != nil {
		return err
	}
	extras := server.Extras{Audit: audit, Shutdown: drain}
	if inv != nil {
		defer inv.Close() // after the gRPC server stopped (deferred later, runs first): writes what is pending
		extras.Inventory = inv
		svc.SetInventory(preflight.FromInventory(inv)) // Preflight plays the apps it recorded
	}
	gs, hs := server.NewGRPCServerWith(svc, log, extras, opts...)
	if *reflect {
		reflection.Register(gs)
		log.Info("gRPC server reflection on (--reflection)")
	}
	mx.GRPC.InitializeMetrics(gs)
	uiOpts := ui.Options{Fleet: svc, Validations: lastValidations, Log: log}
	if inv != nil {
		uiOpts.Preflight = uiPreflight{svc: svc}
	}
	fleet, err := ui.New(uiOpts)
	if err != nil {
		return err
	}
	stopMetrics, err := serveMetricsWith(cfg, metricsRoutes(mx, fleet), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	_, stopPprof, err := servePprof(f.pprof, log)
	if err != nil {
		return err
	}
	defer stopPprof()
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("connbrokerd serving", "addr", lis.Addr().String(), "endpoints", len(cfg.Endpoints), "tls", cfg.TLS.Enabled(), "mtls", cfg.TLS.ClientCA != "", "unix", cfg.Unix.Path != "", "identities", cfg.IdentitiesInUse())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hupDone := make(chan struct{})
	defer func() { // end the reload goroutine: no more signals after Stop, so close is safe
		signal.Stop(hup)
		close(hup)
		<-hupDone
	}()
	go func() {
		defer close(hupDone)
		for range hup {
			if err := audit.Reopen(); err != nil {
				log.Error("reopen audit file; still writing to the old one", "err", err)
			}
			nc, err := load()
			if err == nil {
				err = restartOnly(svc.Config(), nc)
			}
			if err != nil {
				log.Error("config reload rejected; keeping the old config", "err", err)
				svc.RejectReload(ctx, err)
				continue
			}
			before := svc.Config()
			conf.SetBase(nc)
			svc.ReloadApplied(ctx, before)
			log.Info("config reloaded", "endpoints", len(nc.Endpoints))
		}
	}()

	serveErr := make(chan error, 2)
	go func() { serveErr <- gs.Serve(lis) }()
	if cfg.Unix.Path != "" {
		ul, err := listenUnix(cfg.Unix)
		if err != nil {
			gs.Stop()
			return err
		}
		defer os.Remove(cfg.Unix.Path)
		log.Info("connbrokerd serving on unix socket", "path", cfg.Unix.Path, "mode", cfg.Unix.Mode, "group", cfg.Unix.Group)
		go func() { serveErr <- gs.Serve(ul) }()
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_delay", drainDelay, "grace", shutdownGrace)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(v1.BrokerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	time.Sleep(drainDelay) // let health watchers and load balancers see NOT_SERVING
	close(drain)
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		gs.Stop()
	}
	return nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

func serverTLS(c config.ServerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: load cert/key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.client_ca: no certificate in file")
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
