package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestInsecureWarnsAtEveryStart: with insecure: true the daemon logs a
// warning each time it starts (here twice, on loopback: tests never listen
// elsewhere).
func TestInsecureWarnsAtEveryStart(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for i := range 2 {
		lis, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := lis.Addr().String()
		lis.Close()
		cfg := writeConfig(t, "listen: "+addr+"\ninsecure: true\n"+goodConfig)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		code, _, errOut := daemon(ctx, "--dev", "--config", cfg)
		cancel()
		if code != 0 {
			t.Fatalf("start %d: exit %d: %s", i, code, errOut)
		}
		if !strings.Contains(errOut, "level=WARN") || !strings.Contains(errOut, "insecure: true") {
			t.Errorf("start %d: no insecure warning in:\n%s", i, errOut)
		}
	}
}
