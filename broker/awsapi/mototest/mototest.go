// Package mototest runs moto's AWS API server for tests, and a front that
// emulates exactly the calls and fields moto 5.2 lacks, verifying each
// emulated request's SigV4 signature:
//
//   - rds:DescribeDBProxyEndpoints ("has not been implemented" in moto);
//   - iam:SimulatePrincipalPolicy ("has not been implemented" in moto),
//     answered from a list of allowed resource patterns per principal;
//   - rds:DescribeDBProxyTargets with a target health other than
//     AVAILABLE (moto reports REGISTERING once, then AVAILABLE, always);
//
// and faults (throttling, denial, silence) for every call. Everything else
// is forwarded to moto unchanged. moto also does not store a proxy's
// DefaultAuthScheme (it is never returned); nothing emulates it.
package mototest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/connbroker/connbroker/internal/testlog"
	"github.com/connbroker/connbroker/internal/testtier"
)

// Test credentials: moto accepts any; the front verifies these.
const (
	AccessKeyID     = "AKIAMOTOTEST00000001"
	SecretAccessKey = "motosecretmotosecretmotosecret0000000000"
	Region          = "us-east-1"
)

// Credentials are the static credentials of AccessKeyID.
func Credentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Source: "mototest"}, nil
	})
}

// Server is a running moto server behind the emulating front.
type Server struct {
	// URL is the front's URL: point AWS clients here.
	URL string
	// MotoURL is moto's own URL.
	MotoURL string

	mu        sync.Mutex
	endpoints []ProxyEndpoint
	allow     map[string][]string // principal ARN -> allowed resource patterns
	simulate  bool
	targets   map[string][]Target
	fault     string
	emulated  map[string]int
}

// ProxyEndpoint is an emulated DescribeDBProxyEndpoints entry.
type ProxyEndpoint struct {
	Name, ProxyName, Endpoint string
}

// Target is an emulated DescribeDBProxyTargets entry.
type Target struct {
	ID, Endpoint, State, Reason, Description string
}

// Faults the front can inject into every call.
const (
	FaultNone     = ""
	FaultThrottle = "throttle"
	FaultDeny     = "deny"
	FaultHang     = "hang"
)

// Start runs moto_server on a free loopback port and the front before
// it. It skips under -short (internal/testtier) and otherwise fails the
// test, never skips, when moto is missing: set CONNBROKER_MOTO_SERVER or
// run `make venv` (requirements-dev.txt pins moto[server]).
func Start(t *testing.T) *Server {
	t.Helper()
	testtier.Integration(t, "moto_server from the venv")
	bin := os.Getenv("CONNBROKER_MOTO_SERVER")
	if bin == "" {
		bin = filepath.Join(moduleRoot(t), ".venv", "bin", "moto_server")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("moto_server not found at %s: run `make venv` (requirements-dev.txt pins moto[server]) or set CONNBROKER_MOTO_SERVER", bin)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	lis.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	logs := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &Server{MotoURL: fmt.Sprintf("http://127.0.0.1:%d", port), allow: map[string][]string{}, targets: map[string][]Target{}, emulated: map[string]int{}, simulate: true}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(s.MotoURL + "/moto-api/")
		if err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu, _ := url.Parse(s.MotoURL)
	front := httptest.NewServer(s.handler(httputil.NewSingleHostReverseProxy(mu)))
	t.Cleanup(front.Close)
	s.URL = front.URL
	return s
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// AddProxyEndpoint adds an entry to the emulated DescribeDBProxyEndpoints.
func (s *Server) AddProxyEndpoint(e ProxyEndpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = append(s.endpoints, e)
}

// Allow lets principal rds-db:connect to resources matching pattern (IAM
// wildcards: * and ?) in the emulated SimulatePrincipalPolicy.
func (s *Server) Allow(principal, pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allow[principal] = append(s.allow[principal], pattern)
}

// DenySimulation makes SimulatePrincipalPolicy answer AccessDenied (the
// broker may not simulate).
func (s *Server) DenySimulation() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.simulate = false
}

// SetTargets replaces the DescribeDBProxyTargets answer for proxy.
func (s *Server) SetTargets(proxy string, ts []Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[proxy] = ts
}

// SetFault injects a fault into every later call.
func (s *Server) SetFault(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Emulated returns how many times the front answered action itself.
func (s *Server) Emulated(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emulated[action]
}

func (s *Server) handler(moto http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		fault := s.fault
		s.mu.Unlock()
		switch fault {
		case FaultHang:
			<-r.Context().Done()
			return
		case FaultThrottle:
			writeError(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
			return
		case FaultDeny:
			writeError(w, http.StatusForbidden, "AccessDenied", "User: arn:aws:iam::123456789012:user/x is not authorized to perform this action")
			return
		}
		form, _ := url.ParseQuery(string(body))
		action := form.Get("Action")
		switch action {
		case "DescribeDBProxyEndpoints", "SimulatePrincipalPolicy", "DescribeDBProxyTargets":
		default:
			moto.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		_, override := s.targets[form.Get("DBProxyName")]
		s.mu.Unlock()
		if action == "DescribeDBProxyTargets" && !override {
			moto.ServeHTTP(w, r)
			return
		}
		if err := verifySigV4(r, body); err != nil {
			writeError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.emulated[action]++
		w.Header().Set("Content-Type", "text/xml")
		var b strings.Builder
		switch action {
		case "DescribeDBProxyEndpoints":
			b.WriteString(`<DescribeDBProxyEndpointsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBProxyEndpointsResult><DBProxyEndpoints>`)
			for _, e := range s.endpoints {
				fmt.Fprintf(&b, `<member><DBProxyEndpointName>%s</DBProxyEndpointName><DBProxyName>%s</DBProxyName><Endpoint>%s</Endpoint><Status>available</Status><TargetRole>READ_WRITE</TargetRole><DBProxyEndpointArn>arn:aws:rds:%s:123456789012:db-proxy-endpoint:prx-endpoint-%s</DBProxyEndpointArn></member>`,
					esc(e.Name), esc(e.ProxyName), esc(e.Endpoint), Region, esc(e.Name))
			}
			b.WriteString(`</DBProxyEndpoints></DescribeDBProxyEndpointsResult><ResponseMetadata><RequestId>mototest</RequestId></ResponseMetadata></DescribeDBProxyEndpointsResponse>`)
		case "DescribeDBProxyTargets":
			b.WriteString(`<DescribeDBProxyTargetsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBProxyTargetsResult><Targets>`)
			for _, t := range s.targets[form.Get("DBProxyName")] {
				fmt.Fprintf(&b, `<member><RdsResourceId>%s</RdsResourceId><Endpoint>%s</Endpoint><Type>RDS_INSTANCE</Type><TargetHealth><State>%s</State><Reason>%s</Reason><Description>%s</Description></TargetHealth></member>`,
					esc(t.ID), esc(t.Endpoint), esc(t.State), esc(t.Reason), esc(t.Description))
			}
			b.WriteString(`</Targets></DescribeDBProxyTargetsResult><ResponseMetadata><RequestId>mototest</RequestId></ResponseMetadata></DescribeDBProxyTargetsResponse>`)
		case "SimulatePrincipalPolicy":
			if !s.simulate {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, iamError("AccessDenied", "User is not authorized to perform: iam:SimulatePrincipalPolicy"))
				return
			}
			principal := form.Get("PolicySourceArn")
			b.WriteString(`<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>`)
			for i := 1; form.Has(fmt.Sprintf("ResourceArns.member.%d", i)); i++ {
				res := form.Get(fmt.Sprintf("ResourceArns.member.%d", i))
				for j := 1; form.Has(fmt.Sprintf("ActionNames.member.%d", j)); j++ {
					act := form.Get(fmt.Sprintf("ActionNames.member.%d", j))
					decision := "implicitDeny"
					if act == "rds-db:connect" {
						for _, p := range s.allow[principal] {
							if wildcard(p).MatchString(res) {
								decision = "allowed"
							}
						}
					}
					fmt.Fprintf(&b, `<member><EvalActionName>%s</EvalActionName><EvalResourceName>%s</EvalResourceName><EvalDecision>%s</EvalDecision></member>`, esc(act), esc(res), decision)
				}
			}
			b.WriteString(`</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>mototest</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>`)
		}
		fmt.Fprint(w, b.String())
	})
}

func esc(s string) string { return html.EscapeString(s) }

// wildcard compiles an IAM resource pattern (* any run, ? one character).
func wildcard(p string) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(q, `\*`, `.*`)
	q = strings.ReplaceAll(q, `\?`, `.`)
	return regexp.MustCompile("^" + q + "$")
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>mototest</RequestId></ErrorResponse>`, esc(code), esc(msg))
}

func iamError(code, msg string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>mototest</RequestId></ErrorResponse>`, esc(code), esc(msg))
}

var authHeader = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$`)

// verifySigV4 re-signs the request with the test secret and compares the
// signatures: only requests signed with AccessKeyID's secret pass.
func verifySigV4(r *http.Request, body []byte) error {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("no SigV4 Authorization header")
	}
	if m[1] != AccessKeyID {
		return fmt.Errorf("unknown access key")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date: %w", err)
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	re, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	for _, h := range strings.Split(m[5], ";") {
		if h == "host" {
			continue
		}
		re.Header.Set(h, r.Header.Get(h))
	}
	re.Host = r.Host
	re.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}, re, hex.EncodeToString(sum[:]), m[4], m[3], at)
	if err != nil {
		return fmt.Errorf("re-sign: %w", err)
	}
	if g := authHeader.FindStringSubmatch(re.Header.Get("Authorization")); g == nil || g[6] != m[6] {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

// Subnet creates a VPC and a subnet in moto (DB proxies need one) and
// returns the subnet id. It calls EC2's query API directly, signed, so the
// module needs no EC2 client.
func (s *Server) Subnet(t *testing.T) string {
	t.Helper()
	vpc := s.ec2(t, url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.0.0.0/16"}}, "vpcId")
	return s.ec2(t, url.Values{"Action": {"CreateSubnet"}, "VpcId": {vpc}, "CidrBlock": {"10.0.1.0/24"}}, "subnetId")
}

func (s *Server) ec2(t *testing.T, v url.Values, field string) string {
	t.Helper()
	v.Set("Version", "2016-11-15")
	body := v.Encode()
	req, _ := http.NewRequest(http.MethodPost, s.MotoURL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}, req, hex.EncodeToString(sum[:]), "ec2", Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ec2 %s: %v", v.Get("Action"), err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile("<" + field + ">([^<]+)</" + field + ">").FindSubmatch(out)
	if m == nil {
		t.Fatalf("ec2 %s: no %s in %s", v.Get("Action"), field, out)
	}
	return string(m[1])
}
