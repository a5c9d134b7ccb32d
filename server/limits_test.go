package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/caller"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// F7: a caller may keep at most limits.watch_streams_per_caller watches
// open; another caller is not affected, and a closed stream frees its slot.
func TestWatchStreamsBeyondTheCapAreRefused(t *testing.T) {
	f := startMTLS(t, mtlsPolicy+"limits: {watch_streams_per_caller: 5}\n")
	batch := f.client(t, dnsLeaf("batch.jobs.internal"), nil)
	open := func(cl v1.BrokerServiceClient) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := cl.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports"})
		if err == nil {
			_, err = s.Recv()
		}
		return cancel, err
	}
	var cancels []context.CancelFunc
	t.Cleanup(func() {
		for _, c := range cancels {
			c()
		}
	})
	for i := range 5 {
		c, err := open(batch)
		cancels = append(cancels, c)
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	for range 3 {
		c, err := open(batch)
		c()
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("watch beyond the cap: %v, want RESOURCE_EXHAUSTED", err)
		}
		if _, ei := errInfo(t, err); ei.GetReason() != ReasonRateLimited {
			t.Errorf("reason %q, want %s", ei.GetReason(), ReasonRateLimited)
		}
	}
	// Another identity has its own cap.
	other := f.client(t, uriLeaf("spiffe://prod/ns/reports/sa/web"), nil)
	c, err := open(other)
	cancels = append(cancels, c)
	if err != nil {
		t.Fatalf("another caller's watch: %v", err)
	}
	// Closing one frees a slot.
	cancels[0]()
	var werr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var c context.CancelFunc
		if c, werr = open(batch); werr == nil {
			cancels = append(cancels, c)
			break
		}
		c()
	}
	if werr != nil {
		t.Errorf("watch after closing one: %v", werr)
	}
}

// L4: every loopback address is one anonymous caller, so binding
// 127.0.0.2, 127.0.0.3 … gives no fresh buckets.
func TestLoopbackAddressesShareOneBucket(t *testing.T) {
	svc, _, _ := newService(t)
	cfg := *svc.Config()
	cfg.Limits.IssueRate, cfg.Limits.IssueBurst = 0.001, 3
	svc.SetConfig(&cfg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := NewGRPCServer(svc, slog.New(slog.DiscardHandler))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	var codesSeen []codes.Code
	for i := range 6 {
		src := net.IPv4(127, 0, 0, byte(2+i))
		conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
				return d.DialContext(ctx, "tcp", addr)
			}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v1.NewBrokerServiceClient(conn).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"})
		conn.Close()
		codesSeen = append(codesSeen, status.Code(err))
	}
	want := []codes.Code{codes.OK, codes.OK, codes.OK, codes.ResourceExhausted, codes.ResourceExhausted, codes.ResourceExhausted}
	for i := range want {
		if codesSeen[i] != want[i] {
			t.Fatalf("codes from 127.0.0.2..7 = %v, want %v", codesSeen, want)
		}
	}
}

func TestCallerKey(t *testing.T) {
	tcp := func(ip string) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}})
	}
	withID := func(ctx context.Context, id caller.Identity) context.Context { return caller.NewContext(ctx, id) }
	api := caller.Identity{Name: "spiffe://prod/ns/orders/sa/api", Kind: caller.KindURI}
	for _, tt := range []struct {
		name string
		a, b context.Context
		same bool
	}{
		{"loopback v4 addresses", tcp("127.0.0.2"), tcp("127.0.0.9"), true},
		{"loopback v4 and v6", tcp("127.0.0.1"), tcp("::1"), true},
		{"one identity from two hosts", withID(tcp("10.0.0.1"), api), withID(tcp("10.0.0.2"), api), true},
		{"two identities from one host", withID(tcp("10.0.0.1"), api), withID(tcp("10.0.0.1"), caller.FromUID(1000)), false},
		{"an identity and the anonymous caller at its address", withID(tcp("10.0.0.1"), api), tcp("10.0.0.1"), false},
		{"two unix uids", withID(context.Background(), caller.FromUID(1000)), withID(context.Background(), caller.FromUID(1001)), false},
		{"two anonymous hosts", tcp("10.0.0.1"), tcp("10.0.0.2"), false},
		{"one IPv6 /64", tcp("2001:db8::1"), tcp("2001:db8::ffff:1"), true},
		{"two IPv6 /64s", tcp("2001:db8:0:1::1"), tcp("2001:db8:0:2::1"), false},
	} {
		if got := callerKey(tt.a) == callerKey(tt.b); got != tt.same {
			t.Errorf("%s: keys %q and %q, same = %v, want %v", tt.name, callerKey(tt.a), callerKey(tt.b), got, tt.same)
		}
	}
}

// L6: connections are recycled after limits.max_connection_age, so a
// client certificate that has expired stops working instead of riding an
// open connection.
func TestExpiredClientCertStopsWorking(t *testing.T) {
	f := startMTLS(t, mtlsPolicy+"limits: {max_connection_age: 1s, max_connection_age_grace: 500ms}\n")
	leaf := dnsLeaf("batch.jobs.internal")
	leaf.NotAfter = time.Now().Add(2 * time.Second)
	cl := f.client(t, leaf, nil)
	ctx := context.Background()
	if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "reports"}); err != nil {
		t.Fatalf("call while the certificate is valid: %v", err)
	}
	time.Sleep(time.Until(leaf.NotAfter) + 2*time.Second) // past expiry and past age + grace
	var err error
	for range 3 { // the client may need a call to notice the GOAWAY
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = cl.GetConnectionParams(cctx, &v1.GetConnectionParamsRequest{Endpoint: "reports"})
		cancel()
		if err != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("an expired client certificate still gets credentials")
	}
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		t.Errorf("expired certificate: %v, want UNAVAILABLE (handshake refused)", err)
	}
}

// F6: limits.validate counts endpoints, and all: true costs every
// configured endpoint, so it cannot bypass the rate with one token.
func TestValidateRateCountsEndpoints(t *testing.T) {
	var b strings.Builder
	b.WriteString("limits: {validate: {rate: 0.001, burst: 10}}\nendpoints:\n")
	for i := range 8 {
		fmt.Fprintf(&b, "  e%d:\n    host: 127.0.0.1\n    port: 1\n    user: u\n    auth: password\n    password: {env: NATIVE_PW}\n    tls: {mode: disabled}\n", i)
	}
	client, _, _ := boundsBroker(t, b.String(), Extras{})
	ctx := context.Background()
	var got []codes.Code
	for _, req := range []*v1.ValidateConnectionRequest{
		{All: true},                             // 8 tokens
		{Endpoints: []string{"e0", "e1", "e2"}}, // 3 more than the 2 left
		{Endpoints: []string{"e0", "e1"}},       // the last 2
		{All: true},
	} {
		_, err := client.ValidateConnection(ctx, req)
		got = append(got, status.Code(err))
	}
	want := []codes.Code{codes.OK, codes.ResourceExhausted, codes.OK, codes.ResourceExhausted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("codes = %v, want %v", got, want)
	}
}
