package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func driversCmd(ctx context.Context, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "drivers",
		Short: "List the drivers the broker renders hints for: names, aliases, packages, environment rules",
		Long: `drivers lists the client libraries the broker knows (ListDrivers): the
canonical name to pass as --driver, the aliases it also accepts, and what an
application's process must have for each (package, import module, minimum
version, optional packages, environment variables). -o json prints the
ListDriversResponse, which the Python doctor and the matrix runners read.`,
		Example: `  connbroker drivers
  connbroker drivers -o json`,
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.ListDrivers(ctx, &v1.ListDriversRequest{})
				if err != nil {
					return err
				}
				return printDrivers(g, resp)
			})
		},
	}
}

func printDrivers(g *globals, r *v1.ListDriversResponse) error {
	return printTable(g, r, "NAME\tALIASES\tDISPLAY NAME\tRUNTIME\tPACKAGE\tMIN VERSION\tENV VARS", func(w io.Writer) {
		for _, d := range r.GetDrivers() {
			e := d.GetEnvironment()
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.GetName(), dash(strings.Join(d.GetAliases(), ", ")), d.GetDisplayName(), d.GetRuntime(),
				dash(e.GetPackage()), dash(e.GetMinVersion()), dash(strings.Join(e.GetEnvVars(), ", ")))
		}
	})
}
