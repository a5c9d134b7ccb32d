package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"sync"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// tlsFlags are the flags for a broker served with TLS or mTLS.
type tlsFlags struct {
	ca, cert, key, serverName string
}

func (f *tlsFlags) register(pf *pflag.FlagSet, lookupEnv func(string) (string, bool)) {
	env := func(name string) string { v, _ := lookupEnv(name); return v }
	pf.StringVar(&f.ca, "ca", env("CONNBROKER_CA"), "PEM CA file to verify the broker's TLS certificate; turns on TLS (env CONNBROKER_CA)")
	pf.StringVar(&f.cert, "cert", env("CONNBROKER_CERT"), "PEM client certificate for mTLS; needs --key (env CONNBROKER_CERT)")
	pf.StringVar(&f.key, "key", env("CONNBROKER_KEY"), "PEM private key of --cert (env CONNBROKER_KEY)")
	pf.StringVar(&f.serverName, "server-name", "", "name to verify the broker's certificate against (default: the --broker host)")
}

// credentials returns plaintext credentials when no TLS flag is set, else
// TLS verifying the broker with --ca and presenting --cert/--key.
func (f *tlsFlags) credentials() (credentials.TransportCredentials, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return insecure.NewCredentials(), nil
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usage("--cert and --key must be given together")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, usage("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usage("--ca %s: no PEM certificate in the file", f.ca)
		}
		tc.RootCAs = pool
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, usage("--cert/--key: %v", err)
		}
		tc.GetClientCertificate = reloadingCert(f.cert, f.key, &c)
	}
	return credentials.NewTLS(tc), nil
}

// reloadingCert presents the key pair read from certFile and keyFile at
// each handshake, so a long-running watcher (render --watch, exec) keeps
// reconnecting after cert-manager or spiffe-helper renews the files; while
// the files cannot be read (half-replaced), the last good pair is used.
func reloadingCert(certFile, keyFile string, first *tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	var mu sync.Mutex
	last := first
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
			last = &c
		}
		return last, nil
	}
}
