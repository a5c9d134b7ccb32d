package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/connbroker/connbroker/broker/driver"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// errInventoryOff is the failure of `connbroker inventory` against a
// broker that keeps none: exit 1, nothing can be concluded.
var errInventoryOff = errors.New("the broker keeps no inventory: set inventory.path (SQLite) or inventory.mysql.endpoint in its config and restart it; see docs/INVENTORY.md")

func inventoryCmd(ctx context.Context, g *globals) *cobra.Command {
	var limit uint32
	cmd := &cobra.Command{
		Use:   "inventory [ENDPOINT]",
		Short: "List the applications the broker has seen per endpoint: caller, driver, versions, first and last seen",
		Long: `inventory lists what the broker recorded from the client environments its
helpers send with GetConnectionParams (ListInventory): per endpoint and
caller identity, the driver and its version, the runtime, the packages and
environment variables that matter, when that environment was first and
last seen, and how many requests carried it. You see only the endpoints
you may get params for.

The last lines say how complete the inventory is: a full store (records
evicted) or dropped reports mean applications may be missing, and the
command says so on stderr. An endpoint with no records prints "no apps
seen", which is not "nothing would break". Exit 1 when the broker keeps no
inventory. See docs/INVENTORY.md.`,
		Example: `  connbroker inventory
  connbroker inventory orders -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usage("%s takes at most 1 argument (ENDPOINT), got %d; see --help", cmd.Name(), len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			var endpoint string
			if len(args) == 1 {
				endpoint = args[0]
			}
			return g.call(ctx, 0, func(ctx context.Context, cl v1.BrokerServiceClient) error {
				resp, err := cl.ListInventory(ctx, &v1.ListInventoryRequest{Endpoint: endpoint, Limit: limit})
				if err != nil {
					return err
				}
				if !resp.GetStore().GetEnabled() {
					return &cmdline.Error{Code: cmdline.Failed, Err: errInventoryOff}
				}
				return printInventory(g, endpoint, resp)
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "limit", 0, "list at most this many records, the most recently seen (0: all)")
	return cmd
}

func printInventory(g *globals, endpoint string, r *v1.ListInventoryResponse) error {
	if g.output == "json" {
		if err := printJSON(g, r); err != nil {
			return err
		}
	} else {
		if err := inventoryTable(outOf(g), endpoint, r); err != nil {
			return err
		}
	}
	if w := incomplete(r.GetStore()); w != "" {
		fmt.Fprintln(g.errOut, "connbroker: warning:", w)
	}
	return nil
}

func inventoryTable(out io.Writer, endpoint string, r *v1.ListInventoryResponse) error {
	if len(r.GetRecords()) == 0 {
		what := "any endpoint you may get"
		if endpoint != "" {
			what = "endpoint " + endpoint
		}
		fmt.Fprintf(out, "no apps seen on %s (within retention %s)\n", what, r.GetStore().GetRetention().AsDuration())
	} else {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ENDPOINT\tCALLER\tDRIVER\tVERSION\tRUNTIME\tPACKAGES\tENV\tFIRST SEEN\tLAST SEEN\tCOUNT")
		for _, rec := range r.GetRecords() {
			e := rec.GetEnvironment()
			drv, ver := driverVersion(e)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", rec.GetEndpoint(), dash(rec.GetCaller()), dash(drv), dash(ver), dash(e.GetRuntime()),
				dash(packageList(e, drv)), dash(envList(e)), rec.GetFirstSeen().AsTime().UTC().Format(time.RFC3339), rec.GetLastSeen().AsTime().UTC().Format(time.RFC3339), rec.GetCount())
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	st := r.GetStore()
	_, err := fmt.Fprintf(out, "store: %s, %d of %d records (all endpoints), retention %s, dropped %d, evicted %d\n",
		st.GetBackend(), st.GetRecords(), st.GetCapacity(), st.GetRetention().AsDuration(), st.GetDropped(), st.GetEvicted())
	if r.GetTruncated() {
		fmt.Fprintln(out, "(--limit left records out)")
	}
	return err
}

// incomplete says why the inventory may miss applications, "" when it
// holds every one seen within retention.
func incomplete(st *v1.InventoryStoreStatus) string {
	var why []string
	if st.GetFull() {
		why = append(why, fmt.Sprintf("the store is full (%d records, inventory.max_records): the least recently seen were evicted", st.GetRecords()))
	} else if st.GetEvicted() > 0 {
		why = append(why, fmt.Sprintf("%d records were evicted for room", st.GetEvicted()))
	}
	if st.GetDropped() > 0 {
		why = append(why, fmt.Sprintf("%d reports were dropped (queue full or write errors)", st.GetDropped()))
	}
	if e := st.GetLastError(); e != "" {
		why = append(why, "last write error: "+e)
	}
	if len(why) == 0 {
		return ""
	}
	return "the inventory may be incomplete: " + strings.Join(why, "; ")
}

// driverVersion returns the environment's driver and the version of its
// package (the registry's package name), "" when not reported.
func driverVersion(e *v1.ClientEnvironment) (name, version string) {
	name = e.GetDriver()
	d, err := driver.For(name)
	if err != nil {
		return name, ""
	}
	for _, p := range e.GetPackages() {
		if strings.EqualFold(p.GetName(), d.Env.Package) {
			version = p.GetVersion()
			if lib := p.GetClientLibrary(); lib != "" {
				version += " (" + lib + ")"
			}
		}
	}
	return d.Name, version
}

func packageList(e *v1.ClientEnvironment, drv string) string {
	var pkgDriver string
	if d, err := driver.For(drv); err == nil {
		pkgDriver = d.Env.Package
	}
	var out []string
	for _, p := range e.GetPackages() {
		if strings.EqualFold(p.GetName(), pkgDriver) {
			continue
		}
		out = append(out, p.GetName()+" "+p.GetVersion())
	}
	return strings.Join(out, ", ")
}

func envList(e *v1.ClientEnvironment) string {
	var out []string
	for k, v := range e.GetEnv() {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
