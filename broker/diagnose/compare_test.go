package diagnose_test

import (
	"context"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestCompareFollowsTheHints: the table plays each driver as its hints set
// it up for the endpoint, on a real MariaDB (broker/driver's
// TestRealDrivers checks the same cases against the real drivers).
func TestCompareFollowsTheHints(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	t.Run("tls disabled, account requires TLS: no driver works", func(t *testing.T) {
		in := hints.Input{Host: "127.0.0.1", Port: db.Port, User: mariadbtest.TLSUser, TLSMode: config.TLSDisabled}
		base := handshake.Target{Addr: in.ConnectAddr(), User: in.User, Secret: mariadbtest.TLSPassword}
		cases := diagnose.DriverCases(in)
		for _, p := range diagnose.Compare(ctx, &handshake.Probe{}, base, diagnose.Input{Host: in.Host, Port: in.Port}, cases) {
			if p.Works || p.TLS {
				t.Errorf("%s (%s): works=%v tls=%v; the hints turn TLS off and the account requires it", p.Case.Driver, p.Case.Options, p.Works, p.TLS)
			}
		}
		// The stock profile (PREFERRED) would have upgraded and worked:
		// what the table used to predict.
		stock := base
		stock.Profile = handshake.PyMySQL(true, true)
		if _, err := (&handshake.Probe{}).Run(ctx, stock); err != nil {
			t.Errorf("the stock PyMySQL profile: %v (this test no longer shows the difference)", err)
		}
	})
	t.Run("localhost: every driver as hinted uses TCP", func(t *testing.T) {
		in := hints.Input{Host: "localhost", Port: db.Port, User: mariadbtest.NativeUser, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "localhost"}
		tc, err := dbtls.Config(in.TLSMode, db.CAPEM, in.ServerName)
		if err != nil {
			t.Fatal(err)
		}
		base := handshake.Target{Addr: in.ConnectAddr(), User: in.User, Secret: mariadbtest.NativePassword, TLS: tc}
		cases := diagnose.DriverCases(in)
		if len(cases) < 12 {
			t.Fatalf("only %d cases", len(cases))
		}
		for _, p := range diagnose.Compare(ctx, &handshake.Probe{}, base, diagnose.Input{Host: in.Host, Port: in.Port}, cases) {
			if !p.Works || !p.TLS {
				stop := ""
				if p.Transcript != nil && p.Transcript.Outcome.Stop != nil {
					stop = p.Transcript.Outcome.Stop.Code
				}
				t.Errorf("%s (%s): works=%v tls=%v result=%s stop=%s", p.Case.Driver, p.Case.Options, p.Works, p.TLS, p.Result, stop)
			}
		}
	})
}
