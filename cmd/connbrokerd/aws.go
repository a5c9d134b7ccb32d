package main

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// roleProviders returns, per role ARN, a cached STS assume-role
// credentials provider built on the broker's own AWS config. Endpoints with
// role_arn sign their IAM tokens with these.
func roleProviders(cfg aws.Config) func(roleARN string) aws.CredentialsProvider {
	client := sts.NewFromConfig(cfg)
	var mu sync.Mutex
	byRole := map[string]aws.CredentialsProvider{}
	return func(roleARN string) aws.CredentialsProvider {
		mu.Lock()
		defer mu.Unlock()
		p, ok := byRole[roleARN]
		if !ok {
			p = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, roleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "connbroker"
			}))
			byRole[roleARN] = p
		}
		return p
	}
}
