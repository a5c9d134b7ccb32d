package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker/safefile"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// maxTemplate bounds a template file.
const maxTemplate = 1 << 20

func renderCmd(ctx context.Context, g *globals) *cobra.Command {
	var o renderOptions
	c := &cobra.Command{
		Use:   "render ENDPOINT --template FILE --out FILE [--watch] [--exec CMD | --signal SIG --pid N]",
		Short: "Write a file from a Go template and fresh params (for programs that read a config file)",
		Long: `render executes a Go text/template with the endpoint's fresh params and
writes the result to --out atomically (a temporary file in the same
directory, fsynced, renamed over the old one) with mode 0600: a reader sees
the old file or the new one, never part of one.

The template's data is the ConnectionParams message: {{.Host}}, {{.Port}},
{{.User}}, {{.Database}}, {{.Credential.Secret}}, {{.Credential.ExpiresAt}},
{{.Tls.Mode}}, {{.Hints.Driver}} (hints of --driver, default mariadb-cli).
Functions:
  mycnf [CLIENT]  a [client] option section for the mariadb client (or
                  "mysql-cli" for Oracle's): the options connect passes as
                  flags (host, port, user, database, TLS, CA file,
                  protocol) and the password, as exec's MYSQL_DEFAULTS_FILE
  dsn DRIVER      the DSN or URL of DRIVER with the secret in it, escaped
                  as that form needs: go-sql-driver, sqlalchemy+pymysql
                  (and the other sqlalchemy+ drivers), connector-j (JDBC URL
                  with user and password properties), mysql2 (a mysql:// URL
                  with the options as JSON query parameters)
  json VALUE      VALUE as JSON (a message as protojson)
  cafile          the path of the CA bundle file (--ca-out, written beside
                  --out when the params carry a CA; else the system bundle)

With --watch, render keeps running: it re-renders at each credential's
refresh_after and at once when the secret rotates (WatchConnectionParams),
reconnecting with backoff when the broker goes away, and runs --exec CMD
(with sh -c) or sends --signal SIG to --pid N only when the file changed.
Without --watch it renders once, and runs the command or sends the signal
if the file changed. The files are left in place when render exits.

Exit codes: 0 written (or unchanged); 1 no credential can be had, or the
command failed; 2 bad usage, an unknown endpoint, a template error (with
file:line:column) or an output directory that cannot be written; 3 the
broker could not be reached or refused. Nothing is half-written.`,
		Example: `  connbroker render orders --template my.cnf.tmpl --out /run/app/my.cnf
  connbroker render orders --template exporter.cnf.tmpl --out /run/exporter/my.cnf --watch \
      --exec 'curl -fsS -X POST http://127.0.0.1:9104/-/reload'
  connbroker render orders --template app.env.tmpl --out /shared/db.env --watch --signal HUP --pid 1`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := newRenderer(ctx, g, args[0], o)
			if err != nil {
				return err
			}
			if !o.watch {
				p, err := g.fetchParams(ctx, args[0], o.driver)
				if err != nil {
					return err
				}
				return r.apply(p)
			}
			return g.watchParams(ctx, args[0], o.driver, false, func(p *v1.ConnectionParams, _ v1.WatchReason) error {
				return r.apply(p)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&o.template, "template", "", "Go text/template file (required)")
	f.StringVar(&o.out, "out", "", "file to write, atomically, mode 0600 (required)")
	f.StringVar(&o.caOut, "ca-out", "", "where to write the CA bundle for cafile and mycnf (default: OUT.ca.pem)")
	f.StringVar(&o.driver, "driver", "mariadb-cli", "driver whose hints are .Hints")
	f.BoolVar(&o.watch, "watch", false, "keep running: re-render at each refresh and rotation")
	f.StringVar(&o.exec, "exec", "", "command to run (sh -c) when the file changed")
	f.StringVar(&o.signal, "signal", "", "signal to send to --pid when the file changed (HUP, USR1, USR2, INT, TERM, QUIT)")
	f.IntVar(&o.pid, "pid", 0, "process to signal (with --signal)")
	return c
}

// renderOptions are render's flags.
type renderOptions struct {
	template, out, caOut, driver string
	watch                        bool
	exec, signal                 string
	pid                          int
}

// signals are the names --signal takes (with or without "SIG").
var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "QUIT": syscall.SIGQUIT,
}

// renderer executes one parsed template into its output file.
type renderer struct {
	ctx      context.Context
	g        *globals
	endpoint string
	o        renderOptions
	sig      syscall.Signal
	tmpl     *template.Template
	// cur are the params being rendered and the other drivers' hints
	// fetched for them; usedCA is set when the template asked for the CA
	// file.
	cur    *v1.ConnectionParams
	hints  map[string]*v1.DriverHints
	usedCA bool
}

// newRenderer checks the flags, reads and parses the template and checks
// that the output directories can be written, before any broker call.
func newRenderer(ctx context.Context, g *globals, endpoint string, o renderOptions) (*renderer, error) {
	r := &renderer{ctx: ctx, g: g, endpoint: endpoint, o: o}
	switch {
	case o.template == "" || o.out == "":
		return nil, usage("render needs --template FILE and --out FILE; see --help")
	case o.exec != "" && o.signal != "":
		return nil, usage("--exec and --signal exclude each other")
	case (o.signal == "") != (o.pid == 0):
		return nil, usage("--signal and --pid go together")
	case o.pid < 0:
		return nil, usage("--pid %d: must be a process id", o.pid)
	}
	if o.signal != "" {
		s, ok := signals[strings.TrimPrefix(strings.ToUpper(o.signal), "SIG")]
		if !ok {
			return nil, usage("--signal %q: use HUP, USR1, USR2, INT, TERM or QUIT", o.signal)
		}
		r.sig = s
	}
	var err error
	if r.o.out, err = filepath.Abs(o.out); err != nil {
		return nil, usage("--out %s: %v", o.out, err)
	}
	if o.caOut == "" {
		r.o.caOut = r.o.out + ".ca.pem"
	} else if r.o.caOut, err = filepath.Abs(o.caOut); err != nil {
		return nil, usage("--ca-out %s: %v", o.caOut, err)
	}
	for _, f := range []string{r.o.out, r.o.caOut} {
		if err := safefile.CheckWritableDir(filepath.Dir(f)); err != nil {
			return nil, usage("cannot write %s: %v", f, err)
		}
	}
	src, _, err := safefile.Read(o.template, maxTemplate)
	if err != nil {
		return nil, usage("--template: %v", err)
	}
	name := filepath.Base(o.template)
	t, err := template.New(name).Option("missingkey=error").Funcs(r.funcs()).Parse(string(src))
	if err != nil {
		return nil, usage("%s", parseErrorWithColumn(err, name, string(src), r.funcs()))
	}
	r.tmpl = t
	return r, nil
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{"mycnf": r.mycnf, "dsn": r.dsn, "json": toJSON, "cafile": r.cafile}
}

// apply renders p and, when the output changed, writes the files and runs
// the command or sends the signal.
func (r *renderer) apply(p *v1.ConnectionParams) error {
	r.cur, r.hints, r.usedCA = p, map[string]*v1.DriverHints{}, false
	var buf bytes.Buffer
	if err := r.tmpl.Execute(&buf, p); err != nil {
		var ee *cmdline.Error
		if errors.As(err, &ee) {
			return err
		}
		return usage("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	caChanged := false
	if pem := p.GetTls().GetCaPem(); r.usedCA && pem != "" {
		var err error
		if caChanged, err = writeIfChanged(r.o.caOut, []byte(pem)); err != nil {
			return &cmdline.Error{Code: cmdline.Failed, Err: err}
		}
	}
	changed, err := writeIfChanged(r.o.out, buf.Bytes())
	if err != nil {
		return &cmdline.Error{Code: cmdline.Failed, Err: err}
	}
	if !changed && !caChanged {
		return nil
	}
	return r.notify()
}

// writeIfChanged writes data to path (atomically, 0600) unless it already
// holds exactly data, and reports whether it wrote.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, fi, err := safefile.Read(path, int64(len(data))); err == nil && bytes.Equal(old, data) && fi.Mode().Perm() == 0o600 {
		return false, nil
	}
	return true, safefile.WriteAtomic(path, data, 0o600)
}

// notify runs --exec or sends --signal after a change.
func (r *renderer) notify() error {
	switch {
	case r.o.exec != "":
		cmd := exec.CommandContext(r.ctx, "/bin/sh", "-c", r.o.exec)
		cmd.Env = childEnv(os.Environ(), nil, nil)
		cmd.Stdout, cmd.Stderr = r.g.out, r.g.errOut
		if err := cmd.Run(); err != nil {
			return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("--exec %q: %w", r.o.exec, err)}
		}
	case r.sig != 0:
		if err := syscall.Kill(r.o.pid, r.sig); err != nil {
			return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("send %s to pid %d: %w", r.o.signal, r.o.pid, err)}
		}
	}
	return nil
}

// hintsFor returns the hints for driverName that go with the params being
// rendered: the watched params' own, or fetched from the broker (the
// secret is always the rendered params').
func (r *renderer) hintsFor(driverName string) (*v1.DriverHints, error) {
	if driverName == r.o.driver || driverName == r.cur.GetHints().GetDriver() {
		return r.cur.GetHints(), nil
	}
	if h, ok := r.hints[driverName]; ok {
		return h, nil
	}
	p, err := r.g.fetchParams(r.ctx, r.endpoint, driverName)
	if err != nil {
		return nil, err
	}
	r.hints[driverName] = p.GetHints()
	return p.GetHints(), nil
}

// cafile is the template function: the CA bundle's path.
func (r *renderer) cafile() string {
	if r.cur.GetTls().GetCaPem() != "" {
		r.usedCA = true
		return r.o.caOut
	}
	for _, f := range systemCABundles {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// mycnf is the template function: a [client] section for the mariadb
// client (or the CLI driver named).
func (r *renderer) mycnf(client ...string) (string, error) {
	name := "mariadb-cli"
	if len(client) > 1 {
		return "", errors.New("mycnf takes at most one client name")
	}
	if len(client) == 1 {
		name = client[0]
	}
	if name != "mariadb-cli" && name != "mysql-cli" && name != "mariadb" && name != "mysql" {
		return "", fmt.Errorf("mycnf %q: use mariadb-cli or mysql-cli", name)
	}
	h, err := r.hintsFor(name)
	if err != nil {
		return "", err
	}
	ca := ""
	if hasCAPlaceholder(h) {
		ca = r.cafile()
	}
	b, err := clientOptionFile("written by connbroker render for endpoint "+r.endpoint, h, ca, r.cur.GetCredential().GetSecret())
	if err != nil {
		return "", &cmdline.Error{Code: cmdline.Failed, Err: err}
	}
	return string(b), nil
}

func hasCAPlaceholder(h *v1.DriverHints) bool {
	for _, o := range h.GetOptions() {
		if s, ok := o.Any().(string); ok && strings.Contains(s, "{ca_file}") {
			return true
		}
	}
	return strings.Contains(h.GetDsn(), "{ca_file}")
}

// dsn is the template function: driverName's DSN or URL with the secret.
func (r *renderer) dsn(driverName string) (string, error) {
	h, err := r.hintsFor(driverName)
	if err != nil {
		return "", err
	}
	d := h.GetDsn()
	if d == "" && h.GetDriver() == "mysql2" {
		return mysql2URL(h, r.cur)
	}
	if d == "" {
		return "", fmt.Errorf("dsn %q: the broker renders no DSN for this driver (DSN forms: go-sql-driver, sqlalchemy+..., connector-j, mysql2); use mycnf, json .Hints or the fields", driverName)
	}
	if strings.Contains(d, "{ca_file}") {
		d = strings.ReplaceAll(d, "{ca_file}", r.cafile())
	}
	return fillDSN(h.GetDriver(), d, r.cur.GetUser(), r.cur.GetCredential().GetSecret())
}

// fillDSN puts the secret into a DSN as its form requires: verbatim for
// go-sql-driver (which takes the password up to the last '@'), in the
// userinfo of a URL (SQLAlchemy), as user and password properties of a
// JDBC URL.
func fillDSN(driverName, dsn, user, secret string) (string, error) {
	switch {
	case strings.Contains(dsn, "{password}") && driverName == "go-sql-driver":
		return strings.ReplaceAll(dsn, "{password}", secret), nil
	case strings.Contains(dsn, "{password}"):
		return strings.ReplaceAll(dsn, "{password}", url.QueryEscape(secret)), nil
	case strings.HasPrefix(dsn, "jdbc:"):
		u, err := url.Parse(strings.TrimPrefix(dsn, "jdbc:"))
		if err != nil {
			return "", fmt.Errorf("parse the broker's JDBC URL: %w", err)
		}
		q := u.Query()
		q.Set("user", user)
		q.Set("password", secret)
		u.RawQuery = q.Encode()
		return "jdbc:" + u.String(), nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("the broker's DSN for %s is not a URL", driverName)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	return u.String(), nil
}

// mysql2URL is the URL form of mysql2's hints, for
// mysql.createConnection(url) / createPool(url): host, port, user,
// database and the secret in the URL's authority and path, every other
// option as a query parameter holding its JSON (mysql2's parseUrl
// JSON-parses each). ssl.ca takes PEM contents in mysql2, so the "{ca_file}"
// placeholder becomes the params' CA PEM, or is dropped when the broker
// sends none (Node's own trust store then applies).
func mysql2URL(h *v1.DriverHints, p *v1.ConnectionParams) (string, error) {
	o := v1.OptionsMap(h.GetOptions())
	host, _ := o["host"].(string)
	port, _ := o["port"].(int64)
	user, _ := o["user"].(string)
	db, _ := o["database"].(string)
	q := url.Values{}
	for k, v := range o {
		switch k {
		case "host", "port", "user", "database":
			continue
		}
		if m, ok := v.(map[string]any); ok {
			for mk, mv := range m {
				if s, ok := mv.(string); ok && strings.Contains(s, "{ca_file}") {
					if pem := p.GetTls().GetCaPem(); pem != "" {
						m[mk] = pem
					} else {
						delete(m, mk)
					}
				}
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("mysql2 option %s: %w", k, err)
		}
		q.Set(k, string(b))
	}
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, p.GetCredential().GetSecret()),
		Host: net.JoinHostPort(host, strconv.FormatInt(port, 10)), Path: "/" + db, RawQuery: q.Encode()}
	return u.String(), nil
}

// toJSON is the template function json: a proto message as protojson,
// anything else with encoding/json.
func toJSON(v any) (string, error) {
	if m, ok := v.(proto.Message); ok {
		b, err := protojson.Marshal(m)
		if err != nil {
			return "", err
		}
		// protojson varies its spacing on purpose; compact it so that the
		// file changes only when the content does.
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return "", err
		}
		return c.String(), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// parseLineRE matches text/template's parse errors: "template: NAME:LINE: MSG".
var parseLineRE = regexp.MustCompile(`^template: (.*?):(\d+): (.*)$`)

// parseErrorWithColumn adds the column to a text/template parse error
// (which names only the line): that of the first action on the line whose
// text, parsed alone up to its end, already fails for a reason other than
// the truncation; else the last action on the line.
func parseErrorWithColumn(err error, name, src string, funcs template.FuncMap) string {
	m := parseLineRE.FindStringSubmatch(err.Error())
	if m == nil || m[1] != name {
		return strings.TrimPrefix(err.Error(), "template: ")
	}
	line, _ := strconv.Atoi(m[2])
	lines := strings.SplitAfter(src, "\n")
	if line < 1 || line > len(lines) {
		return strings.TrimPrefix(err.Error(), "template: ")
	}
	start := len(strings.Join(lines[:line-1], ""))
	text := lines[line-1]
	col := 0
	for i := 0; ; {
		k := strings.Index(text[i:], "{{")
		if k < 0 {
			break
		}
		at := i + k
		col = utf8.RuneCountInString(text[:at]) + 1
		end := len(src)
		if e := strings.Index(src[start+at:], "}}"); e >= 0 {
			end = start + at + e + 2
		}
		_, perr := template.New(name).Funcs(funcs).Parse(src[:end])
		if perr != nil && !strings.Contains(perr.Error(), "unexpected EOF") {
			break
		}
		i = at + 2
	}
	if col == 0 {
		col = 1
	}
	return fmt.Sprintf("%s:%d:%d: %s", name, line, col, m[3])
}
