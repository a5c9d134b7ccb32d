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
