package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// usage is a usage error (exit code 2): cmdline.Usagef.
func usage(format string, a ...any) error { return cmdline.Usagef(format, a...) }

// exitCode maps run's error to the exit code: cmdline.Exit, the mapping every
// binary shares.
func exitCode(err error, stderr io.Writer) int { return cmdline.Exit("connbroker", err, stderr) }

type globals struct {
	out    io.Writer
	errOut io.Writer
	// lookupEnv reads run's environment (PATH for connect and exec).
	lookupEnv func(string) (string, bool)
	broker    string
	output    string
	timeout   time.Duration
	// extraFormats are output formats the running command accepts besides
	// table and json (validate: junit).
	extraFormats []string
	tls          tlsFlags
}

func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	g := &globals{out: stdout, errOut: stderr, lookupEnv: lookupEnv}
	defAddr, ok := lookupEnv("CONNBROKER_ADDR")
	if !ok || defAddr == "" {
		defAddr = "127.0.0.1:7700"
	}
	root := &cobra.Command{
		Use:   "connbroker",
		Short: "Get, validate and explain database connection params from a connbroker daemon",
		Long: `connbroker talks to a connbrokerd daemon.

It prints the connection params an application would get for an endpoint and
driver, and validates endpoints with real logins so a deploy pipeline can gate
on the exit code.

Exit codes: 0 success, 1 a validation failed (preflight: an app would
break), 2 bad usage, 3 the broker could not be reached or refused the
request, 4 preflight saw no apps or an incomplete inventory.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&g.broker, "broker", defAddr, "broker address host:port (env CONNBROKER_ADDR)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json (validate also: junit)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline for the broker call")
	g.tls.register(pf, lookupEnv)

	root.AddCommand(paramsCmd(ctx, g), validateCmd(ctx, g), endpointsCmd(ctx, g), probeCmd(ctx, g), diagnoseCmd(ctx, g), driversCmd(ctx, g),
		connectCmd(ctx, g), tokenCmd(ctx, g), execCmd(ctx, g), renderCmd(ctx, g), inventoryCmd(ctx, g), preflightCmd(ctx, g))
	return cmdline.Execute(root, args, stdout, stderr)
}

// check validates the global flags; extra names output formats the
// command accepts besides table and json.
func (g *globals) check(extra ...string) error {
	if g.output != "table" && g.output != "json" && !slices.Contains(extra, g.output) {
		formats := append([]string{"table", "json"}, extra...)
		return usage("--output %q: use %s or %s", g.output, strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1])
	}
	if g.timeout <= 0 {
		return usage("--timeout must be positive")
	}
	return nil
}

// call checks the global flags, connects to the broker and runs fn with a
// client and a context bounded by deadline (g.timeout when zero). An RPC
// error becomes a cmdline.Error with a plain message.
func (g *globals) call(ctx context.Context, deadline time.Duration, fn func(context.Context, v1.BrokerServiceClient) error) error {
	conn, err := g.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline == 0 {
		deadline = g.timeout
	}
	cctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if err := fn(cctx, v1.NewBrokerServiceClient(conn)); err != nil {
		if _, ok := status.FromError(err); ok {
			return g.rpcError(err)
		}
		return err
	}
	return nil
}

// dial checks the global flags and makes the broker's client connection.
func (g *globals) dial() (*grpc.ClientConn, error) {
	if err := g.check(g.extraFormats...); err != nil {
		return nil, err
	}
	creds, err := g.tls.credentials()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(g.broker, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, usage("--broker %q: %v", g.broker, err)
	}
	return conn, nil
}

// rpcError turns a status error into a cmdline.Error with a plain message.
func (g *globals) rpcError(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(st.Message(), "credential") {
			return &cmdline.Error{Code: cmdline.BrokerUnreachable, Err: fmt.Errorf("broker at %s could not get a credential: %s", g.broker, st.Message())}
		}
		return &cmdline.Error{Code: cmdline.BrokerUnreachable, Err: fmt.Errorf("broker at %s is not reachable (is connbrokerd running? set --broker or CONNBROKER_ADDR): %s", g.broker, st.Message())}
	case codes.DeadlineExceeded:
		return &cmdline.Error{Code: cmdline.BrokerUnreachable, Err: fmt.Errorf("broker at %s did not answer within %s", g.broker, g.timeout)}
	case codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted:
		return &cmdline.Error{Code: cmdline.BrokerUnreachable, Err: fmt.Errorf("broker at %s refused: %s", g.broker, st.Message())}
	case codes.NotFound, codes.InvalidArgument:
		return &cmdline.Error{Code: cmdline.Usage, Err: errors.New(st.Message())}
	}
	return &cmdline.Error{Code: cmdline.BrokerUnreachable, Err: fmt.Errorf("broker at %s: %s: %s", g.broker, st.Code(), st.Message())}
}

func paramsCmd(ctx context.Context, g *globals) *cobra.Command {
	var driver string
	var showSecret bool
	c := &cobra.Command{
		Use:   "params ENDPOINT",
		Short: "Print the connection params for an endpoint and driver",
		Example: `  connbroker params local-native --driver pymysql
  connbroker params orders --driver go-sql-driver -o json
  connbroker params orders --driver pymysql --show-secret   # prints the token/password`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: args[0], Driver: driver})
				if err != nil {
					return err
				}
				return printParams(g, resp.GetParams(), showSecret)
			})
		},
	}
	c.Flags().StringVar(&driver, "driver", "", "client library to render hints for (e.g. pymysql, go-sql-driver)")
	c.Flags().BoolVar(&showSecret, "show-secret", false, "print the secret instead of "+redacted)
	return c
}

func validateCmd(ctx context.Context, g *globals) *cobra.Command {
	var all bool
	var perEndpoint time.Duration
	c := &cobra.Command{
		Use:   "validate [ENDPOINT...]",
		Short: "Log in for real to endpoints; exit 0 when all work, 1 when any fails",
		Long: `Log in for real to endpoints, through the broker, as an application would.

Use it as a deploy gate: run it before a rollout and stop on a non-zero exit.
-o junit writes a JUnit XML report (one test case per endpoint) for CI
test-report views; -o json writes the full response.

Exit codes: 0 every endpoint logged in; 1 at least one failed (the report
says why); 2 bad usage or an unknown endpoint; 3 the broker could not be
reached or refused the request.`,
		Example: `  connbroker validate --all
  connbroker validate orders reports -o json
  connbroker validate --all -o junit > report.xml`,
		RunE: func(_ *cobra.Command, args []string) error {
			g.extraFormats = []string{"junit"}
			if all == (len(args) > 0) {
				return usage("name endpoints or pass --all (not both)")
			}
			req := &v1.ValidateConnectionRequest{Endpoints: args, All: all}
			deadline := g.timeout
			if perEndpoint > 0 {
				req.Timeout = durationpb.New(perEndpoint)
				deadline = max(deadline, perEndpoint+5*time.Second)
			}
			started := time.Now()
			return g.call(ctx, deadline, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.ValidateConnection(ctx, req)
				if err != nil {
					return err
				}
				print := func() error { return printValidation(g, resp) }
				if g.output == "junit" {
					print = func() error { return printJUnit(g, resp, started) }
				}
				if err := print(); err != nil {
					return err
				}
				if !resp.GetOk() {
					return &cmdline.Error{Code: cmdline.Failed}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "validate every configured endpoint")
	c.Flags().DurationVar(&perEndpoint, "endpoint-timeout", 0, "deadline per endpoint (default: the broker's, 10s)")
	return c
}

func endpointsCmd(ctx context.Context, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "endpoints",
		Short:   "List the endpoints the broker serves",
		Example: `  connbroker endpoints -o json`,
		Args:    exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.ListEndpoints(ctx, &v1.ListEndpointsRequest{})
				if err != nil {
					return err
				}
				return printEndpoints(g, resp)
			})
		},
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usage("%s takes %d argument(s), got %d; see --help", cmd.Name(), n, len(args))
		}
		return nil
	}
}
