package caller

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFromCertificate(t *testing.T) {
	tests := []struct {
		name    string
		cert    *x509.Certificate
		want    Identity
		wantErr bool
	}{
		{"spiffe uri", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/a/sa/b")}}, Identity{Name: "spiffe://prod/ns/a/sa/b", Kind: KindURI}, false},
		{"uri wins over dns", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://x/y")}, DNSNames: []string{"a.b"}}, Identity{Name: "spiffe://x/y", Kind: KindURI}, false},
		{"dns lower-cased", &x509.Certificate{DNSNames: []string{"API.Orders.svc"}}, Identity{Name: "api.orders.svc", Kind: KindDNS}, false},
		{"a bad first dns is an error, not skipped", &x509.Certificate{DNSNames: []string{"bad name", "ok.name"}}, Identity{}, true},
		{"dns with a colon", &x509.Certificate{DNSNames: []string{"uid:0"}}, Identity{}, true},
		{"over-long first uri is an error, not skipped", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://x/"+strings.Repeat("a", MaxNameLen)), mustURL(t, "spiffe://x/ok")}, DNSNames: []string{"d"}}, Identity{}, true},
		{"spiffe canonicalised", &x509.Certificate{URIs: []*url.URL{mustURL(t, "SPIFFE://Prod.Example/ns/Orders")}}, Identity{Name: "spiffe://prod.example/ns/Orders", Kind: KindURI}, false},
		{"spiffe dot-dot", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/orders/../reports")}}, Identity{}, true},
		{"spiffe dot", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/./orders")}}, Identity{}, true},
		{"spiffe empty segment", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns//orders")}}, Identity{}, true},
		{"spiffe trailing slash", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/orders/")}}, Identity{}, true},
		{"spiffe percent-encoded dot-dot", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/orders/%2e%2e/reports")}}, Identity{}, true},
		{"spiffe query", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod/ns/a?x=1")}}, Identity{}, true},
		{"spiffe port", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://prod:443/ns/a")}}, Identity{}, true},
		{"spiffe no trust domain", &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe:///ns/a")}}, Identity{}, true},
		{"uri SAN uid:0 stays a uri", &x509.Certificate{URIs: []*url.URL{mustURL(t, "uid:0")}}, Identity{Name: "uid:0", Kind: KindURI}, false},
		{"https dot-dot", &x509.Certificate{URIs: []*url.URL{mustURL(t, "https://id.example/a/../b")}}, Identity{}, true},
		{"https percent-encoded dot-dot", &x509.Certificate{URIs: []*url.URL{mustURL(t, "https://id.example/a/%2E%2E/b")}}, Identity{}, true},
		{"https host lower-cased", &x509.Certificate{URIs: []*url.URL{mustURL(t, "HTTPS://ID.Example/a/B")}}, Identity{Name: "https://id.example/a/B", Kind: KindURI}, false},
		{"nil first uri", &x509.Certificate{URIs: []*url.URL{nil}, DNSNames: []string{"d"}}, Identity{}, true},
		{"common name ignored", &x509.Certificate{}, Identity{}, true},
		{"nil", nil, Identity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromCertificate(tt.cert)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNoIdentity) {
				t.Errorf("error %v does not match ErrNoIdentity", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQualified(t *testing.T) {
	for id, want := range map[Identity]string{
		{Name: "spiffe://a/b", Kind: KindURI}: "uri:spiffe://a/b",
		{Name: "uid:0", Kind: KindURI}:        "uri:uid:0",
		{Name: "a.b", Kind: KindDNS}:          "dns:a.b",
		FromUID(0):                            "uid:0",
	} {
		if got := id.Qualified(); got != want {
			t.Errorf("%+v.Qualified() = %q, want %q", id, got, want)
		}
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("empty context has an identity")
	}
	id := Identity{Name: "spiffe://a/b", Kind: KindURI}
	got, ok := FromContext(NewContext(context.Background(), id))
	if !ok || got != id {
		t.Errorf("FromContext = %v, %v", got, ok)
	}
}

// FuzzFromCertificate parses arbitrary bytes as a DER certificate and,
// separately, as a URI and a DNS SAN: the identity parser never panics and
// only ever returns a name that is non-empty, bounded and free of spaces
// and control characters; URI identities have no ".", ".." or empty path
// segments, and SPIFFE ones are valid SPIFFE IDs.
func FuzzFromCertificate(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), URIs: []*url.URL{{Scheme: "spiffe", Host: "prod", Path: "/ns/a"}}, DNSNames: []string{"a.b"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	f.Add(der, "spiffe://prod/ns/a/sa/b", "api.orders.svc")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, "spiffe://x y", "A B")
	f.Add([]byte{}, "", "\x00")
	f.Add([]byte{}, "spiffe://prod/ns/orders/../reports", "a")
	f.Add([]byte{}, "https://h/a/%2e%2E/b", "a")
	f.Fuzz(func(t *testing.T, data []byte, uri, dns string) {
		check := func(id Identity, err error) {
			if err != nil {
				return
			}
			if id.Name == "" || len(id.Name) > MaxNameLen || strings.ContainsAny(id.Name, " \t\r\n\x00") {
				t.Fatalf("bad identity name %q", id.Name)
			}
			if id.Kind == KindURI {
				rest := id.Name
				if i := strings.Index(rest, "://"); i >= 0 {
					rest = rest[i+3:]
				}
				if segs := strings.Split(rest, "/"); len(segs) > 1 {
					for _, seg := range segs[1:] {
						if seg == "" || seg == "." || seg == ".." {
							t.Fatalf("non-canonical URI identity %q", id.Name)
						}
					}
				}
				if strings.HasPrefix(id.Name, "spiffe:") {
					if _, err := spiffeid.FromString(id.Name); err != nil {
						t.Fatalf("SPIFFE identity %q is not a valid SPIFFE ID: %v", id.Name, err)
					}
				}
			}
		}
		if c, err := x509.ParseCertificate(data); err == nil {
			check(FromCertificate(c))
		}
		c := &x509.Certificate{DNSNames: []string{dns}}
		if u, err := url.Parse(uri); err == nil {
			c.URIs = []*url.URL{u}
		}
		check(FromCertificate(c))
	})
}
