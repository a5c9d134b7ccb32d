package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func execCmd(ctx context.Context, g *globals) *cobra.Command {
	var driver, passwordEnv string
	c := &cobra.Command{
		Use:   "exec ENDPOINT [--driver D] -- CMD [ARGS...]",
		Short: "Run a program with the endpoint's connection in its environment and 0600 files",
		Long: `exec runs CMD with these variables set from fresh params:

  MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_DATABASE
  MYSQL_SSL_CA         path of a file holding the CA bundle (when TLS is verified)
  MYSQL_PWD_FILE       path of a 0600 file holding only the secret
  MYSQL_DEFAULTS_FILE  path of a 0600 [client] option file (mariadb client options)
  DATABASE_URL         mysql+pymysql://user@host:port/db, without the secret

plus every environment variable the --driver's hints name. The secret is in
no variable unless --password-env NAME asks for it (with a warning: child
environments are readable in /proc by the same user). The files live in a
private 0700 directory removed when CMD exits. While CMD runs, the
password, option and CA files are rewritten atomically (a temporary file
renamed over the old one) with each fresh credential the broker sends: at
the credential's refresh_after, before it expires, and at once on
rotation; a long-running CMD re-reads them before each new connection. Signals are forwarded to CMD;
the exit code is CMD's.`,
		Example: `  connbroker exec orders -- sh -c 'mysqldump --defaults-extra-file="$MYSQL_DEFAULTS_FILE" orders'
  connbroker exec orders --driver mysqlclient -- python app.py`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usage("exec takes one endpoint, then -- and the command; see --help")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			// The files carry the mariadb client's options; --driver only
			// adds its hints' environment variables.
			p, err := g.fetchParams(ctx, args[0], "mariadb-cli")
			if err != nil {
				return err
			}
			envHints := (*v1.DriverHints)(nil)
			if driver != "" {
				dp, err := g.fetchParams(ctx, args[0], driver)
				if err != nil {
					return err
				}
				envHints = dp.GetHints()
			}
			wd, err := newWorkDir()
			if err != nil {
				return err
			}
			defer wd.Close()
			vars, err := wd.execFiles(p)
			if err != nil {
				return err
			}
			if passwordEnv != "" {
				fmt.Fprintf(g.errOut, "connbroker: warning: --password-env puts the secret in %s, readable in /proc/PID/environ by the same user and inherited by every child\n", passwordEnv)
				vars = append(vars, passwordEnv+"="+p.GetCredential().GetSecret())
			}
			bin, err := exec.LookPath(args[1])
			if p := lookPath(args[1], g.env("PATH")); p != "" {
				bin, err = p, nil
			}
			if err != nil {
				return &cmdline.Error{Code: cmdline.NoClient, Err: fmt.Errorf("%s: not found on PATH", args[1])}
			}
			cmd := exec.Command(bin, args[2:]...)
			cmd.Args[0] = args[1]
			cmd.Env = childEnv(os.Environ(), envHints, vars)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, g.out, g.errOut
			fwd := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
			// While the child runs, rewrite the files (atomically) with each
			// fresh credential the broker sends: at refresh_after, before
			// the previous one expires, and at once on rotation.
			refresh := func(stop <-chan struct{}) {
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				go func() { <-stop; cancel() }()
				g.watchParams(wctx, args[0], "mariadb-cli", true, func(np *v1.ConnectionParams, _ v1.WatchReason) error {
					_, err := wd.execFiles(np)
					return err
				})
			}
			return runChild(cmd, fwd, nil, refresh)
		},
	}
	c.Flags().StringVar(&driver, "driver", "", "driver whose hints' environment variables to set (e.g. mysqlclient)")
	c.Flags().StringVar(&passwordEnv, "password-env", "", "also put the secret in this environment variable (discouraged)")
	return c
}

// execFiles writes the CA, password and option files into the directory
// and returns the variables naming them and the connection.
func (w *workDir) execFiles(p *v1.ConnectionParams) ([]string, error) {
	host, port := p.GetHost(), int64(p.GetPort())
	if h, ok := v1.OptionsMap(p.GetHints().GetOptions())["host"].(string); ok {
		host = h
	}
	if pt, ok := v1.OptionsMap(p.GetHints().GetOptions())["port"].(int64); ok {
		port = pt
	}
	vars := []string{"MYSQL_HOST=" + host, "MYSQL_TCP_PORT=" + strconv.FormatInt(port, 10), "MYSQL_USER=" + p.GetUser(), "MYSQL_DATABASE=" + p.GetDatabase()}
	secret := p.GetCredential().GetSecret()
	ca := ""
	if p.GetTls().GetMode() >= v1.TLSMode_TLS_MODE_VERIFY_CA {
		var err error
		if ca, err = w.caFile(p); err != nil {
			return nil, err
		}
		if ca != "" {
			vars = append(vars, "MYSQL_SSL_CA="+ca)
		}
	}
	cnf, err := clientOptionFile("written by connbroker exec; removed when the command exits", p.GetHints(), ca, secret)
	if err != nil {
		return nil, &cmdline.Error{Code: cmdline.Failed, Err: err}
	}
	pwFile := filepath.Join(w.path, "password")
	if err := writeFileAtomic(pwFile, []byte(secret)); err != nil {
		return nil, err
	}
	vars = append(vars, "MYSQL_PWD_FILE="+pwFile)
	cnfFile := filepath.Join(w.path, "client.cnf")
	if err := writeFileAtomic(cnfFile, cnf); err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "mysql+pymysql", User: url.User(p.GetUser()), Host: host + ":" + strconv.FormatInt(port, 10), Path: "/" + p.GetDatabase()}
	return append(vars, "MYSQL_DEFAULTS_FILE="+cnfFile, "DATABASE_URL="+u.String()), nil
}
