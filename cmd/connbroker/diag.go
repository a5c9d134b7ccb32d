package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
)

// parseHostPort accepts HOST:PORT, [IPv6]:PORT or HOST (port 3306).
func parseHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") == 0 && s != "" {
			host, port = s, "3306"
		} else {
			return "", fmt.Errorf("%q is not HOST:PORT (e.g. db.example.com:3306 or [::1]:3306)", s)
		}
	}
	n, err := strconv.Atoi(port)
	if host == "" || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q is not HOST:PORT: the port must be a number from 1 to 65535 and the host must be set", s)
	}
	return net.JoinHostPort(host, port), nil
}

func probeCmd(ctx context.Context, g *globals) *cobra.Command {
	var (
		viaBroker  bool
		mode       string
		caFile     string
		serverName string
	)
	c := &cobra.Command{
		Use:   "probe HOST:PORT | probe --endpoint NAME",
		Short: "Show what a server announces (version, auth plugin, TLS, capabilities) and what kind of endpoint its name denotes; no credentials",
		Long: `probe connects without credentials and stops after the greeting (and the TLS
upgrade): it prints the server version, the default auth plugin, whether TLS
is offered (and the certificate), the capability flags, and what the host
name says the endpoint is (RDS instance, Aurora cluster/reader/custom, RDS
Proxy or proxy endpoint, or plain MySQL/MariaDB) with its region.

HOST:PORT is probed from this machine; no broker is needed. With --endpoint
the broker probes a configured endpoint with its TLS settings.

Exit codes: 0 the server greeted, 1 it did not (see the findings), 2 bad
usage, 3 the broker could not be reached.`,
		Example: `  connbroker probe 127.0.0.1:3306
  connbroker probe orders.proxy-abc123.us-west-2.rds.amazonaws.com:3306 --tls verify-identity
  connbroker probe --endpoint orders`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := g.check(); err != nil {
				return err
			}
			var res *v1.ProbeResult
			if viaBroker {
				err := g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
					resp, err := cl.ProbeEndpoint(ctx, &v1.ProbeEndpointRequest{Endpoint: args[0]})
					res = resp.GetProbe()
					return err
				})
				if err != nil {
					return err
				}
			} else {
				addr, err := parseHostPort(args[0])
				if err != nil {
					return usage("%v", err)
				}
				var caPEM []byte
				if caFile != "" {
					if caPEM, err = os.ReadFile(caFile); err != nil {
						return usage("--ca: %v", err)
					}
				}
				m := config.TLSMode(mode)
				tc, err := dbtls.Config(m, caPEM, serverName)
				if err != nil {
					return usage("--tls %q / --ca: %v (modes: disabled, preferred, required, verify-ca, verify-identity)", mode, err)
				}
				if tc != nil && tc.ServerName == "" {
					tc.ServerName, _, _ = net.SplitHostPort(addr)
				}
				cctx, cancel := context.WithTimeout(ctx, g.timeout)
				defer cancel()
				p := &handshake.Probe{Timeouts: handshake.Timeouts{Dial: g.timeout / 2, Greeting: g.timeout / 2, TLS: g.timeout / 2}}
				res = server.ProbeResultToProto(broker.ProbeAddr(cctx, p, addr, tc, m.Requires()))
			}
			if err := printProbe(g, res); err != nil {
				return err
			}
			if res.GetTranscript().GetResult() != v1.HandshakeResult_HANDSHAKE_RESULT_GREETED {
				return &cmdline.Error{Code: cmdline.Failed}
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&viaBroker, "endpoint", false, "the argument is a configured endpoint name, probed by the broker")
	f.StringVar(&mode, "tls", "preferred", "TLS mode for the local probe: disabled, preferred, required, verify-ca, verify-identity")
	f.StringVar(&caFile, "ca", "", "PEM file of CA certificates to verify the server with (default: system trust store)")
	f.StringVar(&serverName, "server-name", "", "name to verify the certificate against (default: the host)")
	return c
}

func printProbe(g *globals, r *v1.ProbeResult) error {
	if g.output == "json" {
		return printJSON(g, r)
	}
	w := tabwriter.NewWriter(outOf(g), 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("address", r.GetAddr())
	kind := r.GetEndpointKind().Label()
	if r.GetRegion() != "" {
		kind += fmt.Sprintf(" (region %s, partition %s)", r.GetRegion(), r.GetPartition().Label())
	} else {
		kind += " (the host name is not an RDS endpoint name)"
	}
	row("endpoint kind", kind)
	if r.GetServerVersion() != "" {
		row("server", r.GetFlavor().Label()+" "+r.GetServerVersion())
		row("auth plugin", dash(r.GetAuthPlugin()))
		tlsLine := "not offered"
		if r.GetTlsOffered() {
			tlsLine = "offered"
		}
		for _, e := range r.GetTranscript().GetEvents() {
			if e.GetKind() == v1.EventKind_EVENT_KIND_TLS {
				tlsLine += "; " + strings.TrimPrefix(e.GetSummary(), "TLS ")
			}
		}
		row("tls", tlsLine)
		row("capabilities", strings.Join(r.GetCapabilities(), " "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	printFindings(outOf(g), r.GetFindings())
	fmt.Fprintln(outOf(g), "\ntranscript:")
	printTranscript(outOf(g), r.GetTranscript())
	return nil
}

func printFindings(out io.Writer, fs []*v1.Finding) {
	for _, f := range fs {
		sev := strings.ToLower(strings.TrimPrefix(f.GetSeverity().String(), "FINDING_SEVERITY_"))
		fmt.Fprintf(out, "\n[%s] %s\n  cause: %s\n  fix:   %s\n", sev, f.GetCode(), f.GetCause(), f.GetFix())
	}
}

// printValidationFindings lists the error and warning findings of failed
// endpoints under the validate table (connbroker diagnose shows all).
func printValidationFindings(out io.Writer, r *v1.ValidateConnectionResponse) {
	for _, e := range r.GetResults() {
		if e.GetOk() {
			continue
		}
		for _, f := range e.GetFindings() {
			if f.GetSeverity() == v1.FindingSeverity_FINDING_SEVERITY_INFO {
				continue
			}
			fmt.Fprintf(out, "%s: %s: %s\n  fix: %s\n", e.GetEndpoint(), f.GetCode(), f.GetCause(), f.GetFix())
		}
	}
}

func printTranscript(out io.Writer, t *v1.Transcript) {
	if t == nil {
		fmt.Fprintln(out, "  (none)")
		return
	}
	for _, e := range t.GetEvents() {
		fmt.Fprintf(out, "  %+9.3fms %-6s %-20s %s", float64(e.GetAt().AsDuration().Microseconds())/1000, e.GetDirection().Label(), e.GetKind().Label(), e.GetSummary())
		if fs := e.GetFields(); len(fs) > 0 && e.GetKind() != v1.EventKind_EVENT_KIND_GREETING {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(fs)) {
				if k == "capabilities" {
					continue
				}
				kv = append(kv, fmt.Sprintf("%s=%q", k, fs[k]))
			}
			if len(kv) > 0 {
				fmt.Fprintf(out, " [%s]", strings.Join(kv, " "))
			}
		}
		fmt.Fprintln(out)
	}
}

// matchDriver returns the display names (the prediction table's Driver
// column) that --driver selects: any name or alias broker/driver knows, else
// a prefix of a display name (case-insensitive); "" selects all.
func matchDriver(name string) ([]string, error) {
	var all []string
	for _, d := range driver.All() {
		if d.Wraps == "" && !slices.Contains(all, d.DisplayName) {
			all = append(all, d.DisplayName)
		}
	}
	if name == "" {
		return all, nil
	}
	if d, err := driver.For(name); err == nil {
		return []string{d.Base().DisplayName}, nil
	}
	var out []string
	for _, d := range all {
		if strings.HasPrefix(strings.ToLower(d), strings.ToLower(name)) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		_, err := driver.For(name)
		return nil, err
	}
	return out, nil
}

func diagnoseCmd(ctx context.Context, g *globals) *cobra.Command {
	var driver string
	var perEndpoint time.Duration
	c := &cobra.Command{
		Use:   "diagnose ENDPOINT",
		Short: "Log in for real through the broker and explain: transcript, verdict, findings with fixes, and how each driver would fare",
		Long: `diagnose asks the broker to log in to ENDPOINT for real (go-sql-driver, with
the credential the broker issues), replays the login with the broker's own
handshake prober, and prints the transcript, a verdict, the findings (cause
and fix) and a side-by-side table of how each driver (mysql CLI, mariadb CLI,
PyMySQL with and without cryptography, mysqlclient, mysql-connector-python,
go-sql-driver, mysql2, Connector/J) would fare with its usual options.

Exit codes: 0 the login works (and, with --driver, that driver is predicted
to work with at least one of the option sets shown), 1 it does not, 2 bad usage, 3 the broker could not be reached.`,
		Example: `  connbroker diagnose orders
  connbroker diagnose orders --driver pymysql`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := g.check(); err != nil {
				return err
			}
			drivers, err := matchDriver(driver)
			if err != nil {
				return usage("--driver: %v", err)
			}
			req := &v1.ValidateConnectionRequest{Endpoints: args, CompareDrivers: true}
			deadline := max(g.timeout, 30*time.Second)
			if perEndpoint > 0 {
				req.Timeout = durationpb.New(perEndpoint)
				deadline = max(deadline, perEndpoint+5*time.Second)
			}
			var resp *v1.ValidateConnectionResponse
			err = g.call(ctx, deadline, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err = cl.ValidateConnection(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			if len(resp.GetResults()) != 1 {
				return errors.New("the broker returned no result")
			}
			r := resp.GetResults()[0]
			if g.output == "json" {
				if err := printJSON(g, r); err != nil {
					return err
				}
			} else if err := printDiagnosis(g, r, drivers); err != nil {
				return err
			}
			ok := r.GetOk()
			if driver != "" {
				// The driver works when one of its usual option sets works.
				for _, name := range drivers {
					works := false
					for _, d := range r.GetDrivers() {
						works = works || d.GetDriver() == name && d.GetWorks()
					}
					ok = ok && works
				}
			}
			if !ok {
				return &cmdline.Error{Code: cmdline.Failed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&driver, "driver", "", "show (and gate the exit code on) this driver only, e.g. pymysql, mysql2, connector/j")
	c.Flags().DurationVar(&perEndpoint, "endpoint-timeout", 0, "deadline for the login (default: the broker's, 10s)")
	return c
}

// verdictOf is the one-line explanation of a failed login: the primary
// finding (the first error, else the first finding) with its fix, as
// diagnose.Verdict renders it, so that it never contradicts the findings
// listed below; the broker's reason when there are none (a failure before
// any login, e.g. no credential).
func verdictOf(r *v1.EndpointValidation) string {
	fs := r.GetFindings()
	for _, f := range fs {
		if f.GetSeverity() == v1.FindingSeverity_FINDING_SEVERITY_ERROR {
			return f.GetCode() + ": " + f.GetCause() + "; fix: " + f.GetFix()
		}
	}
	if len(fs) > 0 {
		return fs[0].GetCode() + ": " + fs[0].GetCause() + "; fix: " + fs[0].GetFix()
	}
	return r.GetReason()
}

func printDiagnosis(g *globals, r *v1.EndpointValidation, drivers []string) error {
	out := outOf(g)
	verdict := "OK: go-sql-driver logged in"
	if !r.GetOk() {
		verdict = "FAILED: " + verdictOf(r)
	}
	fmt.Fprintf(out, "endpoint %s: %s\n", r.GetEndpoint(), verdict)
	if r.GetCurrentUser() != "" {
		fmt.Fprintf(out, "  logged in as %s on %s\n", r.GetCurrentUser(), r.GetServerVersion())
	}
	if res := r.GetResolution(); res != nil {
		fmt.Fprintf(out, "  auth %s, plugin %s\n", strings.ToLower(strings.TrimPrefix(res.GetMethod().String(), "AUTH_METHOD_")), dash(res.GetPlugin()))
		for _, e := range res.GetEvidence() {
			fmt.Fprintf(out, "    evidence (%s): %s\n", e.GetSource().Label(), e.GetDetail())
		}
	}
	fmt.Fprintln(out, "\ntranscript (the broker's prober, playing go-sql-driver):")
	printTranscript(out, r.GetTranscript())
	if len(r.GetFindings()) == 0 {
		fmt.Fprintln(out, "\nno findings")
	}
	printFindings(out, r.GetFindings())
	fmt.Fprintln(out, "\ndrivers (as each would take this endpoint):")
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DRIVER\tOPTIONS\tRESULT\tPLUGIN\tTLS\tWHY / FIX")
	for _, d := range r.GetDrivers() {
		if !slices.Contains(drivers, d.GetDriver()) {
			continue
		}
		res, why := "works", ""
		if !d.GetWorks() {
			res = "FAILS"
			if f := d.GetFinding(); f != nil {
				why = f.GetCode() + ": " + f.GetFix()
			}
		}
		tlsCol := "no"
		if d.GetTls() {
			tlsCol = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.GetDriver(), d.GetOptions(), res, dash(d.GetAuthPlugin()), tlsCol, why)
	}
	return w.Flush()
}
