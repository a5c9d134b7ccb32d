package connbrokerv1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// pymysqlOptions are PyMySQL's options for a verify-identity endpoint, as
// broker/hints renders them.
var pymysqlOptions = map[string]any{
	"host": "orders.internal", "port": 3306, "user": "app_orders", "database": "orders",
	"ssl_ca": "{ca_file}", "ssl_verify_cert": true, "ssl_verify_identity": true,
}

func TestOptionsRoundTrip(t *testing.T) {
	in := map[string]any{"host": "h", "port": 3306, "on": false, "ssl": map[string]any{"ca": "{ca_file}", "rejectUnauthorized": true}}
	opts, err := OptionsFromMap(in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range opts {
		names = append(names, o.GetName())
	}
	if diff := cmp.Diff([]string{"host", "on", "port", "ssl"}, names); diff != "" {
		t.Errorf("options are not sorted by name (-want +got):\n%s", diff)
	}
	// Through the wire: a false bool and integers keep their type.
	b, err := proto.Marshal(&DriverHints{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	var back DriverHints
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "h", "port": int64(3306), "on": false, "ssl": map[string]any{"ca": "{ca_file}", "rejectUnauthorized": true}}
	if diff := cmp.Diff(want, OptionsMap(back.GetOptions())); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if back.Option("port").GetIntValue() != 3306 || back.Option("nope") != nil {
		t.Errorf("Option: port %v, nope %v", back.Option("port"), back.Option("nope"))
	}
	if _, err := OptionsFromMap(map[string]any{"x": 1.5}); err == nil {
		t.Error("a float option was accepted")
	}
}

// TestOptionsSmallerThanStruct pins why options are typed: the PyMySQL
// options are smaller on the wire than the google.protobuf.Struct they
// replace (issue 15 wants a repeat GetConnectionParams under 400 bytes).
func TestOptionsSmallerThanStruct(t *testing.T) {
	opts, err := OptionsFromMap(pymysqlOptions)
	if err != nil {
		t.Fatal(err)
	}
	typed, _ := proto.Marshal(&DriverHints{Options: opts})
	st, err := structpb.NewStruct(pymysqlOptions)
	if err != nil {
		t.Fatal(err)
	}
	untyped, _ := proto.Marshal(st)
	t.Logf("typed options %d bytes, Struct %d bytes", len(typed), len(untyped))
	if len(typed) >= len(untyped) {
		t.Errorf("typed options take %d bytes, the Struct %d", len(typed), len(untyped))
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{EventKind_EVENT_KIND_AUTH_SWITCH_REQUEST.Label(), "auth-switch-request"},
		{HandshakeResult_HANDSHAKE_RESULT_SERVER_ERROR.Label(), "server-error"},
		{EndpointKind_ENDPOINT_KIND_AURORA_CLUSTER_READER.Label(), "aurora-cluster-reader"},
		{AWSPartition_AWS_PARTITION_AWS_US_GOV.Label(), "aws-us-gov"},
		{EvidenceSource_EVIDENCE_SOURCE_AWS_API.Label(), "aws-api"},
		{ServerFlavor_SERVER_FLAVOR_MARIADB.Label(), "MariaDB"},
		{StageName_STAGE_NAME_UNSPECIFIED.Label(), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("label %q, want %q", tc.got, tc.want)
		}
	}
}

// BenchmarkOptions compares marshal + unmarshal of the typed options with
// the Struct they replace.
func BenchmarkOptions(b *testing.B) {
	opts, _ := OptionsFromMap(pymysqlOptions)
	st, _ := structpb.NewStruct(pymysqlOptions)
	for _, bc := range []struct {
		name string
		m    proto.Message
		new  func() proto.Message
	}{
		{"typed", &DriverHints{Options: opts}, func() proto.Message { return &DriverHints{} }},
		{"struct", st, func() proto.Message { return &structpb.Struct{} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf, _ := proto.Marshal(bc.m)
				if err := proto.Unmarshal(buf, bc.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOptionsFromMapIntegers: every integer type the domain uses becomes
// an int64 option of the same value.
func TestOptionsFromMapIntegers(t *testing.T) {
	in := map[string]any{"int": 3306, "int32": int32(-7), "int64": int64(1) << 40, "uint16": uint16(65535), "uint32": uint32(4294967295)}
	opts, err := OptionsFromMap(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"int": int64(3306), "int32": int64(-7), "int64": int64(1) << 40, "uint16": int64(65535), "uint32": int64(4294967295)}
	if diff := cmp.Diff(want, OptionsMap(opts)); diff != "" {
		t.Errorf("OptionsMap(OptionsFromMap(...)) (-want +got):\n%s", diff)
	}
	if _, err := OptionsFromMap(map[string]any{"f": 1.5}); err == nil {
		t.Error("a float64 option: want an error")
	}
}
