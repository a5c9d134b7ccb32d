// Command bench runs the measurements behind `make bench` and BENCHMARKS.md
// in one run, on loopback, and prints each as a ratio against its baseline:
//
//   - GetConnectionParams (cached IAM token) over gRPC against a bare gRPC
//     health check, on the real connbrokerd process, at concurrency 1, 32
//     and 256 (throughput and p99, closed-loop load from internal/loadgen);
//
//   - the broker's cache-hit path in process against auth.BuildAuthToken;
//
//   - ValidateConnection (TLS + auth + one query) against a bare
//     go-sql-driver connect + the same query to the same private MariaDB;
//
//   - Python: a fresh process's `import connbroker` + first params against
//     `import boto3` + one generate_db_auth_token;
//
//   - the daemon's RSS idle, after the load, and after a second load.
//
//     go run ./internal/cmd/bench -bin bin -python .venv/bin/python [-duration 3s]
//
// Exit status: 0 when it ran (targets missed are reported, not fatal), 1
// when a measurement could not run, 2 on bad flags.
package main

import (
	"context"
	"os"

	"github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cli.Main("bench", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}
