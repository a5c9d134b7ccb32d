package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/config"
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

// awsProbeTimeout bounds the start-up check for AWS credentials.
const awsProbeTimeout = 3 * time.Second

// enableAWSAPI turns on the AWS API evidence source (broker/awsapi) when
// the broker has AWS credentials and at least one endpoint uses it (RDS
// host names by default, aws_api: per endpoint). Without credentials it
// stays off and says so once.
func enableAWSAPI(ctx context.Context, svc *broker.Service, awsCfg aws.Config, cfg *config.Config, log *slog.Logger) {
	used := 0
	for _, ep := range cfg.Endpoints {
		if ep.UsesAWSAPI() {
			used++
		}
	}
	if used == 0 && cfg.Discovery.AWS == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, awsProbeTimeout)
	defer cancel()
	if _, err := awsCfg.Credentials.Retrieve(cctx); err != nil {
		log.Info("AWS API evidence off: no AWS credentials", "endpoints", used, "err", err)
		return
	}
	svc.SetAWS(awsapi.New(awsapi.NewClients(awsCfg, cfg.AWS.EndpointURL), awsapi.Options{Timeout: cfg.AWS.Timeout, CacheTTL: cfg.AWS.CacheTTL, Region: awsCfg.Region}))
	log.Info("AWS API evidence on", "endpoints", used, "endpoint_url", cfg.AWS.EndpointURL != "")
}
