package dbtls

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
)

// pools keeps one parsed x509.CertPool per CA bundle content, so every
// endpoint (and every validation and probe) naming the same bundle shares
// one pool instead of parsing its own copy. A CertPool is read-only once
// built and safe for concurrent use.
var pools = struct {
	sync.Mutex
	m map[[sha256.Size]byte]*x509.CertPool
}{m: map[[sha256.Size]byte]*x509.CertPool{}}

// maxPools bounds the cache; past it, the cache starts afresh.
const maxPools = 256

// rootsFor returns the pool of the certificates in caPEM, or
// ErrNoCertificates when it holds none.
func rootsFor(caPEM []byte) (*x509.CertPool, error) {
	d := sha256.Sum256(caPEM)
	pools.Lock()
	p, ok := pools.m[d]
	pools.Unlock()
	if ok {
		return p, nil
	}
	p = x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, ErrNoCertificates
	}
	pools.Lock()
	defer pools.Unlock()
	if len(pools.m) >= maxPools {
		clear(pools.m)
	}
	if q, ok := pools.m[d]; ok {
		return q, nil
	}
	pools.m[d] = p
	return p, nil
}
