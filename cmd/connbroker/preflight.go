package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/connbroker/connbroker/broker/preflight"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func preflightCmd(ctx context.Context, g *globals) *cobra.Command {
	var changes []string
	c := &cobra.Command{
		Use:   "preflight ENDPOINT --change KIND=VALUE...",
		Short: "Predict which applications a change would break; exit 1 when any would",
		Long: `Predict, for every application environment the broker has seen on
ENDPOINT, what happens after the changes (played together): works, breaks, or
works only while the server's caching_sha2_password cache is warm. Each
application's driver, set up as the broker's hints set it up in that
application's environment, is played against an in-process server set up as
proposed. The table groups applications by caller and gives each a fix.

Changes (--change, repeatable):
  plugin=caching_sha2_password|mysql_native_password|sha256_password|client_ed25519
  auth=iam            the account and the endpoint move to IAM tokens
  require-tls         require_secure_transport=ON
  proxy-iam=required  an RDS-Proxy-like proxy with IAM REQUIRED (and TLS)
  ca=FILE             the server certificate is signed by the CA in FILE
  driver=NAME@VERSION every application with driver NAME runs VERSION

Exit codes: 0 no application would break; 1 at least one would (or works
only while the cache is warm); 2 bad usage or a bad change; 3 the broker
could not be reached or refused the request (e.g. the inventory is off; an
unknown endpoint is 2);
4 no application was seen on the endpoint, or the inventory is incomplete:
never read that as "nothing breaks".`,
		Example: `  connbroker preflight orders --change plugin=caching_sha2_password
  connbroker preflight orders --change auth=iam --change require-tls -o json
  connbroker preflight orders --change ca=rds-ca-rsa2048-g1.pem`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			req, err := preflightRequest(args[0], changes)
			if err != nil {
				return err
			}
			return g.call(ctx, max(g.timeout, time.Minute), func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.Preflight(ctx, req)
				if err != nil {
					return err
				}
				if err := printPreflight(g, resp); err != nil {
					return err
				}
				return preflightExit(resp)
			})
		},
	}
	c.Flags().StringArrayVar(&changes, "change", nil, "a change KIND=VALUE (repeatable; see above)")
	return c
}

// preflightRequest checks the changes here (exit 2 before any call) and
// reads a ca=FILE's file.
func preflightRequest(endpoint string, specs []string) (*v1.PreflightRequest, error) {
	parsed, err := preflight.ParseChanges(specs)
	if err != nil {
		return nil, usage("%v", err)
	}
	req := &v1.PreflightRequest{Endpoint: endpoint}
	for i, c := range parsed {
		pc := &v1.PreflightChange{Spec: specs[i]}
		if c.Kind == preflight.KindCA {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, usage("--change %s: %v", specs[i], err)
			}
			pc.CaPem = pem
		}
		req.Changes = append(req.Changes, pc)
	}
	return req, nil
}

// preflightExit maps the answer to the exit code: a break is 1, anything
// short of a complete inventory with applications is 4.
func preflightExit(r *v1.PreflightResponse) error {
	switch {
	case r.GetAnyBreaks():
		return &cmdline.Error{Code: cmdline.Failed}
	case r.GetStatus() != v1.PreflightStatus_PREFLIGHT_STATUS_OK:
		return &cmdline.Error{Code: cmdline.NotKnown}
	}
	return nil
}

var errNoStatus = errors.New("the broker's answer has no status")

func printPreflight(g *globals, r *v1.PreflightResponse) error {
	if g.output == "json" {
		return printJSON(g, r)
	}
	out := outOf(g)
	fmt.Fprintf(out, "Preflight of %s: %s\n", r.GetEndpoint(), strings.Join(r.GetChanges(), ", "))
	switch r.GetStatus() {
	case v1.PreflightStatus_PREFLIGHT_STATUS_NO_APPS_SEEN:
		fmt.Fprintln(out, "No apps seen on this endpoint: the broker cannot tell what breaks (this is not \"nothing breaks\").")
		return nil
	case v1.PreflightStatus_PREFLIGHT_STATUS_INVENTORY_INCOMPLETE:
		fmt.Fprintln(out, "INVENTORY INCOMPLETE: the broker dropped records; apps not listed below may break too.")
	case v1.PreflightStatus_PREFLIGHT_STATUS_OK:
	default:
		return errNoStatus
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CALLER\tDRIVER\tVERSION\tSETUP\tBEFORE\tAFTER\tFINDING")
	var fixes []string
	for _, gr := range r.GetGroups() {
		for _, a := range gr.GetApps() {
			code := "-"
			if f := a.GetFinding(); f != nil {
				code = f.GetCode()
				if a.GetAfter() != a.GetBefore() || a.GetAfter() != v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS {
					fixes = append(fixes, fmt.Sprintf("  %s (%s %s): %s\n    fix: %s", dash(gr.GetCaller()), a.GetDriver(), a.GetVersion(), f.GetCause(), f.GetFix()))
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(gr.GetCaller()), a.GetDriver(), dash(a.GetVersion()), dash(a.GetSetup()),
				outcomeLabel(a.GetBefore()), outcomeLabel(a.GetAfter()), code)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(fixes) > 0 {
		fmt.Fprintln(out, "\nFixes:")
		fmt.Fprintln(out, strings.Join(fixes, "\n"))
	}
	for _, a := range r.GetAssumptions() {
		fmt.Fprintln(out, "assumed:", a)
	}
	if r.GetAnyBreaks() {
		fmt.Fprintln(out, "\nRESULT: apps would break.")
	} else if r.GetStatus() == v1.PreflightStatus_PREFLIGHT_STATUS_OK {
		fmt.Fprintln(out, "\nRESULT: no app seen on this endpoint would break.")
	}
	return nil
}

func outcomeLabel(o v1.PreflightOutcome) string {
	switch o {
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS:
		return "works"
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_BREAKS:
		return "BREAKS"
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS_WHILE_CACHE_WARM:
		return "works-while-cache-warm"
	}
	return "?"
}
