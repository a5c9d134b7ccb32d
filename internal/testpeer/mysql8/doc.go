// Package mysql8test runs a real MySQL-8-protocol server for tests, built on
// github.com/go-mysql-org/go-mysql/server (v1.16.0). The server itself lives
// in broker/preflight/sim (preflight runs it in process, and product code
// does not import test peers); this package keeps its names and adds
// StartForTest.
//
// It covers the server side of every MySQL authentication path connbroker
// cares about except MariaDB's client_ed25519 (use a MariaDB peer for that):
// caching_sha2_password (fast auth, full auth over TLS, full auth over plain
// TCP with the RSA public-key request), sha256_password,
// mysql_native_password, AuthSwitchRequest in both directions (run two
// servers with different DefaultPlugin values) and an RDS-Proxy-like
// mysql_clear_password mode.
//
// Differences from the library's defaults, on purpose (each as the MySQL
// server does it: https://dev.mysql.com/doc/refman/8.0/en/caching-sha2-pluggable-authentication.html
// and https://dev.mysql.com/doc/refman/8.0/en/error-access-denied.html):
//   - an unknown user gets ERR 1045 (28000) after a fake exchange with the
//     default plugin, as MySQL does, instead of the library's 1449;
//   - accounts with RequireTLS get ERR 1045 on plain TCP, after the password
//     exchange, as MySQL does for REQUIRE SSL;
//   - mysql_clear_password accounts: the server AuthSwitches to
//     mysql_clear_password (so the client sends its secret), refuses the
//     login with 1045 when the connection is not TLS (unless
//     Options.AllowClearPasswordWithoutTLS), then calls
//     Options.ClearPasswordVerifier;
//   - Options.RequireSecureTransport, ProxyRequiresTLS, NoRSAKey and
//     CachingSHA2OnlyOverTLS play servers that refuse plain TCP in their
//     own ways: MySQL's ERR 3159 after the password check, RDS Proxy's
//     ERR 1105 "server does not allow insecure connections" before any
//     authentication, and caching_sha2_password full authentication
//     refused with 1045 on plain TCP when there is no RSA key (with or
//     without a fast-auth cache);
//   - InvalidateCache forgets every cached caching_sha2_password entry
//     (FLUSH PRIVILEGES); the library keys that cache by
//     user@<server local address>.
//
// Queries after login: SELECT 1, SELECT CURRENT_USER() (answered as
// 'user@%'), SELECT @@version, SELECT CURRENT_USER(), @@version,
// SELECT @@version_comment, SELECT @@max_allowed_packet,
// SHOW [SESSION] STATUS LIKE 'Ssl_version' / 'Ssl_cipher' (values from the
// live TLS connection, empty on plain TCP), SET ... and USE ... (OK), COM_PING
// and COM_INIT_DB. The same SELECTs work as prepared statements without
// parameters; a statement with '?' placeholders is refused with 1235, so
// clients that pass arguments must use interpolateParams=true (go-sql-driver)
// or client-side interpolation.
package mysql8test
