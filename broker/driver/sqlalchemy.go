package driver

import (
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// SQLAlchemy engines, one descriptor per DBAPI driver (dialect).
//
// DSN is the engine URL without the secret; Options are the DBAPI's connect
// arguments (create_engine(..., connect_args=...)), exactly as the
// underlying driver's hints name them, and SecretOption is the argument
// that takes the secret. A pool must fetch fresh params for every new
// physical connection (IAM tokens live 15 minutes, passwords rotate): the
// do_connect event does that, which connbroker.sqlalchemy.create_engine
// registers. The handshake is the DBAPI driver's (Wraps).
//
// Facts (lib/sqlalchemy/dialects/mysql/mysqldb.py create_connect_args; the
// engines_dynamic_tokens docs): URL query ssl_* options are turned into an
// ssl dict, which PyMySQL verifies differently; the options therefore go
// in connect_args, never in the URL.
func init() {
	for _, s := range []struct{ name, dialect, base, display string }{
		{"sqlalchemy+pymysql", "pymysql", "pymysql", "SQLAlchemy + PyMySQL"},
		{"sqlalchemy+mysqlclient", "mysqldb", "mysqlclient", "SQLAlchemy + mysqlclient"},
		{"sqlalchemy+mysqlconnector", "mysqlconnector", "mysql-connector-python", "SQLAlchemy + mysql-connector-python"},
	} {
		aliases := []string{"mysql+" + s.dialect}
		if s.dialect == "mysqldb" {
			aliases = append(aliases, "sqlalchemy+mysqldb")
		}
		register(&Descriptor{
			Name: s.name, Aliases: aliases, DisplayName: s.display, Runtime: RuntimePython, Wraps: s.base,
			Sources: []string{
				"https://github.com/sqlalchemy/sqlalchemy/blob/main/lib/sqlalchemy/dialects/mysql/mysqldb.py",
				"https://docs.sqlalchemy.org/en/20/core/engines.html#engines-dynamic-tokens",
			},
			Env: EnvRules{Package: "SQLAlchemy", Module: "sqlalchemy"},
			render: func(in hints.Input) hints.Hints {
				base, _ := For(s.base)
				h := base.Render(in)
				h.DSN = sqlalchemyURL(s.dialect, in)
				h.Packages = append([]string{"SQLAlchemy>=1.4.0"}, h.Packages...)
				h.Warnings = append(h.Warnings, "pass options as connect_args and set the secret per physical connection in a do_connect event (connbroker.sqlalchemy.create_engine does this); a password in the URL is read once per engine")
				return h
			},
			profile: func(h hints.Hints, f Facts) handshake.Profile {
				base, _ := For(s.base)
				return base.Profile(h, f)
			},
		})
	}
}
