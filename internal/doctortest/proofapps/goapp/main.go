// Command goapp is a real Go application for the preflight proof: params
// from the broker through clients/go's Connector (go-sql-driver/mysql), one
// login (SELECT CURRENT_USER()), and one JSON line with the
// ClientEnvironment clients/go reports (its Environment()) and the login's
// outcome. Built with `go build`, so the module versions are in the binary.
//
// Usage: goapp BROKER ENDPOINT
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	cbgo "github.com/connbroker/connbroker/clients/go"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goapp BROKER ENDPOINT")
		os.Exit(2)
	}
	env, err := protojson.Marshal(cbgo.Environment())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := map[string]any{"env": json.RawMessage(env)}
	if err := login(os.Args[1], os.Args[2]); err != nil {
		out["ok"], out["error"] = false, err.Error()
	} else {
		out["ok"] = true
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func login(broker, endpoint string) error {
	cc, err := grpc.NewClient(broker, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	db := sql.OpenDB(cbgo.Connector(v1.NewBrokerServiceClient(cc), endpoint,
		cbgo.WithConfig(func(c *mysql.Config) { c.Timeout = 5 * time.Second })))
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var user string
	return db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user)
}
