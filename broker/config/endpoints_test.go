package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// strictPlain decodes the endpoints the way Parse did before EndpointMap:
// a plain map through a KnownFields decoder. It is the reference the
// linear decoder must agree with.
func strictPlain(data []byte) (map[string]*Endpoint, error) {
	var c struct {
		Endpoints map[string]*Endpoint `yaml:"endpoints"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return c.Endpoints, nil
}

func strictNew(data []byte) (map[string]*Endpoint, error) {
	var c struct {
		Endpoints EndpointMap `yaml:"endpoints"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return c.Endpoints, nil
}

// TestEndpointMapAgreesWithStrictDecoder: for valid and invalid documents,
// EndpointMap decodes the same endpoints and reports the same unknown keys
// and duplicates (same lines) as yaml.v3's strict decoder of a plain map.
func TestEndpointMapAgreesWithStrictDecoder(t *testing.T) {
	cases := []struct {
		name, doc string
		wantErr   []string // substrings both errors must hold; nil: no error
	}{
		{"valid", "endpoints:\n  a: {host: h, user: u, auth: password, password: {env: X}, tls: {mode: verify-full}}\n  b:\n    host: h2\n    port: 3307\n", nil},
		{"unknown top key", "endpoints:\n  a:\n    host: h\n    pasword: x\n", []string{"line 4: field pasword not found in type config.Endpoint"}},
		{"unknown nested key", "endpoints:\n  a:\n    host: h\n    tls: {mode: verify-full, cafile: x}\n", []string{"line 4: field cafile not found in type config."}},
		{"unknown in secret source", "endpoints:\n  a:\n    host: h\n    password: {fiel: /x}\n", []string{"line 4: field fiel not found in type config."}},
		{"two unknown keys", "endpoints:\n  a: {host: h, x1: 1}\n  b: {host: h, x2: 2}\n", []string{"field x1 not found", "field x2 not found"}},
		{"duplicate name", "endpoints:\n  a: {host: h}\n  b: {host: h}\n  a: {host: h3}\n", []string{`line 4: mapping key "a" already defined at line 2`}},
		{"wrong type", "endpoints:\n  a: {host: h, port: notanumber}\n", []string{"cannot unmarshal"}},
		{"not a mapping", "endpoints: [a, b]\n", []string{"cannot unmarshal"}},
		{"empty", "endpoints: {}\n", nil},
		// decodeSimple's shape and the values just outside it (decoded by
		// yaml.v3 instead): both paths must give the same endpoints.
		{"simple shape", "endpoints:\n  a:\n    host: h\n    port: 3307\n    dial: 127.0.0.1:13306\n    user: u\n    database: d\n    auth: iam\n    plugin: p\n    region: us-west-2\n    role_arn: arn:aws:iam::1:role/r\n    tls: {mode: verify-ca, ca: /ca.pem, server_name: s}\n  b: {host: h, auth: password, password: {file: /pw}}\n  c: {host: h, password: {env: PW}}\n  d: {host: h, password: {secretsmanager: arn:x}}\n", nil},
		{"quoted and tagged strings", "endpoints:\n  a:\n    host: \"h\"\n    user: 'u'\n    auth: !!str iam\n    database: \"\"\n    plugin: |\n      x\n    region: >-\n      us-\n      west-2\n", nil},
		{"scalars that are not strings", "endpoints:\n  a:\n    host: 123\n    user: true\n    database: 1.5\n    region: ~\n    plugin: null\n    dial:\n  b: {host: !!binary aGVsbG8=, user: 2001-12-14}\n", nil},
		{"port forms", "endpoints:\n  a: {host: h, port: 0}\n  b: {host: h, port: 017}\n  c: {host: h, port: 0x10}\n  d: {host: h, port: 1_000}\n  e: {host: h, port: +3306}\n  f: {host: h, port: ~}\n  g: {host: h, port: 123456789}\n  i: {host: h, port: 1234567890}\n", nil},
		{"quoted port", "endpoints:\n  a: {host: h, port: \"3306\"}\n", []string{"cannot unmarshal"}},
		{"float port", "endpoints:\n  a: {host: h, port: 3306.5}\n  b: {host: h, port: 1e3}\n", nil},
		{"duplicate field", "endpoints:\n  a:\n    host: h\n    host: h2\n", []string{"line 4:", "host"}},
		{"duplicate tls field", "endpoints:\n  a:\n    host: h\n    tls: {mode: disabled, mode: required}\n", []string{"line 4:", "mode"}},
		{"null endpoint and nested values", "endpoints:\n  a:\n  b: {host: h, tls: ~, password: ~}\n  c: {host: h, tls: {}, password: {}}\n", nil},
		{"other fields", "endpoints:\n  a: {host: h, aws_api: false, diagnostic: {user: d, password: {env: D}}, password: {secretsmanager: s, secret_ttl: 1m}}\n", nil},
		{"anchors, aliases and merge keys", "endpoints:\n  a: &base {host: &h h, user: u, tls: &t {mode: disabled}}\n  b: {host: *h, user: u, tls: *t}\n  c:\n    <<: *base\n    user: v\n  d: *base\n", nil},
		{"custom tags", "endpoints:\n  a: !!map {host: h}\n  b: {host: h, tls: !!map {mode: disabled}}\n", nil},
		{"non-string key", "endpoints:\n  1: {host: h}\n  a: {host: h, 5: x}\n", []string{"field 5 not found"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, oldErr := strictPlain([]byte(tc.doc))
			got, newErr := strictNew([]byte(tc.doc))
			if tc.wantErr == nil {
				if oldErr != nil || newErr != nil {
					t.Fatalf("errors: plain %v, EndpointMap %v", oldErr, newErr)
				}
				if fmt.Sprint(len(old)) != fmt.Sprint(len(got)) {
					t.Fatalf("decoded %d endpoints, plain decoder %d", len(got), len(old))
				}
				for name, ep := range old {
					if !reflect.DeepEqual(got[name], ep) {
						t.Errorf("endpoint %s: got %+v, plain decoder %+v", name, *got[name], *ep)
					}
				}
				return
			}
			if oldErr == nil || newErr == nil {
				t.Fatalf("want errors from both: plain %v, EndpointMap %v", oldErr, newErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(oldErr.Error(), w) {
					t.Errorf("plain decoder error %q lacks %q (fix the case)", oldErr, w)
				}
				if !strings.Contains(newErr.Error(), w) {
					t.Errorf("EndpointMap error %q lacks %q", newErr, w)
				}
			}
		})
	}
}

// FuzzDecodeSimple: wherever decodeSimple takes a node (any mapping of a
// document, at any depth), yaml.v3's Node.Decode decodes that node into the
// same endpoint without an error, and knownKeys finds no unknown key: the
// fast path is exactly what it replaces.
func FuzzDecodeSimple(f *testing.F) {
	for _, doc := range []string{
		"endpoints:\n  a: {host: h, port: 3306, user: u, auth: iam, tls: {mode: verify-ca, ca: x}}\n",
		"endpoints:\n  a:\n    host: h\n    password: {file: /pw}\n    region: us-west-2\n",
		"endpoints:\n  a: {host: 12, port: 017, user: ~}\n",
		"endpoints:\n  a: &x {host: h}\n  b: *x\n",
		"{host: \"h\", user: 'u', auth: !!str iam, password: {env: X}}",
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var root yaml.Node
		if yaml.Unmarshal([]byte(doc), &root) != nil {
			return
		}
		var walk func(n *yaml.Node, depth int)
		walk = func(n *yaml.Node, depth int) {
			if depth > 20 {
				return
			}
			if got, ok := decodeSimple(n); ok {
				var want *Endpoint
				if err := n.Decode(&want); err != nil {
					t.Fatalf("decodeSimple took a node Node.Decode rejects (%v): %q", err, doc)
				}
				if p := knownKeys(n, endpointType); len(p) > 0 {
					t.Fatalf("decodeSimple took a node with unknown keys %v: %q", p, doc)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("decodeSimple %+v, Node.Decode %+v: %q", *got, *want, doc)
				}
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		}
		walk(&root, 0)
	})
}

// TestParseDuplicateEndpointNamesTheLine: Parse gives the duplicate's line.
func TestParseDuplicateEndpointNamesTheLine(t *testing.T) {
	_, err := Parse("dup.yaml", []byte("endpoints:\n  a: {host: h, user: u}\n  a: {host: h, user: u}\n"))
	if err == nil || !strings.Contains(err.Error(), `"a" already defined at line 2`) {
		t.Fatalf("err = %v, want the duplicate and its first line", err)
	}
}

func fleetConfig(n int) []byte {
	var b bytes.Buffer
	b.WriteString("endpoints:\n")
	for i := range n {
		fmt.Fprintf(&b, "  ep%05d: {host: db%d.internal, user: app, auth: password, password: {env: DBPW}, tls: {mode: disabled}}\n", i, i)
	}
	return b.Bytes()
}

// BenchmarkParseEndpoints compares decoding 10,000 endpoints with
// EndpointMap against yaml.v3's strict decoding of a plain map (the
// quadratic duplicate check), side by side in one run.
func BenchmarkParseEndpoints(b *testing.B) {
	data := fleetConfig(10000)
	b.Run("EndpointMap", func(b *testing.B) {
		for b.Loop() {
			if _, err := strictNew(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain-map", func(b *testing.B) {
		for b.Loop() {
			if _, err := strictPlain(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchFleetConfig is the config `make bench` starts connbrokerd on
// (internal/cmd/bench fleetConfig): n IAM endpoints on distinct RDS Proxy
// host names.
func benchFleetConfig(n int) []byte {
	var b bytes.Buffer
	b.WriteString("listen: 127.0.0.1:7700\nlog: {level: info, format: json}\nendpoints:\n")
	for i := range n {
		fmt.Fprintf(&b, "  db%05d:\n    host: db%05d.proxy-abc123def456.us-west-2.rds.amazonaws.com\n    user: app_%05d\n    auth: iam\n", i, i, i)
	}
	return b.Bytes()
}

// BenchmarkParseFleet is the whole of Parse (decode, defaults, Validate,
// ReadFiles) on the bench's 10,000-endpoint config: the config part of
// connbrokerd's start and of every SIGHUP.
func BenchmarkParseFleet(b *testing.B) {
	data := benchFleetConfig(10000)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		c, err := Parse("fleet.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Endpoints) != 10000 {
			b.Fatalf("%d endpoints", len(c.Endpoints))
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user + system, every thread: GC included)
// the test process has used: on a shared machine it moves less than the
// wall clock.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDecodeSimpleTakesTheCommonShape: the fast path is taken for the
// shapes it claims (so the agreement tests above compare it, not yaml.v3
// with itself) and declined for the rest.
func TestDecodeSimpleTakesTheCommonShape(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		simple   bool
	}{
		{"{host: h, port: 3306, user: u, auth: iam, region: us-west-2, role_arn: r, dial: d, database: db, plugin: p}", true},
		{"{host: \"h\", user: 'u', auth: !!str password, password: {file: /pw}, tls: {mode: verify-ca, ca: /ca, server_name: s}}", true},
		{"{host: h, password: {env: X}}", true},
		{"{}", true},
		{"{host: 12}", false},
		{"{host: h, port: 017}", false},
		{"{host: h, port: \"3306\"}", false},
		{"{host: h, host: h}", false},
		{"{host: h, tls: {mode: disabled, mode: required}}", false},
		{"{host: h, tls: {cafile: x}}", false},
		{"{host: h, colour: blue}", false},
		{"{host: h, aws_api: true}", false},
		{"{host: h, password: {secretsmanager: s, secret_ttl: 1m}}", false},
		{"{host: h, password: ~}", false},
		{"!!map {host: h}", true},
		{"!custom {host: h}", false},
		{"~", false},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.endpoint), &doc); err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		if _, ok := decodeSimple(doc.Content[0]); ok != tc.simple {
			t.Errorf("decodeSimple(%s) ok = %v, want %v", tc.endpoint, ok, tc.simple)
		}
	}
}
