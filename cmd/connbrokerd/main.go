// Command connbrokerd is the connbroker daemon: a gRPC service that issues
// database connection parameters (IAM tokens, passwords, driver hints) for
// named endpoints and validates them with real logins.
//
// Usage:
//
//	connbrokerd --config /etc/connbroker/config.yaml
//	connbrokerd --config F --check-config     # exit 0 when valid, 2 when not
//	connbrokerd --config F --dev              # development: callers not identified, loopback only
//	connbrokerd --config F --reflection       # also serve gRPC server reflection
//
// Without caller identities (tls.client_ca or unix.path in the config) the
// daemon refuses to start unless --dev is given: any process that can reach
// the listener would otherwise get every credential.
//
// Signals: SIGHUP reloads the config (an invalid one is rejected and the
// old one keeps serving); SIGINT/SIGTERM drain and stop.
package main

import (
	"context"
	"os"

	"github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cli.Main("connbrokerd", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr) })
}
