package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

const staleWarning = "the credential source is failing"

// TestParamsCache checks that cached hints/resolution messages are shared
// between calls, are rebuilt after a config change, and that a stale
// credential's warning never leaks into the shared view.
func TestParamsCache(t *testing.T) {
	var failing atomic.Bool
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	build := func(ctx context.Context, endpoint, region, user string, creds aws.CredentialsProvider, opts ...func(*auth.BuildAuthTokenOptions)) (string, error) {
		if failing.Load() {
			return "", errors.New("sts is down")
		}
		return fmt.Sprintf("%s/?X-Amz-Date=%s&X-Amz-Signature=x", endpoint, clock().UTC().Format("20060102T150405Z")), nil
	}
	parse := func(user string) *config.Config {
		c, err := config.Parse("test", []byte("endpoints:\n  orders:\n    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com\n    user: "+user+"\n    auth: iam\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	iam := credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDCACHETEST0000001", "s", ""), credential.WithClock(clock), credential.WithTokenBuilder(build))
	svc := broker.New(parse("app_a"), &credential.Router{IAM: iam}, nil)
	s := New(svc)
	ctx := context.Background()
	get := func() *v1.ConnectionParams {
		t.Helper()
		r, err := s.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetParams()
	}
	uncached := func() *v1.ConnectionParams {
		t.Helper()
		p, err := svc.Params(ctx, "orders", "pymysql")
		if err != nil {
			t.Fatal(err)
		}
		out, err := paramsToProto(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	a, b := get(), get()
	if a.GetHints() != b.GetHints() || a.GetResolution() != b.GetResolution() {
		t.Error("second call rebuilt hints/resolution instead of sharing them")
	}
	noView := protocmp.IgnoreFields(&v1.ConnectionParams{}, "view_sha256") // only the cached path has a view
	if diff := cmp.Diff(uncached(), b, protocmp.Transform(), noView); diff != "" {
		t.Errorf("cached response differs from a fresh conversion (-fresh +cached):\n%s", diff)
	}

	svc.SetConfig(parse("app_b"))
	c := get()
	if c.GetUser() != "app_b" || c.GetHints() == a.GetHints() {
		t.Errorf("after SetConfig: user %q, hints shared with the old config: %v", c.GetUser(), c.GetHints() == a.GetHints())
	}
	if diff := cmp.Diff(uncached(), c, protocmp.Transform(), noView); diff != "" {
		t.Errorf("after SetConfig (-fresh +cached):\n%s", diff)
	}

	// Past refresh_after with signing down: the still-valid token is served
	// stale, with a warning that must not stick to the shared view.
	now.Add(int64(11 * time.Minute))
	failing.Store(true)
	st := get()
	if !strings.Contains(strings.Join(st.GetHints().GetWarnings(), "\n"), staleWarning) {
		t.Errorf("stale response lacks the warning: %v", st.GetHints().GetWarnings())
	}
	failing.Store(false)
	fresh := get()
	if strings.Contains(strings.Join(fresh.GetHints().GetWarnings(), "\n"), staleWarning) {
		t.Errorf("the stale warning leaked into later responses: %v", fresh.GetHints().GetWarnings())
	}
	if fresh.GetHints() != c.GetHints() {
		t.Error("fresh response after the stale one does not use the shared view")
	}
}

// TestRepeatResponse checks the compact repeat response of a password
// endpoint with a CA bundle and PyMySQL hints: the CA PEM is sent only
// while the client does not hold it (ca_sha256 always), the options that
// repeat ConnectionParams fields are left out only when asked and named in
// param_options, putting them back gives exactly the full options, a
// repeat call returns the cached response message, and it is at most 400
// bytes.
func TestRepeatResponse(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "database CA")
	caFile := ca.WriteCA(t, dir, "db")
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("Repeat-Pass-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := New(broker.New(localPasswordConfig(t, pw, caFile, "orders"), &credential.Router{Password: credential.NewPasswords(nil)}, nil))
	ctx := context.Background()
	get := func(req *v1.GetConnectionParamsRequest) *v1.GetConnectionParamsResponse {
		t.Helper()
		r, err := s.GetConnectionParams(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sum := sha256.Sum256(pemBytes)
	first := get(&v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql"})
	if first.GetParams().GetTls().GetCaPem() != string(pemBytes) || !bytes.Equal(first.GetParams().GetTls().GetCaSha256(), sum[:]) {
		t.Fatalf("first call: ca_pem %d bytes, ca_sha256 %x (want %x)", len(first.GetParams().GetTls().GetCaPem()), first.GetParams().GetTls().GetCaSha256(), sum)
	}
	if first.GetParams().GetHints().GetParamOptions() != nil {
		t.Errorf("param_options set without omit_param_options: %v", first.GetParams().GetHints().GetParamOptions())
	}
	wrong := get(&v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", KnownCaSha256: make([]byte, 32), OmitParamOptions: true})
	if wrong.GetParams().GetTls().GetCaPem() != string(pemBytes) {
		t.Error("a client holding another CA did not get the PEM")
	}
	req := &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", KnownCaSha256: sum[:], OmitParamOptions: true}
	repeat, again := get(req), get(req)
	if again != repeat {
		t.Error("a repeat call with the same credential rebuilt the response")
	}
	if wire, ok := s.wire.m.Load(repeat); !ok {
		t.Error("the cached response has no marshalled bytes")
	} else if got := new(v1.GetConnectionParamsResponse); proto.Unmarshal(wire.([]byte), got) != nil || !proto.Equal(got, repeat) {
		t.Error("the marshalled bytes are not the cached response")
	}
	rp := repeat.GetParams()
	if rp.GetTls().GetCaPem() != "" || !bytes.Equal(rp.GetTls().GetCaSha256(), sum[:]) {
		t.Errorf("repeat: ca_pem %d bytes, ca_sha256 %x", len(rp.GetTls().GetCaPem()), rp.GetTls().GetCaSha256())
	}
	names := rp.GetHints().GetParamOptions()
	if diff := cmp.Diff(&v1.ParamOptionNames{Host: "host", Port: "port", User: "user", Database: "database"}, names, protocmp.Transform()); diff != "" {
		t.Errorf("param_options (-want +got):\n%s", diff)
	}
	// Put the fields back as clients do: the full options again.
	got := v1.OptionsMap(rp.GetHints().GetOptions())
	got[names.GetHost()], got[names.GetPort()], got[names.GetUser()], got[names.GetDatabase()] = rp.GetHost(), int64(rp.GetPort()), rp.GetUser(), rp.GetDatabase()
	if diff := cmp.Diff(v1.OptionsMap(first.GetParams().GetHints().GetOptions()), got); diff != "" {
		t.Errorf("options with the params put back differ from the full ones (-full +rebuilt):\n%s", diff)
	}
	if n := proto.Size(repeat); n > 400 {
		t.Errorf("repeat response is %d bytes, want <= 400", n)
	}
	t.Logf("first response %d bytes, repeat %d bytes:\n%s", proto.Size(first), proto.Size(repeat), prototext.Format(repeat))
}

// localPasswordConfig is a config with one password endpoint "local"
// (verify-identity with caFile, the password in the file pw) whose default
// schema is db.
func localPasswordConfig(t *testing.T, pw, caFile, db string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test", []byte(fmt.Sprintf(`
endpoints:
  local:
    host: db.internal.example
    port: 3307
    user: app_orders
    database: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, db, pw, caFile)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestViewOmitted checks the repeat response of a client that holds the
// view: every full response names its view's digest, which is the same for
// each request variant (CA held or not, options left out or not); a
// request naming it gets only endpoint, credential and the digest, with a
// fresh credential each time the credential changes; a wrong or old
// digest gets the whole response; a config change that alters the view
// changes the digest.
func TestViewOmitted(t *testing.T) {
	dir := t.TempDir()
	caFile := testpki.NewCA(t, "database CA").WriteCA(t, dir, "db")
	pw := filepath.Join(dir, "pw")
	write := func(p string) {
		if err := os.WriteFile(pw, []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("View-Pass-0001")
	parse := func(db string) *config.Config { return localPasswordConfig(t, pw, caFile, db) }
	passwords := credential.NewPasswords(nil)
	svc := broker.New(parse("orders"), &credential.Router{Password: passwords}, nil)
	s := New(svc)
	ctx := context.Background()
	get := func(req *v1.GetConnectionParamsRequest) *v1.ConnectionParams {
		t.Helper()
		r, err := s.GetConnectionParams(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.GetParams()
	}
	full := get(&v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql"})
	view := full.GetViewSha256()
	if len(view) != sha256.Size || full.GetViewOmitted() {
		t.Fatalf("full response: view_sha256 %x, view_omitted %v", view, full.GetViewOmitted())
	}
	compact := get(&v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true, KnownCaSha256: full.GetTls().GetCaSha256()})
	if !bytes.Equal(compact.GetViewSha256(), view) || compact.GetHints() == nil {
		t.Errorf("compact variant: view_sha256 %x (want %x), hints %v", compact.GetViewSha256(), view, compact.GetHints())
	}
	req := &v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", OmitParamOptions: true, KnownViewSha256: view}
	rep := get(req)
	want := &v1.ConnectionParams{Endpoint: "local", Credential: full.GetCredential(), ViewSha256: view, ViewOmitted: true}
	if diff := cmp.Diff(want, rep, protocmp.Transform()); diff != "" {
		t.Errorf("view held: (-want +got):\n%s", diff)
	}
	if again := get(req); again != rep {
		t.Error("a repeat call with the same credential rebuilt the view-omitted response")
	}
	if n := proto.Size(&v1.GetConnectionParamsResponse{Params: rep}); n > 100 {
		t.Errorf("view-omitted response is %d bytes, want <= 100", n)
	}

	// A rotated password: still only the credential, the new one.
	write("View-Pass-0002")
	passwords.Invalidate(svc.Config().Endpoints["local"])
	if got := get(req); got.GetCredential().GetSecret() != "View-Pass-0002" || !got.GetViewOmitted() {
		t.Errorf("after rotation: secret %q, view_omitted %v", got.GetCredential().GetSecret(), got.GetViewOmitted())
	}
	// A digest the broker did not send: the whole response.
	if got := get(&v1.GetConnectionParamsRequest{Endpoint: "local", Driver: "pymysql", KnownViewSha256: make([]byte, 32)}); got.GetViewOmitted() || got.GetHost() == "" || got.GetHints() == nil {
		t.Errorf("unknown digest: view_omitted %v, host %q", got.GetViewOmitted(), got.GetHost())
	}
	// Another view (a config change): another digest, and the old one gets everything.
	svc.SetConfig(parse("billing"))
	got := get(req)
	if got.GetViewOmitted() || got.GetDatabase() != "billing" || bytes.Equal(got.GetViewSha256(), view) || len(got.GetViewSha256()) != sha256.Size {
		t.Errorf("after a config change: view_omitted %v, database %q, view_sha256 %x (old %x)", got.GetViewOmitted(), got.GetDatabase(), got.GetViewSha256(), view)
	}
}

// TestCachedCodec checks that the server sends the bytes marshalled once
// for a cached response, that they are exactly that response's encoding,
// and that a replaced response's bytes are dropped.
func TestCachedCodec(t *testing.T) {
	conn, _ := startSocket(t)
	cl := v1.NewBrokerServiceClient(conn)
	ctx := context.Background()
	req := &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", OmitParamOptions: true}
	a, err := cl.GetConnectionParams(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl.GetConnectionParams(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, b) || a.GetParams().GetCredential().GetSecret() == "" {
		t.Errorf("repeat responses differ or carry no secret")
	}
	w := &wireCache{}
	codec := newCachedCodec(w)
	resp := &v1.GetConnectionParamsResponse{Params: &v1.ConnectionParams{Endpoint: "x", Host: "h"}}
	want, _ := proto.Marshal(resp)
	w.m.Store(resp, []byte("cached"))
	got, err := codec.Marshal(resp)
	if err != nil || string(got.Materialize()) != "cached" {
		t.Errorf("codec did not send the cached bytes: %q, %v", got.Materialize(), err)
	}
	w.m.Delete(resp)
	got, err = codec.Marshal(resp)
	if err != nil || !bytes.Equal(got.Materialize(), want) {
		t.Errorf("codec without an entry: %x, %v (want %x)", got.Materialize(), err, want)
	}
}

// TestReloadRetainsNoConfig: after each reload a GetConnectionParams gets
// the new endpoint (not a cached response of the old one), and no cache of
// the server or the service keeps a replaced config alive.
func TestReloadRetainsNoConfig(t *testing.T) {
	pw := credential.NewPasswords(func(string) (string, bool) { return "pw", true })
	parse := func(user string) *config.Config {
		c, err := config.Parse("test", []byte("endpoints:\n  orders:\n    host: 127.0.0.1\n    user: "+user+"\n    auth: password\n    password: {env: PW}\n    tls: {mode: disabled}\n"))
		if err != nil {
			t.Fatal(err)
		}
		c.Endpoints["orders"].TLS.CAPEM = make([]byte, 64<<10) // weight, as a kept config would show
		return c
	}
	svc := broker.New(parse("app_0"), &credential.Router{Password: pw}, nil)
	s := New(svc)
	ctx := context.Background()
	get := func(user string) {
		t.Helper()
		for range 2 { // the second one is the cached response
			r, err := s.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
			if err != nil {
				t.Fatal(err)
			}
			if p := r.GetParams(); p.GetUser() != user || !strings.Contains(prototext.Format(p.GetHints()), `"`+user+`"`) {
				t.Fatalf("user %q, hints %v: want %q (a stale response of an old config)", p.GetUser(), p.GetHints(), user)
			}
		}
	}
	get("app_0")
	var replaced []weak.Pointer[config.Config]
	for i := 1; i <= 30; i++ {
		replaced = append(replaced, weak.Make(svc.Config()))
		user := fmt.Sprintf("app_%d", i)
		svc.SetConfig(parse(user))
		get(user)
	}
	// The last one is checked before any call after its replacement: a
	// cache that drops its config only on the next call would keep it.
	replaced = append(replaced, weak.Make(svc.Config()))
	svc.SetConfig(parse("app_final"))
	runtime.GC()
	runtime.GC()
	for i, w := range replaced {
		if w.Value() != nil {
			t.Errorf("config %d is still reachable after it was replaced", i)
		}
	}
	get("app_final")
}
