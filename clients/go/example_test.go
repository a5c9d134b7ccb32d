package connbroker_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	connbroker "github.com/connbroker/connbroker/clients/go"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// A database/sql pool whose every new connection gets fresh params (an IAM
// token, say) from the broker.
func ExampleConnector() {
	cc, err := grpc.NewClient("127.0.0.1:7700", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	db := sql.OpenDB(connbroker.Connector(v1.NewBrokerServiceClient(cc), "orders",
		connbroker.WithConfig(func(c *mysql.Config) { c.Timeout = 3 * time.Second })))
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var user string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		log.Fatal(err)
	}
	fmt.Println(user)
}
