// Package rdslike runs a local "RDS-like endpoint": the MySQL 8 protocol
// peer (internal/testpeer/mysql8) in RDS-Proxy mode. It greets with
// mysql_native_password, insists on TLS, switches IAM accounts to
// mysql_clear_password and verifies the clear-text secret as a real SigV4
// RDS IAM token (internal/iamverify) signed for this endpoint's host, port
// and region with a known access key. It also serves password accounts with
// caching_sha2_password (whose fast-auth cache InvalidateCache clears),
// mysql_native_password and sha256_password.
//
// Tests use Start; people use cmd/connbroker-rdslike to try an
// application's IAM path locally.
package rdslike

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/connbroker/connbroker/internal/iamverify"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

// Options configure an RDS-like endpoint.
type Options struct {
	// Addr is the loopback address to listen on; default "127.0.0.1:0".
	Addr string
	// Region is the region tokens must be signed for; default us-east-1.
	Region string
	// TokenHost is the host name tokens must be signed for; default the
	// listening IP. Set it to an RDS-looking name to emulate a real proxy.
	TokenHost string
	// TokenPort is the port tokens must be signed for; default the
	// listening port. Set it when the peer stands in, through a dial
	// address, for a server described elsewhere (e.g. 3306 in moto).
	TokenPort int
	// AccessKeyID and SecretAccessKey are the AWS key tokens must be signed
	// with (a fake key for tests; the verifier trusts only this one).
	AccessKeyID, SecretAccessKey string
	// IAMUsers are accounts that log in with an IAM token only.
	IAMUsers []string
	// Passwords are password accounts (user -> password) using Plugin.
	Passwords map[string]string
	// Plugin is the plugin of the password accounts; default
	// caching_sha2_password.
	Plugin string
	// DefaultPlugin is announced in the greeting; default
	// mysql_native_password, as RDS Proxy does.
	DefaultPlugin string
	// ClockOffset shifts the verifier's clock (e.g. +20m makes every fresh
	// token look expired).
	ClockOffset time.Duration
	// AllowPlainText lets IAM logins proceed without TLS (a misconfigured
	// endpoint); default false: refused with 1045 like RDS.
	AllowPlainText bool
	// Logger receives the reason of each refused login; nil discards.
	Logger *slog.Logger
	// TLS and CAPEM, when TLS is set, are the server's certificate and its
	// CA (mysql8test.GenerateTLS); nil generates a pair (an endpoint moved
	// to IAM keeps its certificate this way).
	TLS   *tls.Config
	CAPEM []byte
}

// Endpoint is a running RDS-like endpoint.
type Endpoint struct {
	// Server is the underlying MySQL 8 protocol peer (Addr, Port, CAPEM,
	// ClientTLS, InvalidateCache, Logins, Close).
	*mysql8test.Server

	mu     sync.Mutex
	policy iamverify.Policy
	last   map[string]string // user -> iamverify.Reason of the last IAM attempt
}

// Start listens and serves until ctx ends or Close is called. Errors are
// configuration or listen errors; retrying does not help.
func Start(ctx context.Context, o Options) (*Endpoint, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Plugin == "" {
		o.Plugin = mysql8test.PluginCachingSHA2
	}
	if o.DefaultPlugin == "" {
		o.DefaultPlugin = mysql8test.PluginNative
	}
	if o.AccessKeyID == "" || o.SecretAccessKey == "" {
		return nil, fmt.Errorf("rdslike: access key id and secret access key are required (the key tokens must be signed with)")
	}
	tlsCfg, caPEM := o.TLS, o.CAPEM
	if tlsCfg == nil {
		var err error
		if tlsCfg, caPEM, err = mysql8test.GenerateTLS(); err != nil {
			return nil, fmt.Errorf("rdslike: generate tls: %w", err)
		}
	}
	e := &Endpoint{last: map[string]string{}}
	var accounts []mysql8test.Account
	for _, u := range o.IAMUsers {
		accounts = append(accounts, mysql8test.Account{User: u, Plugin: mysql8test.PluginClearPassword})
	}
	for u, pw := range o.Passwords {
		accounts = append(accounts, mysql8test.Account{User: u, Password: pw, Plugin: o.Plugin})
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	offset := o.ClockOffset
	verify := func(user, secret string, _ bool) error {
		e.mu.Lock()
		p := e.policy
		e.mu.Unlock()
		p.Now = func() time.Time { return time.Now().Add(offset) }
		err := iamverify.Verify(p, user, secret)
		e.mu.Lock()
		e.last[user] = iamverify.Reason(err)
		e.mu.Unlock()
		if err != nil {
			log.Info("iam login refused", "user", user, "reason", iamverify.Reason(err), "error", err)
		}
		return err
	}
	srv, err := mysql8test.Start(ctx, mysql8test.Options{
		DefaultPlugin: o.DefaultPlugin, TLS: tlsCfg, CAPEM: caPEM, Accounts: accounts,
		ClearPasswordVerifier: verify, AllowClearPasswordWithoutTLS: o.AllowPlainText,
		Addr: o.Addr, Version: "8.0.36-rdslike", Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("rdslike: %w", err)
	}
	host := o.TokenHost
	if host == "" {
		host = srv.Host
	}
	e.Server = srv
	port := o.TokenPort
	if port == 0 {
		port = srv.Port
	}
	e.policy = iamverify.Policy{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey,
		Region: o.Region, Host: host, Port: port}
	return e, nil
}

// TokenEndpoint is the host:port tokens must be signed for.
func (e *Endpoint) TokenEndpoint() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return net.JoinHostPort(e.policy.Host, strconv.Itoa(e.policy.Port))
}

// Region is the region tokens must be signed for.
func (e *Endpoint) Region() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.policy.Region
}

// LastIAMReason is the iamverify.Reason of user's last IAM login attempt
// ("ok", "expired", "wrong_host", ...), or "" if none.
func (e *Endpoint) LastIAMReason(user string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[user]
}
