package credential

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// BenchmarkIAM compares the broker's cache-hit path with signing a token
// per call with auth.BuildAuthToken (what an application does without the
// broker), in one run.
func BenchmarkIAM(b *testing.B) {
	ep := iamEndpoint()
	ctx := context.Background()
	b.Run("BuildAuthToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := auth.BuildAuthToken(ctx, "orders.proxy-abc.us-west-2.rds.amazonaws.com:3306", "us-west-2", "app", staticCreds); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache-hit", func(b *testing.B) {
		i := NewIAM(staticCreds)
		if _, err := i.Issue(ctx, ep); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := i.Issue(ctx, ep); err != nil {
				b.Fatal(err)
			}
		}
	})
}
