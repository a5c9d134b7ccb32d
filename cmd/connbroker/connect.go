package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/safefile"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// clientNames are the CLI programs connect looks for, in this order.
var clientNames = []string{"mariadb", "mysql"}

func connectCmd(ctx context.Context, g *globals) *cobra.Command {
	var client string
	c := &cobra.Command{
		Use:   "connect ENDPOINT [-- CLIENT-ARGS...]",
		Short: "Start the mysql or mariadb client, logged in to an endpoint with a fresh credential",
		Long: `connect starts the mariadb or mysql client found on PATH (told apart by its
--version) with exactly the flags the broker's hints name for that client:
host, port, user, database, TLS mode and CA file, --protocol=TCP for
localhost, the clear-text opt-in and public-key options where that client
needs them. Arguments after -- go to the client unchanged.

The credential comes fresh from the broker and is never in any process's
argv or environment: the client reads it from a 0600 option file
(--defaults-extra-file, a FIFO in a private 0700 directory) that is removed
as soon as the client has read it.

Exit codes: the client's; 2 bad usage or an unknown endpoint; 3 the broker
could not be reached or refused; 127 no client installed.`,
		Example: `  connbroker connect local-iam
  connbroker connect orders -- -e 'SELECT CURRENT_USER()'
  connbroker connect orders --client /opt/mysql/bin/mysql`,
		Args: func(cmd *cobra.Command, args []string) error {
			if n := cmd.ArgsLenAtDash(); n > 1 || (n < 0 && len(args) != 1) || n == 0 {
				return usage("connect takes one endpoint, then optionally -- and the client's arguments; see --help")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, driverName, err := findClient(client, g.env("PATH"))
			if err != nil {
				return err
			}
			p, err := g.fetchParams(ctx, args[0], driverName)
			if err != nil {
				return err
			}
			return connect(g, bin, p, args[1:])
		},
	}
	c.Flags().StringVar(&client, "client", "", "client program (name on PATH or path); default: mariadb, else mysql")
	return c
}

// fetchParams gets fresh params for endpoint with driver's hints; exit
// code 1 when no credential can be had (as token).
func (g *globals) fetchParams(ctx context.Context, endpoint, driverName string) (*v1.ConnectionParams, error) {
	var p *v1.ConnectionParams
	err := g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
		resp, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: endpoint, Driver: driverName})
		if err != nil {
			if noCredential(err) {
				return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: no credential: %s", endpoint, status.Convert(err).Message())}
			}
			return err
		}
		p = resp.GetParams()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.GetCredential().GetSecret() == "" {
		return nil, &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: the broker sent no credential", endpoint)}
	}
	return p, nil
}

// findClient finds the CLI program (want, or the first of clientNames on
// pathEnv) and tells Oracle's client from MariaDB's by its --version.
func findClient(want, pathEnv string) (bin, driverName string, err error) {
	names := clientNames
	if want != "" {
		names = []string{want}
	}
	for _, n := range names {
		if bin = lookPath(n, pathEnv); bin != "" {
			break
		}
	}
	if bin == "" {
		what := "no mysql or mariadb client on PATH"
		if want != "" {
			what = fmt.Sprintf("--client %s: not found or not executable", want)
		}
		return "", "", &cmdline.Error{Code: cmdline.NoClient, Err: errors.New(what + ": install the Debian package mariadb-client (or default-mysql-client; Oracle's mysql-client elsewhere), or pass --client PATH")}
	}
	vctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "--version").Output()
	if err != nil {
		return "", "", &cmdline.Error{Code: cmdline.NoClient, Err: fmt.Errorf("%s --version: %w", bin, err)}
	}
	driverName, err = clientDriver(string(out))
	if err != nil {
		return "", "", &cmdline.Error{Code: cmdline.NoClient, Err: fmt.Errorf("%s: %w", bin, err)}
	}
	return bin, driverName, nil
}

// clientDriver names the driver descriptor of a client from its --version
// output: "mariadb  Ver 15.1 Distrib 10.11.19-MariaDB, ..." or "mariadb from
// 11.4.2-MariaDB, client 15.2" is MariaDB's; "mysql  Ver 8.0.36 for Linux
// on x86_64 (MySQL Community Server - GPL)" is Oracle's.
func clientDriver(version string) (string, error) {
	switch {
	case strings.Contains(version, "MariaDB"):
		return "mariadb-cli", nil
	case strings.Contains(version, "MySQL") || strings.Contains(version, " Ver 8.") || strings.Contains(version, " Ver 9."):
		return "mysql-cli", nil
	}
	return "", fmt.Errorf("not a mysql or mariadb client (--version said %q)", strings.TrimSpace(firstLine(version)))
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// lookPath finds name (a path, or a name searched in pathEnv) as an
// executable file; "" when there is none.
func lookPath(name, pathEnv string) string {
	isExec := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
	}
	if strings.Contains(name, "/") {
		if isExec(name) {
			return name
		}
		return ""
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); isExec(p) {
			return p
		}
	}
	return ""
}

// systemCABundles are where distributions keep the system trust store,
// used for "{ca_file}" when the broker sends no CA (the system store).
var systemCABundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// workDir is a private 0700 directory for the files one child needs: the
// CA bundle and the secret's option file. Close removes it.
type workDir struct{ path string }

func newWorkDir() (*workDir, error) {
	d, err := os.MkdirTemp("", "connbroker-")
	if err != nil {
		return nil, fmt.Errorf("make private directory: %w", err)
	}
	return &workDir{path: d}, nil
}

func (w *workDir) Close() error { return os.RemoveAll(w.path) }

// caFile writes the params' CA PEM into the directory (0600) and returns
// its path; with no CA PEM, the system bundle, or "" when none is found.
func (w *workDir) caFile(p *v1.ConnectionParams) (string, error) {
	pem := p.GetTls().GetCaPem()
	if pem == "" {
		for _, f := range systemCABundles {
			if _, err := os.Stat(f); err == nil {
				return f, nil
			}
		}
		return "", nil
	}
	path := filepath.Join(w.path, "ca.pem")
	if err := writeFileAtomic(path, []byte(pem)); err != nil {
		return "", err
	}
	return path, nil
}

// cliOption is one CLI hint option: --name=value, or a bare --name when
// bare (a true flag).
type cliOption struct {
	name, value string
	bare        bool
}

// cliOptions are the CLI hints' options in hint order (sorted by name):
// true flags bare (false is left out); "{ca_file}" becomes caFile, and an
// option that needs a CA file is left out when there is none. connect
// passes them as flags; exec and render write them into option files.
func cliOptions(h *v1.DriverHints, caFile string) []cliOption {
	var out []cliOption
	for _, o := range h.GetOptions() {
		switch v := o.Any().(type) {
		case bool:
			if v {
				out = append(out, cliOption{name: o.GetName(), bare: true})
			}
		case int64:
			out = append(out, cliOption{name: o.GetName(), value: strconv.FormatInt(v, 10)})
		case string:
			if strings.Contains(v, "{ca_file}") {
				if caFile == "" {
					continue
				}
				v = strings.ReplaceAll(v, "{ca_file}", caFile)
			}
			out = append(out, cliOption{name: o.GetName(), value: v})
		}
	}
	return out
}

// cliFlags are cliOptions as long flags.
func cliFlags(h *v1.DriverHints, caFile string) []string {
	var out []string
	for _, o := range cliOptions(h, caFile) {
		if o.bare {
			out = append(out, "--"+o.name)
		} else {
			out = append(out, "--"+o.name+"="+o.value)
		}
	}
	return out
}

// clientOptionFile is a [client] option file for the mariadb or mysql
// client (and everything that reads one: libmysqlclient and Connector/C's
// read_default_file, mysqld_exporter, mydumper): the header comment, the
// CLI hints' options (the flags connect passes) and the secret. Values are
// quoted only when they need it; the secret always is.
func clientOptionFile(header string, h *v1.DriverHints, caFile, secret string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# " + header + "\n[client]\n")
	for _, o := range cliOptions(h, caFile) {
		if o.bare {
			b.WriteString(o.name + "\n")
			continue
		}
		v := o.value
		if v == "" || strings.ContainsAny(v, " \t#;'\"\\") {
			q, err := optionValue(v)
			if err != nil {
				return nil, fmt.Errorf("option %s: %w", o.name, err)
			}
			v = q
		} else if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("option %s holds a line break", o.name)
		}
		b.WriteString(o.name + "=" + v + "\n")
	}
	v, err := optionValue(secret)
	if err != nil {
		return nil, err
	}
	b.WriteString("password=" + v + "\n")
	return []byte(b.String()), nil
}

// optionValue quotes s for a MySQL/MariaDB option file: in double quotes
// (single quotes when s holds a double quote) so that '#' and spaces are
// kept, with backslashes doubled (the reader turns "\\" back into "\"). A
// secret holding a newline or both kinds of quote cannot be written.
func optionValue(s string) (string, error) {
	if strings.ContainsAny(s, "\n\r\x00") {
		return "", errors.New("the secret holds a line break or NUL, which an option file cannot carry")
	}
	q := `"`
	if strings.Contains(s, `"`) {
		if strings.Contains(s, "'") {
			return "", errors.New("the secret holds both kinds of quote, which an option file cannot carry")
		}
		q = "'"
	}
	return q + strings.ReplaceAll(s, `\`, `\\`) + q, nil
}

// passwordOptionFile is a [client] option file carrying only the secret.
func passwordOptionFile(secret string) ([]byte, error) {
	v, err := optionValue(secret)
	if err != nil {
		return nil, err
	}
	return []byte("# written by connbroker; removed once read\n[client]\npassword=" + v + "\n"), nil
}

// secretFIFO serves content once through a 0600 FIFO at path, and removes
// it as soon as the content has been read.
type secretFIFO struct {
	path string
	done chan struct{}
}

func newSecretFIFO(path string, content []byte) (*secretFIFO, error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("make option file fifo: %w", err)
	}
	f := &secretFIFO{path: path, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer os.Remove(path)
		// Blocks until a reader opens the FIFO.
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(content)
		w.Close()
	}()
	return f, nil
}

// Close unblocks a writer still waiting for its reader, discarding the
// content, and waits until the FIFO is removed.
func (f *secretFIFO) Close() {
	select {
	case <-f.done:
		return
	default:
	}
	if fd, err := syscall.Open(f.path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
		<-f.done
		syscall.Close(fd)
	}
	<-f.done
}

// connect runs the client bin with the hints' flags and the secret in a
// FIFO option file, and returns its exit code as a cmdline.Error.
func connect(g *globals, bin string, p *v1.ConnectionParams, clientArgs []string) error {
	wd, err := newWorkDir()
	if err != nil {
		return err
	}
	defer wd.Close()
	ca, err := wd.caFile(p)
	if err != nil {
		return err
	}
	content, err := passwordOptionFile(p.GetCredential().GetSecret())
	if err != nil {
		return &cmdline.Error{Code: cmdline.Failed, Err: err}
	}
	fifo, err := newSecretFIFO(filepath.Join(wd.path, "client.cnf"), content)
	if err != nil {
		return err
	}
	defer fifo.Close()
	// --defaults-extra-file must come first: both clients read the
	// option-file options only at the start of the command line.
	argv := append([]string{"--defaults-extra-file=" + fifo.path}, cliFlags(p.GetHints(), ca)...)
	argv = append(argv, clientArgs...)
	for _, w := range p.GetHints().GetWarnings() {
		fmt.Fprintln(g.errOut, "connbroker: warning:", w)
	}
	cmd := exec.Command(bin, argv...)
	cmd.Env = childEnv(os.Environ(), p.GetHints(), nil)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, g.out, g.errOut
	// The terminal sends SIGINT and SIGQUIT to the client too (same process
	// group): catch and drop them here, as system(3) does, so that Ctrl-C
	// stops the client's query and not connbroker. Forward the others.
	return runChild(cmd, []os.Signal{syscall.SIGTERM, syscall.SIGHUP}, []os.Signal{syscall.SIGINT, syscall.SIGQUIT}, nil)
}

// childEnv is base without MYSQL_PWD (an inherited password would compete
// with the broker's), plus the hints' environment variables and extra.
func childEnv(base []string, h *v1.DriverHints, extra []string) []string {
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool { return strings.HasPrefix(kv, "MYSQL_PWD=") })
	for _, e := range h.GetEnv() {
		env = append(env, e.GetName()+"="+e.GetValue())
	}
	return append(env, extra...)
}

// runChild starts cmd, forwards the signals in forward to it, catches and
// drops those in drop, runs tick (when not nil) until it exits (and waits
// for tick to return), and returns
// its exit status as a cmdline.Error (128+N for a child killed by signal N).
func runChild(cmd *exec.Cmd, forward, drop []os.Signal, tick func(stop <-chan struct{})) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, append(slices.Clone(forward), drop...)...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return &cmdline.Error{Code: cmdline.NoClient, Err: fmt.Errorf("start %s: %w", cmd.Path, err)}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	stop := make(chan struct{})
	ticked := make(chan struct{})
	if tick != nil {
		go func() { defer close(ticked); tick(stop) }()
	} else {
		close(ticked)
	}
	// Stop tick and wait for it, so that it writes nothing after return.
	defer func() { close(stop); <-ticked }()
	for {
		select {
		case s := <-sigs:
			if slices.Contains(forward, s) {
				cmd.Process.Signal(s)
			}
		case err := <-waited:
			return childExit(err)
		}
	}
}

// childExit maps a child's Wait error to a cmdline.Error with its code.
func childExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &cmdline.Error{Code: 128 + int(ws.Signal())}
		}
		return &cmdline.Error{Code: ee.ExitCode()}
	}
	return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("wait for child: %w", err)}
}

// writeFileAtomic writes data to path with mode 0600, atomically
// (safefile.WriteAtomic).
func writeFileAtomic(path string, data []byte) error { return safefile.WriteAtomic(path, data, 0o600) }

// env returns the variable name of run's environment, "" when unset.
func (g *globals) env(name string) string {
	v, _ := g.lookupEnv(name)
	return v
}
