package connbrokerv1

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
		Tls: &TLSSettings{CaSha256: []byte{1, 2, 3, 4}},
		Hints: &DriverHints{Driver: "pymysql", Options: opts, Packages: []string{"PyMySQL>=1.1.2"}, Warnings: []string{"w1", "w2"},
			ParamOptions: &ParamOptionNames{Host: "host"}},
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

// TestCodecArenaShapes checks the one-allocation layout (arena.go) keeps
// presence and falls back for responses larger than its arrays: every
// response reads back equal to what proto.Unmarshal reads.
func TestCodecArenaShapes(t *testing.T) {
	many := make(map[string]any)
	for i := range arenaOptions + 3 {
		many[fmt.Sprintf("opt%02d", i)] = i
	}
	manyOpts, err := OptionsFromMap(many)
	if err != nil {
		t.Fatal(err)
	}
	manyEvidence := make([]*Evidence, arenaEvidence+1)
	for i := range manyEvidence {
		manyEvidence[i] = &Evidence{Detail: fmt.Sprint(i)}
	}
	full := sampleResponse(t)
	for name, in := range map[string]*GetConnectionParamsResponse{
		"full":           full,
		"empty":          {},
		"empty params":   {Params: &ConnectionParams{}},
		"no hints":       {Params: &ConnectionParams{Endpoint: "e", Resolution: &Resolution{}}},
		"empty hints":    {Params: &ConnectionParams{Hints: &DriverHints{}, Credential: &Credential{Secret: "s"}}},
		"many options":   {Params: &ConnectionParams{Hints: &DriverHints{Options: manyOpts, Packages: []string{"a", "b", "c"}, Warnings: []string{"1", "2", "3", "4"}}}},
		"many evidence":  {Params: &ConnectionParams{Resolution: &Resolution{Evidence: manyEvidence}}},
		"empty evidence": {Params: &ConnectionParams{Resolution: &Resolution{Evidence: []*Evidence{{}}}}},
		"refresh only":   {Params: &ConnectionParams{Credential: &Credential{RefreshAfter: timestamppb.New(time.Unix(5, 0))}}},
		"view omitted": {Params: &ConnectionParams{Endpoint: "e", ViewSha256: []byte{9, 8, 7}, ViewOmitted: true,
			Credential: &Credential{Secret: "s", ExpiresAt: timestamppb.New(time.Unix(7, 0)), RefreshAfter: timestamppb.New(time.Unix(5, 0))}}},
	} {
		b, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var c Codec
		got := new(GetConnectionParamsResponse)
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := new(GetConnectionParamsResponse)
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s: (-proto.Unmarshal +v1.Codec):\n%s", name, diff)
		}
		if !proto.Equal(want, got) { // presence too
			t.Errorf("%s: not proto.Equal", name)
		}
	}
	var c Codec
	b, _ := proto.Marshal(full)
	for _, cut := range []int{1, 5, len(b) / 2, len(b) - 1} {
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b[:cut])}, new(GetConnectionParamsResponse)); err == nil {
			t.Errorf("a response cut at %d of %d bytes decoded without error", cut, len(b))
		}
	}
}

// TestCodecAllocations pins the allocations of a client's decode of a
// repeat PyMySQL response (the shape BENCHMARKS.md measures): the new
// response, the buffer copy, one arena, and the wrapper of each scalar
// oneof hint option the compiler does not fold (the string one).
func TestCodecAllocations(t *testing.T) {
	opts, err := OptionsFromMap(map[string]any{"ssl_ca": "{ca_file}", "ssl_verify_cert": true, "ssl_verify_identity": true})
	if err != nil {
		t.Fatal(err)
	}
	in := &GetConnectionParamsResponse{Params: &ConnectionParams{
		Endpoint: "local", Host: "db.internal.example", Port: 3307, User: "app_orders", Database: "orders",
		Credential: &Credential{Kind: CredentialKind_CREDENTIAL_KIND_PASSWORD, Secret: "Repeat-Pass-1234", Source: "file"},
		Tls:        &TLSSettings{Mode: TLSMode_TLS_MODE_VERIFY_IDENTITY, ServerName: "db.internal.example", CaSha256: make([]byte, 32)},
		Hints: &DriverHints{Driver: "pymysql", Options: opts, SecretOption: "password", Packages: []string{"PyMySQL>=1.1.2"}, MinVersion: "1.1.2",
			ParamOptions: &ParamOptionNames{Host: "host", Port: "port", User: "user", Database: "database"}},
		Resolution: &Resolution{Method: AuthMethod_AUTH_METHOD_PASSWORD, Evidence: []*Evidence{{Source: EvidenceSource_EVIDENCE_SOURCE_CONFIG, Detail: "auth: password"}}, TlsRequired: true},
	}}
	var c Codec
	out, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	size := out.Len()
	allocs := testing.AllocsPerRun(200, func() {
		if err := c.Unmarshal(out, new(GetConnectionParamsResponse)); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 6 {
		t.Errorf("unmarshal made %.0f allocations, want <= 6", allocs)
	}
	t.Logf("unmarshal of %d bytes: %.0f allocations", size, allocs)
}

// TestCodecViewOmittedAllocations pins the decode of a repeat response
// whose view the client holds (endpoint, credential, view digest): the new
// response, the buffer copy and one small arena.
func TestCodecViewOmittedAllocations(t *testing.T) {
	in := &GetConnectionParamsResponse{Params: &ConnectionParams{Endpoint: "orders", ViewSha256: make([]byte, 32), ViewOmitted: true,
		Credential: &Credential{Kind: CredentialKind_CREDENTIAL_KIND_IAM_TOKEN, Secret: "token", Source: "iam",
			ExpiresAt: timestamppb.New(time.Unix(1_800_000_900, 0)), RefreshAfter: timestamppb.New(time.Unix(1_800_000_600, 0))}}}
	var c Codec
	out, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		got := new(GetConnectionParamsResponse)
		if err := c.Unmarshal(out, got); err != nil || !got.GetParams().GetViewOmitted() {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("unmarshal made %.0f allocations, want <= 3", allocs)
	}
}

// TestCodecBytesFieldsClipped checks a decoded bytes field can be
// appended to without changing the strings that view the same buffer, and
// that clipBytes knows every bytes field of the API and every message that
// reaches one (a new one fails here until it is added there).
func TestCodecBytesFieldsClipped(t *testing.T) {
	var c Codec
	check := func(name string, in, out proto.Message, sum func() *[]byte) {
		t.Helper()
		b, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, out); err != nil {
			t.Fatal(err)
		}
		f := sum()
		*f = append(*f, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee)
		(*f)[0] = 0xee
		want := proto.Clone(in)
		if diff := cmp.Diff(want, out, protocmp.Transform(), protocmp.IgnoreFields(&TLSSettings{}, "ca_sha256"),
			protocmp.IgnoreFields(&GetConnectionParamsRequest{}, "known_ca_sha256", "known_view_sha256"), protocmp.IgnoreFields(&ConnectionParams{}, "view_sha256")); diff != "" {
			t.Errorf("%s: appending to a bytes field changed the message (-want +got):\n%s", name, diff)
		}
	}
	params := func() *ConnectionParams {
		return &ConnectionParams{Tls: &TLSSettings{CaSha256: []byte{1, 2, 3}, CaPem: "pem-after-the-digest"}, Hints: &DriverHints{Driver: "after"}}
	}
	resp, watch, req := &GetConnectionParamsResponse{}, &WatchConnectionParamsResponse{}, &GetConnectionParamsRequest{}
	check("GetConnectionParamsResponse", &GetConnectionParamsResponse{Params: params()}, resp, func() *[]byte { return &resp.Params.Tls.CaSha256 })
	check("WatchConnectionParamsResponse", &WatchConnectionParamsResponse{Params: params()}, watch, func() *[]byte { return &watch.Params.Tls.CaSha256 })
	check("GetConnectionParamsRequest", &GetConnectionParamsRequest{KnownCaSha256: []byte{1, 2}, Driver: "after", Endpoint: "e"}, req, func() *[]byte { return &req.KnownCaSha256 })
	req2, resp2 := &GetConnectionParamsRequest{}, &GetConnectionParamsResponse{}
	check("GetConnectionParamsRequest.known_view_sha256", &GetConnectionParamsRequest{KnownViewSha256: []byte{1, 2}, Driver: "after", Endpoint: "e"}, req2, func() *[]byte { return &req2.KnownViewSha256 })
	check("ConnectionParams.view_sha256", &GetConnectionParamsResponse{Params: &ConnectionParams{ViewSha256: []byte{1, 2}, Credential: &Credential{Secret: "after"}}}, resp2, func() *[]byte { return &resp2.Params.ViewSha256 })

	// Every message with a bytes field, and every message that holds one of
	// those, directly or not: the top-level ones are clipBytes's cases.
	msgs := File_connbroker_v1_broker_proto.Messages()
	holds := map[protoreflect.FullName]bool{}
	for changed := true; changed; {
		changed = false
		for i := range msgs.Len() {
			md := msgs.Get(i)
			if holds[md.FullName()] {
				continue
			}
			fs := md.Fields()
			for j := range fs.Len() {
				f := fs.Get(j)
				if f.Kind() == protoreflect.BytesKind || (f.Message() != nil && holds[f.Message().FullName()]) {
					holds[md.FullName()], changed = true, true
					break
				}
			}
		}
	}
	want := map[protoreflect.FullName]bool{
		"connbroker.v1.GetConnectionParamsRequest": true, "connbroker.v1.TLSSettings": true, "connbroker.v1.ConnectionParams": true,
		"connbroker.v1.GetConnectionParamsResponse": true, "connbroker.v1.WatchConnectionParamsResponse": true,
		"connbroker.v1.PreflightRequest": true, "connbroker.v1.PreflightChange": true,
	}
	if diff := cmp.Diff(want, holds); diff != "" {
		t.Errorf("messages reaching a bytes field changed: update clipBytes in codec.go (-known +now):\n%s", diff)
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
