// Command devstack runs the local stack behind `make run` and the Python
// tests: a private MariaDB (internal/testpeer/mariadb, with the PAM-backed
// IAM account when running as root) and connbrokerd configured with one
// endpoint per account, using fake static AWS keys that only this MariaDB
// trusts.
//
//	go run ./internal/cmd/devstack -dir D -broker-bin PATH [-listen 127.0.0.1:7700]
//	    [-ready-file F] [-exit-on-stdin-eof] [-cli-bin PATH] [-no-broker]
//
// It writes D/secrets/* (mode 0600), D/connbroker.yaml and, when asked, a
// ready file (JSON), then runs until SIGINT/SIGTERM (or stdin EOF with
// -exit-on-stdin-eof) and stops the broker and MariaDB. Exit status: 0 on a
// clean stop, 2 on bad flags, 1 otherwise.
package main

import (
	"context"
	"os"

	"github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cli.Main("devstack", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	})
}
