package hints

// sqlalchemy renders a SQLAlchemy engine for one underlying DBAPI driver.
//
// DSN is the engine URL without the secret; Options are the DBAPI's connect
// arguments (create_engine(..., connect_args=...)), exactly as the
// underlying driver's hints name them, and SecretOption is the argument
// that takes the secret. A pool must fetch fresh params for every new
// physical connection (IAM tokens live 15 minutes, passwords rotate): the
// do_connect event does that, which connbroker.sqlalchemy.create_engine
// registers.
//
// Facts (DRIVERS.md §6): URL query ssl_* options are turned into an ssl
// dict, which PyMySQL verifies differently; the options therefore go in
// connect_args, never in the URL.
type sqlalchemy struct {
	dialect string   // URL dialect: pymysql, mysqldb, mysqlconnector
	base    Renderer // the DBAPI driver's renderer
}

func (s sqlalchemy) Name() string { return "sqlalchemy+" + s.nameSuffix() }

func (s sqlalchemy) nameSuffix() string {
	if s.dialect == "mysqldb" {
		return "mysqlclient"
	}
	return s.dialect
}

func (s sqlalchemy) Render(in Input) Hints {
	h := s.base.Render(in)
	h.Driver = s.Name()
	h.DSN = sqlalchemyURL(s.dialect, in)
	h.Packages = append([]string{"SQLAlchemy>=1.4.0"}, h.Packages...)
	h.Warnings = append(h.Warnings, "pass options as connect_args and set the secret per physical connection in a do_connect event (connbroker.sqlalchemy.create_engine does this); a password in the URL is read once per engine")
	return h
}
