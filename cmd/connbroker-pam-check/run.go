package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/iamverify"
)

// maxSecret bounds what is read from stdin; real tokens are well below it.
const maxSecret = 16 << 10

// errRejected means the token was checked and refused (exit 1, no
// message: the verdict returns it in a quiet cli.Error).
var errRejected = errors.New("rejected")

const usageLine = "usage: connbroker-pam-check --policy FILE (secret on stdin, user in PAM_USER)"

// run checks the secret on stdin for the user in PAM_USER against the
// policy named by --policy. It returns nil to accept, an error wrapping
// errRejected when the token is refused, and another error when it could
// not decide (which also rejects).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	var policyPath string
	cmd := &cobra.Command{
		Use:   "connbroker-pam-check --policy FILE",
		Short: "Verify an RDS IAM auth token for a MariaDB PAM login (secret on stdin, user in PAM_USER)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, rest []string) error {
			if policyPath == "" || len(rest) != 0 {
				return cli.Usagef("%s", usageLine)
			}
			return check(ctx, policyPath, getenv, stdin)
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "JSON policy file (iamverify.PolicyFile), re-read on every call")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError(err) })
	return cli.Execute(cmd, cli.GoFlags(cmd.Flags(), args), stderr, stderr)
}

// check is run after the flags: the verdict on the secret for PAM_USER.
func check(_ context.Context, policyPath string, getenv func(string) string, stdin io.Reader) error {

	pf, err := iamverify.LoadPolicyFile(policyPath)
	if err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	if pf.LogFile != "" {
		f, err := os.OpenFile(pf.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		defer f.Close()
		log = slog.New(slog.NewJSONHandler(f, nil))
	}
	log = log.With("user", getenv("PAM_USER"), "service", getenv("PAM_SERVICE"), "rhost", getenv("PAM_RHOST"))

	verdict := func(err error) error {
		if err == nil {
			log.Info("pam check", "verdict", "accept", "reason", "ok")
			return nil
		}
		// err comes from iamverify or from this function: safe to log.
		log.Warn("pam check", "verdict", "reject", "reason", iamverify.Reason(err), "detail", err.Error())
		return &cli.Error{Code: cli.Failed, Err: fmt.Errorf("%w: %w", errRejected, err), Quiet: true}
	}

	policy, err := pf.Policy()
	if err != nil {
		return verdict(err)
	}
	user := getenv("PAM_USER")
	if user == "" {
		return verdict(errors.New("PAM_USER is not set"))
	}
	secret, err := readSecret(stdin)
	if err != nil {
		return verdict(err)
	}
	err = iamverify.Verify(policy, user, secret)
	if err != nil && len(secret) == pamTruncatedLen {
		err = fmt.Errorf("%w (the secret is exactly %d bytes: PAM cuts secrets there, so a longer token, e.g. one with an STS session token, cannot pass)", err, pamTruncatedLen)
	}
	return verdict(err)
}

// pamTruncatedLen is the length at which the secret was seen to arrive cut
// (MariaDB 10.11 pam plugin v2 -> Linux-PAM -> pam_exec, Debian 12), with
// go-sql-driver and the mariadb CLI alike; most likely Linux-PAM's
// PAM_MAX_RESP_SIZE (512 bytes, NUL included).
const pamTruncatedLen = 511

// readSecret reads the authtok pam_exec writes: the secret followed by a
// NUL byte (a newline is accepted too, for manual use).
func readSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("read secret from stdin: %w", err)
	}
	if len(b) > maxSecret {
		return "", fmt.Errorf("read secret from stdin: longer than %d bytes", maxSecret)
	}
	if i := bytes.IndexAny(b, "\x00\n"); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	return string(b), nil
}
