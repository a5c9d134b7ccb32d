package broker

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/validate"
)

// OwnConnector returns a database/sql connector that logs in to the
// endpoint name as the broker itself, for the broker's own tables (the
// shared inventory, inventory.mysql.endpoint): go-sql-driver with the
// endpoint's TLS settings, and on every new connection a credential issued
// then (an IAM token is always fresh). No caller is authorised: only the
// operator's configuration names such an endpoint. The endpoint's settings
// are read now; a reload does not change them (inventory is restart-only).
func (s *Service) OwnConnector(name string) (driver.Connector, error) {
	ep, err := s.endpoint("inventory.mysql.endpoint", name)
	if err != nil {
		return nil, err
	}
	cfg, err := validate.GoConfig(validate.Target{
		Endpoint: ep.Name, Addr: ep.DialAddr(), User: ep.User, Database: ep.Database,
		TLSMode: ep.TLS.Mode, CAPEM: ep.TLS.CAPEM, ServerName: ep.TLS.ServerName,
		AllowCleartext: ep.ClearText(),
	})
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", name, err)
	}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	err = cfg.Apply(mysql.BeforeConnect(func(ctx context.Context, c *mysql.Config) error {
		eff, _, err := s.effective(ctx, ep)
		if err != nil {
			return fmt.Errorf("resolve auth of %s: %w", name, err)
		}
		cred, err := s.issuer.Issue(ctx, eff)
		if err != nil {
			return fmt.Errorf("issue credential for %s: %w", name, err)
		}
		c.User, c.Passwd = eff.User, cred.Secret.Reveal()
		c.AllowCleartextPasswords = eff.ClearText() && eff.TLS.Mode != config.TLSDisabled
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", name, err)
	}
	return mysql.NewConnector(cfg)
}

// InventoryScope returns the endpoints whose inventory the caller in ctx
// may read: the caller may read an endpoint's inventory exactly when it
// may get the endpoint's params, so it learns which other callers (and
// which drivers) use the databases it uses, and nothing about the others.
// With endpoint set, that one (errors as Params: *ArgError, *DeniedError,
// *NotFoundError); with "", every endpoint it may get, sorted.
func (s *Service) InventoryScope(ctx context.Context, endpoint string) ([]string, error) {
	if endpoint != "" {
		ep, err := s.endpointFor(ctx, "endpoint", endpoint)
		if err != nil {
			return nil, err
		}
		return []string{ep.Name}, nil
	}
	var out []string
	for _, e := range s.VisibleEndpoints(ctx) {
		out = append(out, e.Name)
	}
	return out, nil
}
