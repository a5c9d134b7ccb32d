// Package connbroker is the Go client helper of connbroker: a database/sql
// connector for github.com/go-sql-driver/mysql that asks the broker for
// fresh connection params (host, user, IAM token or password, TLS) for every
// new physical connection, so a pool keeps working after tokens expire and
// after a password rotation.
//
//	conn, _ := grpc.NewClient("127.0.0.1:7700", grpc.WithTransportCredentials(insecure.NewCredentials()))
//	db := sql.OpenDB(connbroker.Connector(v1.NewBrokerServiceClient(conn), "orders"))
//	defer db.Close()
//
// The options come from the broker's go-sql-driver hints; the CA bundle the
// broker sends (tls.ca_pem) becomes the connection's root pool, and the
// endpoint's server_name the name the certificate must carry.
package connbroker

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Driver is the driver name asked of the broker.
const Driver = "go-sql-driver"

// tlsCustom is the hints' tls value for a CA bundle or server name of the
// endpoint's own (broker/hints.GoTLSConfigName).
const tlsCustom = "connbroker"

// ErrHints is returned (wrapped) when the broker's params cannot be turned
// into a go-sql-driver configuration. Do not retry: fix the broker's
// configuration or the driver name.
var ErrHints = errors.New("unusable connection hints")

// Option changes a connector.
type Option func(*connector)

// WithConfig lets fn adjust the go-sql-driver configuration after the
// broker's params were applied (timeouts, collation...). It runs for every
// new connection; it must not log cfg.Passwd.
func WithConfig(fn func(*mysql.Config)) Option {
	return func(c *connector) { c.adjust = append(c.adjust, fn) }
}

// WithCallTimeout bounds each GetConnectionParams call (default 5s, within
// the connect context's own deadline).
func WithCallTimeout(d time.Duration) Option { return func(c *connector) { c.timeout = d } }

// Connector returns a driver.Connector for sql.OpenDB that fetches fresh
// params for endpoint from client for every new connection.
//
// The connector keeps the last params and serves them while the broker is
// away (see Kept; WithKept, WithoutStale); once they expire, Connect returns
// an *UnavailableError (errors.Is ErrBrokerUnavailable) before any login.
func Connector(client v1.BrokerServiceClient, endpoint string, opts ...Option) driver.Connector {
	c := &connector{client: client, endpoint: endpoint, timeout: 5 * time.Second}
	if t, ok := client.(interface{ Target() string }); ok {
		c.address = t.Target()
	}
	for _, o := range opts {
		o(c)
	}
	if c.kept == nil && !c.noStale {
		c.kept = NewKept(0, 0, nil)
	}
	return c
}

type connector struct {
	client   v1.BrokerServiceClient
	endpoint string
	timeout  time.Duration
	adjust   []func(*mysql.Config)
	// resilience (cache.go)
	address string
	kept    *Kept
	noStale bool
	cas     caStore // the CA bundles received (compact.go)
}

// Connect asks the broker for params and opens one connection with them.
//
// A login refused with 1045 or 1698 is reported to the broker
// (ReportLoginFailure: it re-reads the credential source, a rotation may
// have happened) and tried once more with fresh params.
//
// A login that fails with mysql.ErrMalformPkt on a client_ed25519 (or
// undeclared) account is tried once more: go-sql-driver (through 1.10.1)
// strips a trailing zero byte from MariaDB's 32-byte ed25519 nonce, so 1
// login in 256 fails that way; a new connection gets a new nonce.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	for attempt := 1; ; attempt++ {
		cfg, plugin, err := c.fetch(ctx)
		if err != nil {
			return nil, err
		}
		mc, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("configure go-sql-driver for endpoint %q: %w", c.endpoint, err)
		}
		conn, err := mc.Connect(ctx)
		if err != nil && attempt == 1 && errors.Is(err, mysql.ErrMalformPkt) && (plugin == "" || plugin == pluginEd25519) {
			continue
		}
		if err != nil && attempt == 1 && c.reportDenied(ctx, err) { // loginfailure.go
			continue
		}
		return conn, err
	}
}

// pluginEd25519 is MariaDB's ed25519 client plugin.
const pluginEd25519 = "client_ed25519"

// Driver returns go-sql-driver's driver.
func (c *connector) Driver() driver.Driver { return &mysql.MySQLDriver{} }

// Config fetches params now and returns the go-sql-driver configuration,
// with the secret in Passwd.
func (c *connector) Config(ctx context.Context) (*mysql.Config, error) {
	cfg, _, err := c.fetch(ctx)
	return cfg, err
}

// fetch returns the configuration and the endpoint's account plugin.
func (c *connector) fetch(ctx context.Context) (*mysql.Config, string, error) {
	p, err := c.params(ctx)
	if err != nil {
		return nil, "", err
	}
	err = c.cas.complete(c.endpoint, Driver, p)
	if errors.Is(err, errViewUnknown) { // once: the whole params
		c.cas.forgetView(c.endpoint, Driver)
		if p, err = c.params(ctx); err != nil {
			return nil, "", err
		}
		err = c.cas.complete(c.endpoint, Driver, p)
	}
	if err != nil {
		return nil, "", err
	}
	cfg, err := ConfigFromParams(p)
	if err != nil {
		return nil, "", err
	}
	for _, fn := range c.adjust {
		fn(cfg)
	}
	return cfg, p.GetResolution().GetPlugin(), nil
}

// ConfigFromParams turns broker params for the go-sql-driver into a
// go-sql-driver configuration (secret in Passwd). It refuses a TLS value
// that would not verify the server when a clear-text secret is sent.
func ConfigFromParams(p *v1.ConnectionParams) (*mysql.Config, error) {
	h := p.GetHints()
	if h.GetDriver() != Driver {
		return nil, fmt.Errorf("params for endpoint %q carry hints for driver %q, want %q: %w", p.GetEndpoint(), h.GetDriver(), Driver, ErrHints)
	}
	o := v1.OptionsMap(h.GetOptions())
	str := func(k string) string { s, _ := o[k].(string); return s }
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName = str("net"), str("addr"), str("user"), str("dbname")
	cfg.Passwd = p.GetCredential().GetSecret()
	if v, ok := o["allowCleartextPasswords"].(bool); ok {
		cfg.AllowCleartextPasswords = v
	}
	switch t := str("tls"); t {
	case tlsCustom:
		chainOnly := p.GetTls().GetMode() == v1.TLSMode_TLS_MODE_VERIFY_CA // go-sql-driver has no such mode
		tc, err := tlsConfig([]byte(p.GetTls().GetCaPem()), p.GetTls().GetServerName(), chainOnly)
		if err != nil {
			return nil, fmt.Errorf("endpoint %q: tls.ca_pem: %w: %w", p.GetEndpoint(), err, ErrHints)
		}
		cfg.TLS = tc
	case "", "false":
	default:
		cfg.TLSConfig = t // true, skip-verify, preferred: resolved by mysql.NewConnector
	}
	if cfg.AllowCleartextPasswords && cfg.TLS == nil && cfg.TLSConfig != "true" {
		return nil, fmt.Errorf("endpoint %q: refusing to send a clear-text secret with tls=%q: %w", p.GetEndpoint(), str("tls"), ErrHints)
	}
	return cfg, nil
}
