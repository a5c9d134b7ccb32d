package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/loadgen"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Fake static AWS key: tokens are signed locally and never sent to AWS.
const (
	awsKeyID  = "AKIDCONNBROKERBENCH1"
	awsSecret = "connbroker-bench-secret-access-key"
	iamHost   = "orders.proxy-abc123def456.us-west-2.rds.amazonaws.com"
	iamRegion = "us-west-2"
	iamUser   = "app_orders"
)

type options struct {
	bin, python        string
	duration, warmup   time.Duration
	validateN, pythonN int
	// fleet scale
	fleetN, watchN, validateFleetN, validateConc int
	watchHold                                    time.Duration
	pythonHelperN                                int
	recoveryN                                    int
	// only, when not empty, names the sections to run (see sections).
	only []string
	// profileDir, when set, receives a CPU profile of this process (the
	// load client) per measured load run.
	profileDir string
	rounds     int
	// pprofDir, when set, receives CPU profiles of the daemon (-pprof-dir).
	pprofDir string
}

// sections are the parts of a run -only can pick; memory needs load.
var sections = []string{"load", "inprocess", "validate", "config", "watch", "validate-fleet", "recovery", "python-startup", "python-helper", "memory"}

// profile is the client profile's path for one concurrency's load ("" without -profile-dir).
func (o options) profile(conc int) string {
	if o.profileDir == "" {
		return ""
	}
	return filepath.Join(o.profileDir, fmt.Sprintf("client-%d.pprof", conc))
}

// want reports whether section s runs.
func (o options) want(s string) bool { return len(o.only) == 0 || slices.Contains(o.only, s) }

// row is one line of the results table.
type row struct {
	what, baseline, measured string
	ratio                    float64
	ratioText, target        string
	// ok is nil for informational rows.
	ok *bool
}

func check(ok bool) *bool { return &ok }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	ran := false
	cmd := &cobra.Command{
		Use:   "bench -bin bin -python .venv/bin/python [-duration 3s]",
		Short: "Run the measurements behind make bench and BENCHMARKS.md",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { ran = true; return nil },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError(err) })
	fs := cmd.Flags()
	fs.StringVar(&o.bin, "bin", "bin", "directory with connbrokerd (make build)")
	fs.StringVar(&o.python, "python", ".venv/bin/python", "Python with connbroker and boto3 installed (make venv)")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured time per gRPC load run")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "warm-up per gRPC load run")
	fs.IntVar(&o.validateN, "validate-n", 40, "validations (and bare connects) to time")
	fs.IntVar(&o.pythonN, "python-n", 7, "fresh Python processes per side")
	fs.IntVar(&o.pythonHelperN, "python-helper-n", 40, "connbroker.pymysql.connect() and bare pymysql.connect() calls to time (0 skips)")
	fs.IntVar(&o.fleetN, "fleet-endpoints", 10000, "endpoints in the config-load measurement (0 skips it)")
	fs.IntVar(&o.watchN, "watch-streams", 5000, "concurrent WatchConnectionParams streams (0 skips)")
	fs.DurationVar(&o.watchHold, "watch-hold", time.Minute, "how long the watch streams are held while RSS is sampled each second (the issue: no growth over a minute)")
	fs.IntVar(&o.validateFleetN, "validate-fleet", 1000, "endpoints validated on one MariaDB (0 skips)")
	fs.IntVar(&o.validateConc, "validate-concurrent", 4, "validation.max_concurrent of the validate-fleet daemon")
	fs.IntVar(&o.recoveryN, "recovery-n", 3, "broker restarts to time, and a replica failover (0 skips both)")
	fs.StringVar(&o.profileDir, "profile-dir", "", "write the load client's CPU profile of each concurrency's load here (client-<concurrency>.pprof)")
	fs.IntVar(&o.rounds, "rounds", 6, "turns per call in each load measurement: health and params alternate, duration/rounds each")
	fs.StringVar(&o.pprofDir, "pprof-dir", "", "run the daemons with --pprof and write a CPU profile of the daemon during the validate and validate-fleet sections to this directory")
	fs.StringSliceVar(&o.only, "only", nil, "run only these sections, comma-separated: "+strings.Join(sections, ", ")+" (profiling one part; BENCHMARKS.md is a full run)")
	if err := cli.Execute(cmd, cli.GoFlags(fs, args), stderr, stderr); err != nil || !ran {
		return err // nil after --help
	}
	for _, s := range o.only {
		if !slices.Contains(sections, s) {
			return cli.Usagef("-only %s: no such section (one of %s)", s, strings.Join(sections, ", "))
		}
	}
	if o.want("memory") && !o.want("load") {
		return cli.Usagef("-only memory needs load: the growth check compares two load runs")
	}
	for _, p := range []string{filepath.Join(o.bin, "connbrokerd"), o.python} {
		if _, err := os.Stat(p); err != nil {
			return cli.Usagef("%s: %w (run make build venv, or make bench)", p, err)
		}
	}
	testing.Init()
	log := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	fmt.Fprintf(stdout, "## Machine\n\n%s\n\n", machine())

	dir, err := os.MkdirTemp("", "connbroker-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	log("starting a private MariaDB")
	db, err := mariadbtest.Start(ctx, mariadbtest.Options{Dir: filepath.Join(dir, "mariadb")})
	if err != nil {
		return fmt.Errorf("start mariadb: %w", err)
	}
	defer db.Stop()

	d, err := startDaemon(ctx, o, dir, db)
	if err != nil {
		return err
	}
	defer d.stop()
	// The API's codec, as the Go client (clients/go) dials.
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(v1.Codec{})))
	if err != nil {
		return err
	}
	defer conn.Close()
	cl := v1.NewBrokerServiceClient(conn)
	hc := healthpb.NewHealthClient(conn)
	if err := d.waitReady(ctx, hc); err != nil {
		return err
	}
	time.Sleep(time.Second)
	rssIdle, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return err
	}

	var rows []row
	// 1. gRPC: params vs health at 1 / 32 / 256.
	// As the client helpers ask: no option repeating a ConnectionParams field.
	// The repeat request as the Go client sends it: the CA digest it holds
	// (none here: this endpoint trusts the system store) and the view's.
	paramsReq := &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", OmitParamOptions: true}
	firstParams, err := cl.GetConnectionParams(ctx, paramsReq) // also warms the token cache
	if err != nil {
		return fmt.Errorf("first params: %w", err)
	}
	paramsReq.KnownCaSha256 = firstParams.GetParams().GetTls().GetCaSha256()
	paramsReq.KnownViewSha256 = firstParams.GetParams().GetViewSha256()
	health := func(ctx context.Context) error {
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	params := func(ctx context.Context) error {
		r, err := cl.GetConnectionParams(ctx, paramsReq)
		if err == nil && (!r.GetParams().GetViewOmitted() || r.GetParams().GetCredential().GetSecret() == "") {
			err = fmt.Errorf("repeat params are not the credential for the view held: %v", r.GetParams().GetViewOmitted())
		}
		return err
	}
	var rssLoad, rssLoad2 int64
	for _, c := range []int{1, 32, 256} {
		if !o.want("load") {
			break
		}
		lo := loadgen.Options{Concurrency: c, Duration: o.duration, Warmup: o.warmup, MaxCalls: 2_000_000}
		log("gRPC load, concurrency %d", c)
		rs, cpu, err := alternateWithCPU(ctx, lo, o.rounds, d.cmd.Process.Pid, o.profile(c), health, params)
		if err != nil {
			return err
		}
		h, hcpu, p, pcpu := rs[0], cpu[0], rs[1], cpu[1]
		if h.Errors+p.Errors > 0 {
			return fmt.Errorf("load at concurrency %d: health errors %d (%v), params errors %d (%v)", c, h.Errors, h.FirstError, p.Errors, p.FirstError)
		}
		log("  health: %s; CPU per call: %s", h, hcpu.per(h.Calls))
		log("  params: %s; CPU per call: %s", p, pcpu.per(p.Calls))
		tr := p.Throughput() / h.Throughput()
		pr := float64(p.P99) / float64(h.P99)
		minTr := 0.8 // the issue: >= 0.9x at concurrency 1, >= 0.8x at 32 and 256
		if c == 1 {
			minTr = 0.9
		}
		rows = append(rows,
			row{what: fmt.Sprintf("GetConnectionParams throughput, conc %d", c), baseline: fmt.Sprintf("health %.0f/s", h.Throughput()), measured: fmt.Sprintf("%.0f/s", p.Throughput()), ratio: tr, ratioText: fmt.Sprintf("%.2fx", tr), target: fmt.Sprintf(">= %.1fx", minTr), ok: check(tr >= minTr)},
			row{what: fmt.Sprintf("GetConnectionParams p99, conc %d", c), baseline: "health " + us(h.P99), measured: us(p.P99) + " (p50 " + us(p.P50) + ")", ratio: pr, ratioText: fmt.Sprintf("%.2fx", pr), target: "<= 1.2x", ok: check(pr <= 1.2)},
		)
	}
	if o.want("memory") {
		if rssLoad, err = rss(d.cmd.Process.Pid); err != nil {
			return err
		}
		log("second load run (conc 256, params) for the growth check")
		if _, err := loadgen.Run(ctx, loadgen.Options{Concurrency: 256, Duration: o.duration, MaxCalls: 2_000_000}, params); err != nil {
			return err
		}
		if rssLoad2, err = rss(d.cmd.Process.Pid); err != nil {
			return err
		}
	}

	// 2. In process: cache hit vs BuildAuthToken; the response's encoding cost.
	if o.want("inprocess") {
		r, err := inProcessRows(ctx, cl)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}

	// 3. ValidateConnection vs bare go-sql-driver.
	bareConnect := time.Duration(0)
	if o.want("validate") {
		log("ValidateConnection vs bare go-sql-driver connect + query (%d each)", o.validateN)
		wait := d.cpuProfile("daemon-validate", 2) // -validate-n 400 fills it
		vr, bc, err := validateVsBare(ctx, cl, db, o.validateN, d.cfgPath)
		if err == nil {
			err = wait()
		}
		if err != nil {
			return err
		}
		rows, bareConnect = append(rows, vr...), bc
	}

	// Fleet scale.
	if o.fleetN > 0 && o.want("config") {
		log("config of %d endpoints: start and SIGHUP", o.fleetN)
		fr, err := configLoad(ctx, o, dir, o.fleetN)
		if err != nil {
			return err
		}
		rows = append(rows, fr...)
	}
	if o.watchN > 0 && o.want("watch") {
		log("%d watch streams held %s", o.watchN, o.watchHold)
		wr, err := watchStreams(ctx, d, o.watchN, o.watchHold)
		if err != nil {
			return err
		}
		rows = append(rows, wr...)
	}
	if o.validateFleetN > 0 && o.want("validate-fleet") {
		if bareConnect == 0 { // -only without validate: time the bare login here
			if bareConnect, err = bareMedian(ctx, db, o.validateN); err != nil {
				return err
			}
		}
		log("validate %d endpoints on one MariaDB", o.validateFleetN)
		sessions := tls.NewLRUClientSessionCache(4)
		vf, err := validateFleet(ctx, o, dir, db, o.validateFleetN, o.validateConc, bareConnect, func() error { return bareConnectQuery(ctx, db) },
			func() error { return bareConnectQueryWith(ctx, db, sessions) })
		if err != nil {
			return err
		}
		rows = append(rows, vf...)
	}

	// Outages: a restart and a replica failover, as a helper sees them.
	if o.recoveryN > 0 && o.want("recovery") {
		log("broker restart recovery (%d) and replica failover", o.recoveryN)
		rr, err := restartRecovery(ctx, o, dir, db, o.recoveryN)
		if err != nil {
			return err
		}
		fr, err := replicaFailover(ctx, o, dir, db)
		if err != nil {
			return err
		}
		rows = append(rows, rr, fr)
	}

	// 4. Python startup.
	if o.want("python-startup") {
		log("Python fresh processes (%d each)", o.pythonN)
		pr, err := pythonStartup(ctx, o, d.addr)
		if err != nil {
			return err
		}
		rows = append(rows, pr...)
	}
	if o.pythonHelperN > 0 && o.want("python-helper") {
		log("Python helper vs bare PyMySQL (%d each, alternating)", o.pythonHelperN)
		ph, err := pythonHelper(ctx, o, d.addr, db, o.pythonHelperN)
		if err != nil {
			return err
		}
		rows = append(rows, ph...)
	}

	// 5. Memory.
	if o.want("memory") {
		rssEnd, err := rss(d.cmd.Process.Pid)
		if err != nil {
			return err
		}
		growth := float64(rssLoad2-rssLoad) / float64(rssLoad)
		rows = append(rows,
			row{what: "connbrokerd RSS idle", baseline: "-", measured: mb(rssIdle), ratioText: "-", target: "<= 40 MB", ok: check(rssIdle <= 40<<20)},
			row{what: "connbrokerd RSS after load / after 2nd load / at end", baseline: mb(rssLoad), measured: mb(rssLoad2) + " / " + mb(rssEnd), ratioText: fmt.Sprintf("%+.1f%%", growth*100), target: "no growth (< 10%)", ok: check(growth < 0.10)},
		)
	}

	fmt.Fprintf(stdout, "## Results (one run; load: %s per call in %d alternating turns after a %s warm-up)\n\n", o.duration, o.rounds, o.warmup)
	fmt.Fprintln(stdout, "| what | baseline | measured | ratio | target | met |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	missed := 0
	for _, r := range rows {
		met := "info"
		if r.ok != nil {
			met = "yes"
			if !*r.ok {
				met, missed = "**no**", missed+1
			}
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.baseline, r.measured, r.ratioText, r.target, met)
	}
	fmt.Fprintf(stdout, "\n%d target(s) missed.\n", missed)
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f us", float64(d)/1e3) }
func mb(b int64) string         { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u syscall.Utsname
	kernel := "?"
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		kernel = string(b)
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d cores (%s), GOMAXPROCS %d, Linux %s, %s; load average at start %s. Client, daemon and MariaDB share the machine (loopback).",
		runtime.NumCPU(), model, runtime.GOMAXPROCS(0), kernel, runtime.Version(), load)
}

// cpuUse is the CPU time a load run cost the daemon and this process
// (the load client), measured apart from the wall-clock figures: on a
// shared machine it shows which side a ratio's gap is on.
type cpuUse struct{ daemon, client time.Duration }

func (c cpuUse) per(calls int64) string {
	if calls == 0 {
		return "-"
	}
	n := time.Duration(calls)
	return fmt.Sprintf("daemon %.1f us, client %.1f us", float64(c.daemon/n)/1e3, float64(c.client/n)/1e3)
}

// alternateWithCPU measures calls side by side (loadgen.Alternate: turns
// in alternation, rounds of them), reading the CPU time of the daemon and of
// this process around each turn; with profile set it writes this process's
// CPU profile of the whole measurement there.
func alternateWithCPU(ctx context.Context, lo loadgen.Options, rounds, pid int, profile string, calls ...func(context.Context) error) ([]loadgen.Result, []cpuUse, error) {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu := make([]cpuUse, len(calls))
	var readErr error
	around := func(i int) func() {
		d0, err := procCPU(pid)
		readErr = errors.Join(readErr, err)
		c0 := selfCPU()
		return func() {
			d1, err := procCPU(pid)
			readErr = errors.Join(readErr, err)
			cpu[i].daemon += d1 - d0
			cpu[i].client += selfCPU() - c0
		}
	}
	rs, err := loadgen.Alternate(ctx, lo, rounds, around, calls...)
	return rs, cpu, errors.Join(err, readErr)
}

// procCPU is a process's user + system CPU time (/proc/PID/stat, clock
// ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu: %w", err)
	}
	_, rest, ok := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("read cpu: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read cpu: %w", err)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss reads a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("read rss: no VmRSS line")
}

type daemon struct {
	cmd     *exec.Cmd
	addr    string
	cfgPath string
	logPath string
	done    chan error
	// pprof is the daemon's --pprof address (-pprof-dir), or empty.
	pprof   string
	profDir string
}

// cpuProfile starts fetching a CPU profile of seconds from the daemon's
// --pprof listener into profDir/name.pprof and returns a function that
// waits for it; a no-op without -pprof-dir.
func (d *daemon) cpuProfile(name string, seconds int) (wait func() error) {
	if d.pprof == "" {
		return func() error { return nil }
	}
	errc := make(chan error, 1)
	go func() {
		cl := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
		resp, err := cl.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", d.pprof, seconds))
		if err != nil {
			errc <- fmt.Errorf("profile %s: %w", name, err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(d.profDir, name+".pprof"), b, 0o600)
		}
		if err != nil {
			err = fmt.Errorf("profile %s: %w", name, err)
		}
		errc <- err
	}()
	return func() error { return <-errc }
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startDaemon runs the real connbrokerd with the production options
// (request logging to a file, metrics on): what users run is what is timed.
func startDaemon(ctx context.Context, o options, dir string, db *mariadbtest.Server) (*daemon, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	maddr, err := freePort()
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "native.pw")
	if err := os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`listen: %s
metrics: {listen: %q}
log: {level: info, format: json}
limits: {issue_rate: 1000000, issue_burst: 1000000, watch_streams_per_caller: 100000} # measure the broker, not its per-caller limits
endpoints:
  orders:
    host: %s
    user: %s
    auth: iam
  local:
    host: 127.0.0.1
    port: %d
    user: %s
    database: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, addr, maddr, iamHost, iamUser, db.Port, mariadbtest.NativeUser, mariadbtest.Database, pw, db.CAFile)
	return startWithConfig(o, dir, "connbroker", addr, cfg)
}

// startWithConfig runs connbrokerd --dev on cfg (listening on addr), logging
// to dir/<name>.log.
func startWithConfig(o options, dir, name, addr, cfg string) (*daemon, error) {
	cfgPath := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"--dev", "--config", cfgPath} // a loopback bench without caller identities
	var pprofAddr string
	if o.pprofDir != "" {
		if pprofAddr, err = freePort(); err != nil {
			logf.Close()
			return nil, err
		}
		args = append(args, "--pprof", pprofAddr)
	}
	cmd := exec.Command(filepath.Join(o.bin, "connbrokerd"), args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+awsKeyID, "AWS_SECRET_ACCESS_KEY="+awsSecret, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start connbrokerd: %w", err)
	}
	d := &daemon{cmd: cmd, addr: addr, cfgPath: cfgPath, logPath: logPath, done: make(chan error, 1), pprof: pprofAddr, profDir: o.pprofDir}
	go func() { d.done <- cmd.Wait(); logf.Close() }()
	return d, nil
}

// waitReady polls hc every 10 ms until the daemon answers SERVING, exits
// or 15 s pass. To time a start, hc must be on a readinessClient.
func (d *daemon) waitReady(ctx context.Context, hc healthpb.HealthClient) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case err := <-d.done:
			return fmt.Errorf("connbrokerd exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connbrokerd not serving: %w", err)
		}
		time.Sleep(10 * time.Millisecond) // the resolution of the start figures
	}
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func inProcess(ctx context.Context) []row {
	creds := credentials.NewStaticCredentialsProvider(awsKeyID, awsSecret, "")
	ep := &config.Endpoint{Name: "orders", Host: iamHost, Port: 3306, User: iamUser, Region: iamRegion, Auth: config.AuthIAM}
	iam := credential.NewIAM(creds)
	if _, err := iam.Issue(ctx, ep); err != nil {
		panic(err)
	}
	build := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := auth.BuildAuthToken(ctx, iamHost+":3306", iamRegion, iamUser, creds); err != nil {
				b.Fatal(err)
			}
		}
	})
	hit := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := iam.Issue(ctx, ep); err != nil {
				b.Fatal(err)
			}
		}
	})
	cfg, err := config.Parse("bench", []byte(fmt.Sprintf("endpoints:\n  orders:\n    host: %s\n    user: %s\n    auth: iam\n", iamHost, iamUser)))
	if err != nil {
		panic(err)
	}
	svc := broker.New(cfg, &credential.Router{IAM: iam}, nil)
	params := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Params(ctx, "orders", "pymysql"); err != nil {
				b.Fatal(err)
			}
		}
	})
	speed := float64(build.NsPerOp()) / float64(max(hit.NsPerOp(), 1))
	return []row{
		{what: "cache hit in process (credential.IAM.Issue)", baseline: fmt.Sprintf("BuildAuthToken %d ns, %d allocs", build.NsPerOp(), build.AllocsPerOp()),
			measured: fmt.Sprintf("%d ns, %d allocs", hit.NsPerOp(), hit.AllocsPerOp()), ratioText: fmt.Sprintf("%.0fx faster", speed),
			target: ">= 20x faster, <= 10 allocs", ok: check(speed >= 20 && hit.AllocsPerOp() <= 10)},
		{what: "Service.Params in process (cache hit + pymysql hints)", baseline: "-", measured: fmt.Sprintf("%d ns, %d allocs", params.NsPerOp(), params.AllocsPerOp()),
			ratioText: fmt.Sprintf("%.0fx faster than signing", float64(build.NsPerOp())/float64(max(params.NsPerOp(), 1))), target: "-"},
	}
}

// codecCost times what a params call costs beyond a health check no matter
// how fast the broker is: marshalling the response (server) and
// unmarshalling it (client), both on this machine's two cores, with the
// codec both sides use (v1.Codec: vtprotobuf's generated code for the
// broker's messages, gRPC's proto codec for the health response).
func codecCost(resp *v1.GetConnectionParamsResponse) row {
	health := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	var codec v1.Codec
	cost := func(m proto.Message, fresh func() proto.Message) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf, err := codec.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				if err := codec.Unmarshal(buf, fresh()); err != nil {
					b.Fatal(err)
				}
				buf.Free()
			}
		})
	}
	p := cost(resp, func() proto.Message { return new(v1.GetConnectionParamsResponse) })
	h := cost(health, func() proto.Message { return new(healthpb.HealthCheckResponse) })
	r := float64(p.NsPerOp()) / float64(max(h.NsPerOp(), 1))
	return row{what: fmt.Sprintf("repeat response marshal + unmarshal (%d bytes, v1.Codec)", proto.Size(resp)),
		baseline: fmt.Sprintf("health response %d ns, %d allocs", h.NsPerOp(), h.AllocsPerOp()),
		measured: fmt.Sprintf("%d ns, %d allocs", p.NsPerOp(), p.AllocsPerOp()), ratioText: fmt.Sprintf("%.1fx", r), target: "<= 10x, <= 10 allocs", ok: check(r <= 10 && p.AllocsPerOp() <= 10)}
}

// inProcessRows: the cache hit against BuildAuthToken, and the size and
// codec cost of the repeat response of a password endpoint with a CA and
// PyMySQL hints, as a client holding the CA asks for it.
func inProcessRows(ctx context.Context, cl v1.BrokerServiceClient) ([]row, error) {
	rows := inProcess(ctx)
	first, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true})
	if err != nil {
		return nil, err
	}
	resp, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true, KnownCaSha256: first.GetParams().GetTls().GetCaSha256()})
	if err != nil {
		return nil, err
	}
	held, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true,
		KnownCaSha256: first.GetParams().GetTls().GetCaSha256(), KnownViewSha256: first.GetParams().GetViewSha256()})
	if err != nil {
		return nil, err
	}
	if !held.GetParams().GetViewOmitted() {
		return nil, errors.New("a request naming the view held got the whole params")
	}
	// The repeat as every client helper asks it (CA and view held) is the
	// target; the CA alone is what a client without the view digest gets.
	rows = append(rows, row{what: "repeat response size (password endpoint, PyMySQL hints; CA and view held, as the clients ask)", baseline: fmt.Sprintf("first response %d bytes", proto.Size(first)),
		measured: fmt.Sprintf("%d bytes", proto.Size(held)), ratioText: "-", target: "<= 400 bytes", ok: check(proto.Size(held) <= 400)})
	rows = append(rows, row{what: "same, CA held only (a client that does not name the view)", baseline: fmt.Sprintf("first response %d bytes", proto.Size(first)),
		measured: fmt.Sprintf("%d bytes", proto.Size(resp)), ratioText: "-", target: "-"})
	v, c := codecCost(held), codecCost(resp)
	c.what, c.target, c.ok = strings.Replace(c.what, "repeat response", "CA-held-only repeat response", 1), "-", nil
	return append(rows, v, c), nil
}

// bareMedian is the median of n bare logins (after 3 to warm up).
func bareMedian(ctx context.Context, db *mariadbtest.Server, n int) (time.Duration, error) {
	var ds []time.Duration
	for i := range n + 3 {
		t0 := time.Now()
		if err := bareConnectQuery(ctx, db); err != nil {
			return 0, err
		}
		if i >= 3 {
			ds = append(ds, time.Since(t0))
		}
	}
	return median(ds), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func validateVsBare(ctx context.Context, cl v1.BrokerServiceClient, db *mariadbtest.Server, n int, cfgPath string) ([]row, time.Duration, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, 0, err
	}
	svc := broker.New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil)
	inProc := func() error {
		r, err := svc.Validate(ctx, broker.ValidateRequest{Endpoints: []string{"local"}})
		if err != nil {
			return err
		}
		if !r[0].OK {
			return fmt.Errorf("in-process validation failed: %s", r[0].Reason)
		}
		return nil
	}
	validate := func() error {
		r, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"local"}})
		if err != nil {
			return err
		}
		if !r.GetOk() {
			return fmt.Errorf("validation failed: %s", r.GetResults()[0].GetReason())
		}
		return nil
	}
	bare := func() error { return bareConnectQuery(ctx, db) }
	var vs, bs, ps []time.Duration
	for i := range n + 3 {
		for _, f := range []struct {
			fn  func() error
			out *[]time.Duration
		}{{validate, &vs}, {bare, &bs}, {inProc, &ps}} {
			t0 := time.Now()
			if err := f.fn(); err != nil {
				return nil, 0, err
			}
			if i >= 3 { // the first three warm up
				*f.out = append(*f.out, time.Since(t0))
			}
		}
	}
	mv, mb, mp := median(vs), median(bs), median(ps)
	r := float64(mv) / float64(mb)
	return []row{
		{what: "ValidateConnection over gRPC (TLS + auth + query), median", baseline: "bare go-sql-driver " + us(mb), measured: us(mv),
			ratioText: fmt.Sprintf("%.2fx", r), target: "<= 1.3x", ok: check(r <= 1.3)},
		{what: "Service.Validate in process (no gRPC), median", baseline: "bare go-sql-driver " + us(mb), measured: us(mp),
			ratioText: fmt.Sprintf("%.2fx", float64(mp)/float64(mb)), target: "-"},
	}, mb, nil
}

const pyBroker = `
import sys, time
t0 = time.perf_counter()
import connbroker
c = connbroker.Client(sys.argv[1])
p = c.get_connection_params("orders", driver="pymysql")
assert p.credential.secret.startswith(sys.argv[2])
print(time.perf_counter() - t0, len(sys.modules))
`

const pyBoto = `
import sys, time
t0 = time.perf_counter()
import boto3
tok = boto3.client("rds", region_name=sys.argv[3]).generate_db_auth_token(DBHostname=sys.argv[2], Port=3306, DBUsername=sys.argv[4])
assert tok.startswith(sys.argv[2])
print(time.perf_counter() - t0, len(sys.modules))
`

func pythonStartup(ctx context.Context, o options, addr string) ([]row, error) {
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+awsKeyID, "AWS_SECRET_ACCESS_KEY="+awsSecret, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "PYTHONDONTWRITEBYTECODE=1")
	type sample struct {
		wall, inproc time.Duration
		mods         int
	}
	runPy := func(script string, args ...string) (sample, error) {
		cmd := exec.CommandContext(ctx, o.python, append([]string{"-c", script}, args...)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return sample{}, fmt.Errorf("python: %w: %s", err, errb.String())
		}
		wall := time.Since(t0)
		var secs float64
		var mods int
		if _, err := fmt.Sscan(out.String(), &secs, &mods); err != nil {
			return sample{}, fmt.Errorf("python output %q: %w", out.String(), err)
		}
		return sample{wall: wall, inproc: time.Duration(secs * float64(time.Second)), mods: mods}, nil
	}
	var a, b []sample
	for i := range o.pythonN + 1 {
		sa, err := runPy(pyBroker, addr, iamHost)
		if err != nil {
			return nil, fmt.Errorf("connbroker side: %w", err)
		}
		sb, err := runPy(pyBoto, "", iamHost, iamRegion, iamUser)
		if err != nil {
			return nil, fmt.Errorf("boto3 side (is boto3 in requirements-dev.txt installed?): %w", err)
		}
		if i > 0 { // the first pair warms the page cache
			a, b = append(a, sa), append(b, sb)
		}
	}
	pick := func(s []sample, f func(sample) time.Duration) time.Duration {
		var ds []time.Duration
		for _, x := range s {
			ds = append(ds, f(x))
		}
		return median(ds)
	}
	inA, inB := pick(a, func(s sample) time.Duration { return s.inproc }), pick(b, func(s sample) time.Duration { return s.inproc })
	wA, wB := pick(a, func(s sample) time.Duration { return s.wall }), pick(b, func(s sample) time.Duration { return s.wall })
	r := float64(inA) / float64(inB)
	rw := float64(wA) / float64(wB)
	return []row{
		{what: "Python: import connbroker + first params (fresh process), median", baseline: fmt.Sprintf("import boto3 + 1 token %.0f ms (%d modules)", ms(inB), b[0].mods),
			measured: fmt.Sprintf("%.0f ms (%d modules)", ms(inA), a[0].mods), ratioText: fmt.Sprintf("%.2fx", r), target: "<= 0.5x", ok: check(r <= 0.5)},
		{what: "Python: same, whole process incl. interpreter start", baseline: fmt.Sprintf("%.0f ms", ms(wB)), measured: fmt.Sprintf("%.0f ms", ms(wA)),
			ratioText: fmt.Sprintf("%.2fx", rw), target: "-"},
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// bareConnectQuery is the baseline login: go-sql-driver connects over
// TLS (verify-identity with the peer's CA) and runs the validation's query.
func bareConnectQuery(ctx context.Context, db *mariadbtest.Server) error {
	return bareConnectQueryWith(ctx, db, nil)
}

// bareConnectQueryWith is bareConnectQuery with sessions as the TLS
// session cache (nil: a full handshake every time).
func bareConnectQueryWith(ctx context.Context, db *mariadbtest.Server, sessions tls.ClientSessionCache) error {
	cfg := db.Config(mariadbtest.NativeUser, mariadbtest.NativePassword, true)
	cfg.TLS.ClientSessionCache = sessions
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	dc, err := c.Connect(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	rows, err := dc.(driver.QueryerContext).QueryContext(ctx, "SELECT CURRENT_USER(), @@version", nil)
	if err != nil {
		return err
	}
	vals := make([]driver.Value, 2)
	if err := rows.Next(vals); err != nil {
		return err
	}
	return rows.Close()
}
