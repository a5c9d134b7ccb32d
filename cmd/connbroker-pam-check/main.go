// Command connbroker-pam-check verifies an RDS IAM auth token on behalf of
// a MariaDB server with the PAM plugin, so that a local MariaDB accepts
// exactly the tokens RDS would accept. It is the "auth" step of a PAM
// service:
//
//	auth    required pam_exec.so quiet expose_authtok /abs/connbroker-pam-check --policy /abs/policy.json
//	account required pam_permit.so
//
// pam_exec writes the secret the client sent (the token) to stdin,
// terminated by NUL, and sets PAM_USER to the database user. The policy
// (an iamverify.PolicyFile in JSON) is read on every call, so a test can
// change it between logins. The command exits 0 to accept, 1 to reject, 2
// on a usage error, and appends one JSON line per attempt to the policy's
// log_file: user, verdict, reason and a safe detail; never the token.
package main

import (
	"context"
	"os"

	"github.com/connbroker/connbroker/internal/cli"
)

func main() {
	cli.Main("connbroker-pam-check", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stderr) })
}
