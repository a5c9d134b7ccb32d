package server

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/connbroker/connbroker/broker/driver"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestListDrivers: the RPC publishes the registry as it is, in memory and
// over a real socket.
func TestListDrivers(t *testing.T) {
	want := driversToProto(driver.All())
	if len(want.GetDrivers()) != len(driver.Names()) {
		t.Fatalf("%d drivers converted, registry has %d", len(want.GetDrivers()), len(driver.Names()))
	}
	conn, _ := startSocket(t)
	for name, cl := range map[string]v1.BrokerServiceClient{"bufconn": startBufconn(t).client, "socket": v1.NewBrokerServiceClient(conn)} {
		got, err := cl.ListDrivers(context.Background(), &v1.ListDriversRequest{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
	}
	var gosql *v1.DriverInfo
	for _, d := range want.GetDrivers() {
		if d.GetName() == "go-sql-driver" {
			gosql = d
		}
	}
	if gosql == nil || !cmp.Equal(gosql.GetAliases(), []string{"go", "go-sql-driver/mysql", "gosqldriver", "github.com/go-sql-driver/mysql"}) ||
		gosql.GetEnvironment().GetPackage() != "github.com/go-sql-driver/mysql" || gosql.GetEnvironment().GetMinVersion() != "1.8.0" {
		t.Errorf("go-sql-driver entry: %v", gosql)
	}
}
