package connbrokerv1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sampleResponse has every kind of field the codec must carry: strings,
// bytes, enums, a timestamp, nested and repeated messages, oneofs.
func sampleResponse(t *testing.T) *GetConnectionParamsResponse {
	t.Helper()
	opts, err := OptionsFromMap(map[string]any{"ssl_ca": "{ca_file}", "ssl_verify_cert": true, "port": 3306,
		"ssl": map[string]any{"ca": "{ca_file}", "rejectUnauthorized": true}})
	if err != nil {
		t.Fatal(err)
	}
	return &GetConnectionParamsResponse{Params: &ConnectionParams{
		Endpoint: "orders", Host: "orders.internal", Port: 3306, User: "app_orders", Database: "orders",
		Credential: &Credential{Kind: CredentialKind_CREDENTIAL_KIND_IAM_TOKEN, Secret: "token-secret",
			ExpiresAt: timestamppb.New(time.Unix(1_800_000_000, 5).UTC())},
		Tls:        &TLSSettings{CaSha256: []byte{1, 2, 3, 4}},
		Hints:      &DriverHints{Driver: "pymysql", Options: opts, Warnings: []string{"w1", "w2"}, ParamOptions: &ParamOptionNames{Host: "host"}},
		Resolution: &Resolution{Method: AuthMethod_AUTH_METHOD_IAM, Plugin: "mysql_clear_password", Evidence: []*Evidence{{Detail: "a"}, {Detail: "b"}}},
	}}
}

// TestCodecSameWireAsProto checks v1.Codec writes what proto.Marshal
// writes, reads it back equal (also from a multi-buffer slice), and that
// the decoded strings and bytes survive the reuse of gRPC's buffer.
func TestCodecSameWireAsProto(t *testing.T) {
	in := sampleResponse(t)
	var c Codec
	out, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Materialize()
	out.Free()
	if back := new(GetConnectionParamsResponse); proto.Unmarshal(got, back) != nil || !proto.Equal(back, in) {
		t.Fatalf("proto.Unmarshal of v1.Codec's bytes differs: %v", back)
	}
	std, _ := proto.MarshalOptions{Deterministic: true}.Marshal(in)
	for name, data := range map[string]mem.BufferSlice{
		"one buffer":   {mem.SliceBuffer(append([]byte(nil), std...))},
		"two buffers":  {mem.SliceBuffer(append([]byte(nil), std[:7]...)), mem.SliceBuffer(append([]byte(nil), std[7:]...))},
		"empty buffer": {mem.SliceBuffer(nil), mem.SliceBuffer(append([]byte(nil), std...))},
	} {
		dec := &GetConnectionParamsResponse{Params: &ConnectionParams{Endpoint: "stale"}} // reset first
		if err := c.Unmarshal(data, dec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, b := range data { // gRPC reuses its buffers after the call
			buf := b.ReadOnlyData()
			for i := range buf {
				buf[i] = 0xff
			}
		}
		if diff := cmp.Diff(in, dec, protocmp.Transform()); diff != "" {
			t.Errorf("%s: decoded (-want +got):\n%s", name, diff)
		}
	}
}

// TestCodecOtherMessages checks messages of other packages go through
// gRPC's proto codec.
func TestCodecOtherMessages(t *testing.T) {
	var c Codec
	in := &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}
	out, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	back := new(grpc_health_v1.HealthCheckResponse)
	if err := c.Unmarshal(out, back); err != nil || back.GetStatus() != in.GetStatus() {
		t.Fatalf("health round trip: %v %v", back, err)
	}
	if c.Name() != "proto" {
		t.Errorf("Name %q, want proto (the content subtype every peer uses)", c.Name())
	}
}
