package diagnose

import (
	"context"

	"github.com/connbroker/connbroker/broker/handshake"
)

// DriverCase is one driver with the options it is run with.
type DriverCase struct {
	// Driver names the library, e.g. "PyMySQL".
	Driver string
	// Options names the options that matter, e.g. "without cryptography".
	Options string
	// Profile is what the prober plays.
	Profile handshake.Profile
}

// DriverCases are the drivers Compare runs, each with its usual options and,
// where an opt-in decides the outcome, with that opt-in too.
func DriverCases() []DriverCase {
	return []DriverCase{
		{"mysql CLI (Oracle 8.x)", "--ssl-mode=REQUIRED", handshake.MySQLCLI(false)},
		{"mysql CLI (Oracle 8.x)", "--enable-cleartext-plugin", handshake.MySQLCLI(true)},
		{"mariadb CLI", "--ssl", handshake.MariaDBCLI()},
		{"PyMySQL", "with cryptography", handshake.PyMySQL(true, false)},
		{"PyMySQL", "without cryptography", handshake.PyMySQL(false, false)},
		{"PyMySQL", "with cryptography and PyNaCl", handshake.PyMySQL(true, true)},
		{"aiomysql", "ssl context, cryptography", handshake.AIOMySQL(true)},
		{"mysqlclient", "libmysqlclient", handshake.MysqlclientLibmysql(false)},
		{"mysqlclient", "MariaDB Connector/C", handshake.MysqlclientMariaDBConnC()},
		{"mysql-connector-python", "C extension", handshake.ConnectorPythonC()},
		{"mysql-connector-python", "use_pure=True", handshake.ConnectorPythonPure()},
		{"go-sql-driver/mysql", "defaults", handshake.GoSQLDriver(false)},
		{"go-sql-driver/mysql", "allowCleartextPasswords=true", handshake.GoSQLDriver(true)},
		{"mysql2", "defaults", handshake.MySQL2(false)},
		{"mysql2", "enableCleartextPlugin: true", handshake.MySQL2(true)},
		{"Connector/J", "sslMode=REQUIRED", handshake.ConnectorJ(false)},
		{"Connector/J", "allowPublicKeyRetrieval=true", handshake.ConnectorJ(true)},
	}
}

// Prediction is how one driver fares against an endpoint.
type Prediction struct {
	// Case is the driver and options.
	Case DriverCase
	// Works is true when the prober, playing the driver, logged in.
	Works bool
	// Result is the prober's result.
	Result handshake.Result
	// Plugin is the last auth plugin used.
	Plugin string
	// TLS is true when the connection was upgraded.
	TLS bool
	// Finding is the first error finding, nil when it works.
	Finding *Finding
	// Transcript is the prober's transcript.
	Transcript *handshake.Transcript
}

// Compare runs base once per case (base.Profile is replaced) and diagnoses
// each run with in (its Transcript and Err are replaced). Runs are
// sequential so a server's fast-auth cache and connection limits see what
// one client would do.
func Compare(ctx context.Context, p *handshake.Probe, base handshake.Target, in Input, cases []DriverCase) []Prediction {
	out := make([]Prediction, 0, len(cases))
	for _, c := range cases {
		t := base
		t.Profile = c.Profile
		t.GreetingOnly = false
		tr, err := p.Run(ctx, t)
		d := in
		d.Transcript, d.Err = tr, err
		pr := Prediction{Case: c, Works: err == nil, Result: tr.Outcome.Result, Plugin: tr.Outcome.Plugin, TLS: tr.Outcome.TLS, Transcript: tr}
		if err != nil {
			for _, f := range Diagnose(d) {
				if f.Severity == SeverityError {
					pr.Finding = &f
					break
				}
			}
		}
		out = append(out, pr)
	}
	return out
}
