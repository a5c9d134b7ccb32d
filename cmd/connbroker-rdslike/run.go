package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

// flags are connbroker-rdslike's command line.
type flags struct {
	addr, region, tokenHost, caOut, greeting string
	skew                                     time.Duration
	iamUsers, passwords                      []string
}

// run parses flags (Go-style single-dash flags are accepted too), starts
// the endpoint, prints where it listens and serves until ctx ends. The
// AWS key comes from the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY), never from flags. Exit codes: cli.Exit (2 for
// bad flags or a missing key, 1 when the endpoint cannot run).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var f flags
	cmd := &cobra.Command{
		Use:   "connbroker-rdslike [--listen 127.0.0.1:3307] [--iam-user U]... [--password-user U:P]...",
		Short: "Run a local RDS-like MySQL 8 endpoint that verifies real SigV4 RDS IAM tokens",
		Args:  cobra.ArbitraryArgs,
		RunE:  func(*cobra.Command, []string) error { return serve(ctx, f, getenv, stdout, stderr) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "listen", "127.0.0.1:3307", "loopback address to listen on")
	fs.StringVar(&f.region, "region", "us-east-1", "region tokens must be signed for")
	fs.StringVar(&f.tokenHost, "token-host", "", "host name tokens must be signed for (default: the listening IP)")
	fs.StringVar(&f.caOut, "ca-out", "", "write the CA certificate (PEM) clients must trust to this file")
	fs.DurationVar(&f.skew, "clock-offset", 0, "shift the verifier's clock, e.g. 20m makes fresh tokens look expired")
	fs.StringVar(&f.greeting, "greeting-plugin", "mysql_native_password", "plugin announced in the greeting (mysql_native_password as RDS Proxy, or caching_sha2_password as MySQL 8)")
	fs.StringArrayVar(&f.iamUsers, "iam-user", nil, "an account that logs in with an IAM token (repeatable)")
	fs.StringArrayVar(&f.passwords, "password-user", nil, "USER:PASSWORD of a caching_sha2_password account (repeatable)")
	return cli.Execute(cmd, cli.GoFlags(fs, args), stdout, stderr)
}

func serve(ctx context.Context, f flags, getenv func(string) string, stdout, stderr io.Writer) error {
	addr, region, tokenHost, caOut, skew, greeting := &f.addr, &f.region, &f.tokenHost, &f.caOut, &f.skew, &f.greeting
	iamUsers, passwords := f.iamUsers, f.passwords
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return cli.UsageError(errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: tokens must be signed with this key"))
	}
	pw := map[string]string{}
	for _, p := range passwords {
		u, s, ok := strings.Cut(p, ":")
		if !ok || u == "" {
			return cli.Usagef("--password-user %q: want USER:PASSWORD", strings.SplitN(p, ":", 2)[0])
		}
		pw[u] = s
	}
	if len(iamUsers) == 0 && len(pw) == 0 {
		iamUsers = append(iamUsers, "app_iam")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	e, err := rdslike.Start(ctx, rdslike.Options{Addr: *addr, Region: *region, TokenHost: *tokenHost,
		AccessKeyID: key, SecretAccessKey: secret, IAMUsers: iamUsers, Passwords: pw, ClockOffset: *skew, DefaultPlugin: *greeting, Logger: log})
	if err != nil {
		return err
	}
	defer e.Close()
	if *caOut != "" {
		if err := os.WriteFile(*caOut, e.CAPEM, 0o644); err != nil {
			return fmt.Errorf("write ca: %w", err)
		}
	}
	// SIGHUP empties the caching_sha2_password cache (like FLUSH PRIVILEGES),
	// forcing the next login onto the full-authentication path.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fmt.Fprintf(stdout, "listening on %s (tokens for %s, region %s; IAM users %s)\n", e.Addr, e.TokenEndpoint(), e.Region(), strings.Join(iamUsers, ","))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			e.InvalidateCache()
			log.Info("fast-auth cache cleared (SIGHUP)")
		}
	}
}
