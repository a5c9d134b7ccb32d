package connbroker

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// DriverModule is the module path of the driver this helper connects with.
const DriverModule = "github.com/go-sql-driver/mysql"

// environmentVars are the environment variables worth reporting for a Go
// process: go-sql-driver reads none, but the system trust store does.
var environmentVars = []string{"SSL_CERT_FILE", "SSL_CERT_DIR"}

// Environment describes this Go process for the broker's doctor
// (ValidateConnectionRequest.client_environment): the go-sql-driver/mysql
// module version it was built with (from debug.ReadBuildInfo; "(devel)" or
// empty when the build has no module information), the Go version, the TLS
// environment variables that are set, and the current time for the clock
// offset.
func Environment() *v1.ClientEnvironment {
	env := &v1.ClientEnvironment{Driver: Driver, Runtime: runtime.Version(), ClientTime: timestamppb.Now(), Env: map[string]string{}}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == DriverModule {
				if m.Replace != nil {
					m = m.Replace
				}
				version = m.Version
			}
		}
	}
	env.Packages = append(env.Packages, &v1.ClientPackage{Name: DriverModule, Version: version})
	env.CaBundle = systemCABundle()
	for _, k := range environmentVars {
		if v, ok := os.LookupEnv(k); ok {
			env.Env[k] = v
		}
	}
	return env
}

// DoctorResult is what Doctor found for one endpoint.
type DoctorResult struct {
	// Validation is the broker's result; Validation.Environment predicts
	// go-sql-driver, at the version this binary was built with.
	Validation *v1.EndpointValidation
	// Login is the outcome of one real login from this process with the
	// broker's hints (a Connector, then a ping): nil when it worked.
	Login error
}

// Works reports whether the prediction and the real login both succeeded.
func (r DoctorResult) Works() bool {
	d := r.Validation.GetEnvironment().GetDrivers()
	return r.Login == nil && len(d) > 0 && d[0].GetWorks()
}

// Doctor logs in once to endpoint from this process with the broker's
// hints, then asks the broker to validate endpoint with this process's
// Environment. A failed login is a result, not an error; errors are broker
// call failures.
func Doctor(ctx context.Context, client v1.BrokerServiceClient, endpoint string) (DoctorResult, error) {
	var out DoctorResult
	db := sql.OpenDB(Connector(client, endpoint))
	out.Login = db.PingContext(ctx)
	if cerr := db.Close(); out.Login == nil {
		out.Login = cerr
	}
	resp, err := client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{endpoint}, ClientEnvironment: Environment()})
	if err != nil {
		return out, fmt.Errorf("validating %s with this environment: %w", endpoint, err)
	}
	if len(resp.GetResults()) != 1 {
		return out, fmt.Errorf("validating %s with this environment: %d results, want 1", endpoint, len(resp.GetResults()))
	}
	out.Validation = resp.GetResults()[0]
	return out, nil
}

// caFiles are where crypto/x509 looks for the system bundle on Linux, in
// its order (crypto/x509/root_linux.go).
var caFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// systemCABundle returns the CA file crypto/x509 would load (SSL_CERT_FILE
// first), or the first SSL_CERT_DIR / /etc/ssl/certs directory; empty when
// none exists.
func systemCABundle() string {
	files := caFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			return f
		}
	}
	dirs := []string{"/etc/ssl/certs"}
	if d := os.Getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}
