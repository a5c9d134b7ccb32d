// Command connbroker is the command line for people and pipelines: fetch
// connection params, validate endpoints with real logins, list endpoints.
//
// Exit codes (internal/cli, shared by every binary): 0 success; 1 a
// validation failed; 2 bad usage; 3 the broker could not be reached or
// refused the request; 127 connect/exec found no client.
package main

import (
	"context"
	"os"

	cmdline "github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cmdline.Main("connbroker", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr) })
}
