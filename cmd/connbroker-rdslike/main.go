// Command connbroker-rdslike runs a local "RDS-like endpoint" on 127.0.0.1:
// a MySQL 8 protocol server in RDS-Proxy mode that insists on TLS, switches
// IAM accounts to mysql_clear_password and verifies real SigV4 RDS IAM
// tokens signed with a given AWS key, plus password accounts
// (caching_sha2_password). Use it to try an application's IAM path without
// AWS: sign tokens with the same key (any SDK's generate_db_auth_token /
// BuildAuthToken works) and trust the CA it writes.
package main

import (
	"context"
	"os"

	"github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cli.Main("connbroker-rdslike", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) })
}
