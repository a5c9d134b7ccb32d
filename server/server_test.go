package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testlog"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

const filePassword = "file-password-do-not-log"

// syncBuffer is the shared goroutine-safe log buffer.
type syncBuffer = testlog.Buffer

type fixture struct {
	client v1.BrokerServiceClient
	health healthpb.HealthClient
	logs   *syncBuffer
	pwFile string
}

func newService(tb testing.TB) (*broker.Service, *syncBuffer, string) {
	tb.Helper()
	dir := tb.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(filePassword+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfgText := fmt.Sprintf(`
limits: {issue_rate: 1000000, issue_burst: 1000000} # the benchmark calls far faster than the default
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    database: orders
    auth: iam
  reports:
    host: 127.0.0.1
    port: 1
    user: reporter
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, pw)
	cfg, err := config.Parse("test", []byte(cfgText))
	if err != nil {
		tb.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	issuer := &credential.Router{
		IAM:      credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDSERVERTEST000001", "server-test-secret", ""), credential.WithLogger(log)),
		Password: credential.NewPasswords(nil),
	}
	return broker.New(cfg, issuer, log), logs, pw
}

// startBufconn serves over an in-memory listener.
func startBufconn(t *testing.T) fixture {
	svc, logs, pw := newService(t)
	lis := bufconn.Listen(1 << 20)
	gs, _ := NewGRPCServer(svc, slog.New(slog.NewJSONHandler(logs, nil)))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return fixture{client: v1.NewBrokerServiceClient(conn), health: healthpb.NewHealthClient(conn), logs: logs, pwFile: pw}
}

// startSocket serves over a real loopback TCP socket.
func startSocket(tb testing.TB) (*grpc.ClientConn, *syncBuffer) {
	svc, logs, _ := newService(tb)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs, _ := NewGRPCServer(svc, slog.New(slog.NewJSONHandler(logs, nil)))
	go gs.Serve(lis)
	tb.Cleanup(gs.Stop)
	// The API's codec, as the Go client dials (the bufconn tests use
	// gRPC's standard one: both read the same wire).
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(v1.Codec{})))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn, logs
}

func errInfo(t *testing.T, err error) (codes.Code, *errdetails.ErrorInfo) {
	t.Helper()
	st := status.Convert(err)
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), ei
		}
	}
	return st.Code(), nil
}

func TestGetConnectionParams(t *testing.T) {
	f := startBufconn(t)
	ctx := context.Background()

	resp, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
	if err != nil {
		t.Fatal(err)
	}
	p := resp.GetParams()
	if p.GetHost() != "orders.proxy-abc123.us-west-2.rds.amazonaws.com" || p.GetPort() != 3306 || p.GetUser() != "app_orders" || p.GetDatabase() != "orders" {
		t.Errorf("address fields: %v", p)
	}
	c := p.GetCredential()
	if c.GetKind() != v1.CredentialKind_CREDENTIAL_KIND_IAM_TOKEN || !strings.Contains(c.GetSecret(), "X-Amz-Signature=") {
		t.Errorf("credential: kind %v", c.GetKind())
	}
	exp, ref := c.GetExpiresAt().AsTime(), c.GetRefreshAfter().AsTime()
	if d := exp.Sub(ref); d != 5*time.Minute || time.Until(exp) > 15*time.Minute || time.Until(exp) < 14*time.Minute {
		t.Errorf("expires_at %v refresh_after %v", exp, ref)
	}
	if p.GetResolution().GetPlugin() != "mysql_clear_password" || !p.GetResolution().GetTlsRequired() || p.GetTls().GetMode() != v1.TLSMode_TLS_MODE_VERIFY_IDENTITY {
		t.Errorf("plugin/tls: %v %v", p.GetResolution(), p.GetTls())
	}
	h := v1.OptionsMap(p.GetHints().GetOptions())
	if h["ssl_verify_identity"] != true || h["ssl_verify_cert"] != true || p.GetHints().GetSecretOption() != "password" {
		t.Errorf("pymysql hints: %v", h)
	}
	if p.GetResolution().GetMethod() != v1.AuthMethod_AUTH_METHOD_IAM || len(p.GetResolution().GetEvidence()) < 2 {
		t.Errorf("resolution: %v", p.GetResolution())
	}
	// The secret field carries debug_redact (protobuf-go's String() does not
	// honour it yet, which is why the interceptors never log messages).
	fd := c.ProtoReflect().Descriptor().Fields().ByName("secret")
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); !ok || !opts.GetDebugRedact() {
		t.Errorf("Credential.secret lacks debug_redact")
	}

	pw, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "reports"})
	if err != nil {
		t.Fatal(err)
	}
	if pw.GetParams().GetCredential().GetSecret() != filePassword || pw.GetParams().GetHints() != nil {
		t.Errorf("password endpoint: hints=%v", pw.GetParams().GetHints())
	}
	for _, secret := range []string{filePassword, c.GetSecret(), "server-test-secret"} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
}

func TestErrorCodes(t *testing.T) {
	f := startBufconn(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func() error
		code       codes.Code
		reason     string
		field      string
		msgContain string
	}{
		{"unknown endpoint", func() error {
			_, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "nope"})
			return err
		}, codes.NotFound, ReasonEndpointNotFound, "", `endpoint "nope" is not configured`},
		{"empty endpoint", func() error {
			_, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{})
			return err
		}, codes.InvalidArgument, ReasonInvalidArgument, "endpoint", "endpoint: is required"},
		{"overlong endpoint", func() error {
			_, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: strings.Repeat("x", 64)})
			return err
		}, codes.InvalidArgument, ReasonInvalidArgument, "endpoint", "not a valid endpoint name"},
		{"unknown driver", func() error {
			_, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "odbc"})
			return err
		}, codes.InvalidArgument, ReasonInvalidArgument, "driver", "known drivers: aiomysql, connector-j (aliases connectorj, mysql-connector-j, jdbc), go-sql-driver (aliases go, "},
		{"validate nothing", func() error {
			_, err := f.client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{})
			return err
		}, codes.InvalidArgument, ReasonInvalidArgument, "endpoints", "at least one endpoint"},
		{"validate unknown", func() error {
			_, err := f.client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"reports", "ghost"}})
			return err
		}, codes.NotFound, ReasonEndpointNotFound, "", `"ghost"`},
		{"validate duplicate", func() error {
			_, err := f.client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"reports", "reports"}})
			return err
		}, codes.InvalidArgument, ReasonInvalidArgument, "endpoints[1]", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			code, ei := errInfo(t, err)
			if code != tt.code || ei == nil || ei.GetReason() != tt.reason || ei.GetDomain() != ErrorDomain {
				t.Fatalf("err = %v (info %v), want %v %s", err, ei, tt.code, tt.reason)
			}
			if tt.field != "" && ei.GetMetadata()["field"] != tt.field {
				t.Errorf("field = %q, want %q", ei.GetMetadata()["field"], tt.field)
			}
			if !strings.Contains(status.Convert(err).Message(), tt.msgContain) {
				t.Errorf("message %q lacks %q", status.Convert(err).Message(), tt.msgContain)
			}
		})
	}
}

func TestCredentialUnavailable(t *testing.T) {
	f := startBufconn(t)
	if err := os.Remove(f.pwFile); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"})
	code, ei := errInfo(t, err)
	if code != codes.Unavailable || ei.GetReason() != ReasonCredentialUnavailable {
		t.Fatalf("err = %v, want UNAVAILABLE", err)
	}
	// L7: the caller learns the source's kind, never its path.
	if msg := status.Convert(err).Message(); strings.Contains(msg, f.pwFile) || !strings.Contains(msg, "credential from file") {
		t.Errorf("message = %q, want the source kind (file) without its path", msg)
	}
}

func TestListEndpointsAndHealthOverSocket(t *testing.T) {
	conn, _ := startSocket(t)
	ctx := context.Background()
	resp, err := v1.NewBrokerServiceClient(conn).ListEndpoints(ctx, &v1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range resp.GetEndpoints() {
		names = append(names, e.GetName()+"/"+e.GetAuthMethod().String())
	}
	if got := strings.Join(names, ","); got != "orders/AUTH_METHOD_IAM,reports/AUTH_METHOD_PASSWORD" {
		t.Errorf("endpoints = %s", got)
	}
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: v1.BrokerService_ServiceDesc.ServiceName})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hr, err)
	}
}

func TestValidateRefusedOverSocket(t *testing.T) {
	conn, _ := startSocket(t)
	resp, err := v1.NewBrokerServiceClient(conn).ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{Endpoints: []string{"reports"}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetResults()[0]
	if resp.GetOk() || r.GetOk() || !strings.Contains(r.GetReason(), "refused") {
		t.Fatalf("validation of a closed port: %v", r)
	}
	if st := r.GetStages(); len(st) != 2 || st[0].GetName() != v1.StageName_STAGE_NAME_CREDENTIAL || !st[0].GetOk() || st[1].GetName() != v1.StageName_STAGE_NAME_DIAL || st[1].GetOk() {
		t.Errorf("stages: %v", st)
	}
	// The method and plugin the login used are the resolution's, with its
	// evidence; nothing repeats them.
	if res := r.GetResolution(); res.GetMethod() != v1.AuthMethod_AUTH_METHOD_PASSWORD || len(res.GetEvidence()) == 0 ||
		res.GetEvidence()[0].GetSource() != v1.EvidenceSource_EVIDENCE_SOURCE_CONFIG {
		t.Errorf("resolution: %v", res)
	}
}
