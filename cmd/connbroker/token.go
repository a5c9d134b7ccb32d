package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func tokenCmd(ctx context.Context, g *globals) *cobra.Command {
	var driver string
	var noNewline bool
	c := &cobra.Command{
		Use:   "token ENDPOINT",
		Short: "Print only the fresh secret (IAM token or password) for an endpoint",
		Long: `token prints the endpoint's fresh secret and nothing else, for the
"password command" hook of GUI clients and for scripts. Everything else
(warnings, errors) goes to stderr.

Exit codes: 0 printed; 1 no credential can be had (the credential source is
down and no cached one is valid, or the broker sent none); 2 bad usage or an
unknown endpoint; 3 the broker could not be reached or refused the request.`,
		Example: `  connbroker token local-iam
  PASS=$(connbroker token orders)   # a script; never export it
  connbroker token orders -n        # no trailing newline`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: args[0], Driver: driver})
				if err != nil {
					if noCredential(err) {
						return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: no credential: %s", args[0], status.Convert(err).Message())}
					}
					return err
				}
				secret := resp.GetParams().GetCredential().GetSecret()
				if secret == "" {
					return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: the broker sent no credential", args[0])}
				}
				if !noNewline {
					secret += "\n"
				}
				_, err = fmt.Fprint(g.out, secret)
				return err
			})
		},
	}
	c.Flags().StringVar(&driver, "driver", "", "driver to ask for (the secret is the same for every driver)")
	c.Flags().BoolVarP(&noNewline, "no-newline", "n", false, "print no newline after the secret")
	return c
}

// noCredential reports whether a broker error means no credential can be
// had (as opposed to the broker being unreachable or refusing).
func noCredential(err error) bool {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			switch ei.GetReason() {
			case v1.ErrorReason_ERROR_REASON_CREDENTIAL_UNAVAILABLE.String(), v1.ErrorReason_ERROR_REASON_AUTH_UNDECIDED.String():
				return true
			}
			return false
		}
	}
	return st.Code() == codes.FailedPrecondition
}
