package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// TestAWSConnsClosedWithRun: an AWS client's idle keep-alive connection,
// which its transport would keep for 90 s, is closed by awsConns.Close
// (run's last defer), and a dial after it fails.
func TestAWSConnsClosedWithRun(t *testing.T) {
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	conns := &awsConns{m: map[*trackedConn]struct{}{}}
	c := awshttp.NewBuildableClient().WithTimeout(5 * time.Second).WithTransportOptions(conns.track)
	get := func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if n := open.Load(); n != 1 {
		t.Fatalf("%d open connections after a request, want 1 (kept alive)", n)
	}
	conns.Close()
	for deadline := time.Now().Add(5 * time.Second); open.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the idle AWS connection is still open 5 s after Close")
		}
	}
	if err := get(); !errors.Is(err, errAWSClosed) {
		t.Errorf("request after Close = %v, want errAWSClosed", err)
	}
}
