package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/discovery"
)

// discoveryTimeout bounds one discovery run (every region).
const discoveryTimeout = time.Minute

// configurator owns the service's configuration: the file's (base) merged
// with the endpoints discovery found. SIGHUP hands it a new base and
// starts a discovery run at once; the loop also runs on the interval of
// discovery.aws. A failed run keeps the previous endpoints.
type configurator struct {
	svc *broker.Service
	log *slog.Logger
	d   *discovery.Discoverer

	mu    sync.Mutex
	base  *config.Config
	found map[string]*config.Endpoint

	kick chan struct{}
}

// newConfigurator returns a configurator for svc, serving base; awsCfg
// and endpointURL build its RDS clients.
func newConfigurator(svc *broker.Service, base *config.Config, awsCfg aws.Config, log *slog.Logger) *configurator {
	clients := func(region string) discovery.RDS {
		c := awsCfg.Copy()
		c.Region = region
		return rds.NewFromConfig(c)
	}
	return &configurator{svc: svc, log: log, d: discovery.New(clients), base: base, kick: make(chan struct{}, 1)}
}

// SetBase serves a newly loaded configuration file with the endpoints
// found so far, and asks for a discovery run.
func (c *configurator) SetBase(nc *config.Config) {
	c.mu.Lock()
	c.base = nc
	c.mu.Unlock()
	c.apply()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *configurator) apply() {
	c.mu.Lock()
	base, found := c.base, c.found
	c.mu.Unlock()
	if len(found) == 0 {
		c.svc.SetConfig(base)
		return
	}
	merged, problems := base.WithEndpoints(found)
	for _, p := range problems {
		c.log.Warn("discovered endpoint left out", "problem", p.Error())
	}
	c.svc.SetConfig(merged)
}

// Run discovers until ctx ends: at once, then on discovery.aws.interval
// and after each SetBase.
func (c *configurator) Run(ctx context.Context) {
	for {
		c.mu.Lock()
		s := c.base.Discovery.AWS
		c.mu.Unlock()
		var wait <-chan time.Time
		stop := func() bool { return false }
		if s != nil {
			c.once(ctx, s)
			t := time.NewTimer(s.Every())
			wait, stop = t.C, t.Stop
		} else {
			c.mu.Lock()
			had := c.found != nil
			c.found = nil
			c.mu.Unlock()
			if had {
				c.apply()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-wait:
		case <-c.kick:
			stop()
		}
	}
}

func (c *configurator) once(ctx context.Context, s *config.AWSDiscovery) {
	rctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	start := time.Now()
	res, err := c.d.Run(rctx, s)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("discovery failed; keeping the endpoints found before", "err", err, "calls", res.Calls)
		}
		return
	}
	for _, sk := range res.Skipped {
		c.log.Warn("tagged resource not discovered", "arn", sk.ARN, "reason", sk.Reason)
	}
	c.mu.Lock()
	c.found = res.Endpoints
	c.mu.Unlock()
	c.apply()
	c.log.Info("discovery ran", "endpoints", len(res.Endpoints), "skipped", len(res.Skipped), "calls", res.Calls, "duration", time.Since(start))
}
