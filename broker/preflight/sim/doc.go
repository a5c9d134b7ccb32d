// Package sim runs a MySQL-8-protocol server in process, built on
// github.com/go-mysql-org/go-mysql/server, set up as an endpoint is or would
// be after a change (an account's plugin, IAM, require_secure_transport, an
// RDS-Proxy-like mode, a CA): broker/preflight plays each application's
// driver against it. The tests use it through internal/testpeer/mysql8,
// whose package comment lists what it emulates and how it differs from the
// library's defaults. It listens on loopback only.
package sim
