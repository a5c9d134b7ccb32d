package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run parses flags, starts the endpoint, prints where it listens and
// serves until ctx ends. The AWS key comes from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from flags.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connbroker-rdslike", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:3307", "loopback address to listen on")
	region := fs.String("region", "us-east-1", "region tokens must be signed for")
	tokenHost := fs.String("token-host", "", "host name tokens must be signed for (default: the listening IP)")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) clients must trust to this file")
	skew := fs.Duration("clock-offset", 0, "shift the verifier's clock, e.g. 20m makes fresh tokens look expired")
	greeting := fs.String("greeting-plugin", "mysql_native_password", "plugin announced in the greeting (mysql_native_password as RDS Proxy, or caching_sha2_password as MySQL 8)")
	var iamUsers, passwords listFlag
	fs.Var(&iamUsers, "iam-user", "an account that logs in with an IAM token (repeatable)")
	fs.Var(&passwords, "password-user", "USER:PASSWORD of a caching_sha2_password account (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: tokens must be signed with this key")
	}
	pw := map[string]string{}
	for _, p := range passwords {
		u, s, ok := strings.Cut(p, ":")
		if !ok || u == "" {
			return fmt.Errorf("--password-user %q: want USER:PASSWORD", strings.SplitN(p, ":", 2)[0])
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
