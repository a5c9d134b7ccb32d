// Package awsapi reads what the RDS control plane says about an endpoint:
// the DB instance, Aurora cluster or RDS Proxy whose address it is
// (matched by address through DescribeDBInstances, DescribeDBClusters,
// DescribeDBProxies and DescribeDBProxyEndpoints, never by host-name
// pattern), its IAM authentication setting, resource id, engine and CA,
// and for a proxy its Auth list, RequireTLS and target health. For IAM
// endpoints it can ask IAM (SimulatePrincipalPolicy) whether the broker's
// principal may rds-db:connect as the database user.
//
// Answers are cached per address (Options.CacheTTL) and every lookup has
// its own deadline (Options.Timeout). A failed lookup is returned as
// Facts.Err, an *UnavailableError whose SafeMessage names only the class
// of the failure (throttled, denied, timed out, unreachable).
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/connbroker/connbroker/broker/handshake"
)

// Defaults of Options.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultCacheTTL = 5 * time.Minute
)

// Kinds of RDS resources an address can belong to.
const (
	KindInstance      = "instance"
	KindCluster       = "cluster"
	KindProxy         = "proxy"
	KindProxyEndpoint = "proxy-endpoint"
)

// Proxy IAMAuth values (rds types.IAMAuthMode).
const (
	IAMRequired = "REQUIRED"
	IAMDisabled = "DISABLED"
	IAMEnabled  = "ENABLED"
)

// RDS is the part of the RDS client this package uses.
type RDS interface {
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	DescribeDBClusters(context.Context, *rds.DescribeDBClustersInput, ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
	DescribeDBProxies(context.Context, *rds.DescribeDBProxiesInput, ...func(*rds.Options)) (*rds.DescribeDBProxiesOutput, error)
	DescribeDBProxyEndpoints(context.Context, *rds.DescribeDBProxyEndpointsInput, ...func(*rds.Options)) (*rds.DescribeDBProxyEndpointsOutput, error)
	DescribeDBProxyTargets(context.Context, *rds.DescribeDBProxyTargetsInput, ...func(*rds.Options)) (*rds.DescribeDBProxyTargetsOutput, error)
}

// Simulator is the part of the IAM client this package uses.
type Simulator interface {
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// Identity is the part of the STS client this package uses.
type Identity interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Facts are what AWS says about one address. Zero values mean unknown.
type Facts struct {
	// Kind is KindInstance, KindCluster, KindProxy or KindProxyEndpoint;
	// empty when no resource has this address (then Err says why, or the
	// address is not in this region and account).
	Kind string
	// ID is the instance, cluster or proxy identifier (for a proxy
	// endpoint, the proxy's name).
	ID string
	// ARN is the resource's ARN.
	ARN string
	// Region is the region that was asked.
	Region string
	// Engine and EngineVersion are the database engine (instances and
	// clusters).
	Engine, EngineVersion string
	// IAMAuthEnabled is IAMDatabaseAuthenticationEnabled (instances and
	// clusters); nil for proxies.
	IAMAuthEnabled *bool
	// ResourceID is DbiResourceId, DbClusterResourceId or, for a proxy,
	// the prx- id from its ARN: the id in rds-db:connect ARNs.
	ResourceID string
	// CACertificate is the instance's CA identifier (e.g. rds-ca-rsa2048-g1).
	CACertificate string
	// Proxy holds the proxy's settings when Kind is a proxy kind.
	Proxy *Proxy
	// Err is why the facts are incomplete: an *UnavailableError.
	Err error
}

// Proxy is an RDS Proxy's settings.
type Proxy struct {
	// EngineFamily is MYSQL, POSTGRESQL or SQLSERVER.
	EngineFamily string
	// RequireTLS says the proxy refuses connections without TLS.
	RequireTLS bool
	// DefaultAuthScheme is the proxy's default scheme (NONE or
	// IAM_AUTH: end-to-end IAM); empty when not reported.
	DefaultAuthScheme string
	// Auth lists the proxy's UserAuthConfigInfo entries.
	Auth []ProxyAuth
	// Targets is DescribeDBProxyTargets' answer.
	Targets []Target
	// TargetsErr says why targets were not read.
	TargetsErr error
}

// IAMRequired reports whether any Auth entry has IAMAuth REQUIRED.
func (p *Proxy) IAMRequired() bool {
	for _, a := range p.Auth {
		if a.IAMAuth == IAMRequired {
			return true
		}
	}
	return false
}

// ClientPasswordAuthType returns the first Auth entry's
// ClientPasswordAuthType (e.g. MYSQL_CACHING_SHA2_PASSWORD), "" if none.
func (p *Proxy) ClientPasswordAuthType() string {
	for _, a := range p.Auth {
		if a.ClientPasswordAuthType != "" {
			return a.ClientPasswordAuthType
		}
	}
	return ""
}

// ProxyAuth is one UserAuthConfigInfo entry of a proxy.
type ProxyAuth struct {
	// UserName is the database user the entry is for; empty for all.
	UserName string
	// AuthScheme is SECRETS.
	AuthScheme string
	// IAMAuth is DISABLED, REQUIRED or ENABLED.
	IAMAuth string
	// ClientPasswordAuthType is the plugin the proxy asks clients for:
	// MYSQL_NATIVE_PASSWORD, MYSQL_CACHING_SHA2_PASSWORD, ...
	ClientPasswordAuthType string
}

// Target is one registered proxy target and its health.
type Target struct {
	// ID is the RDS resource id (instance or cluster identifier).
	ID string
	// Endpoint is the target's address.
	Endpoint string
	// State is AVAILABLE, REGISTERING, UNAVAILABLE or UNUSED.
	State string
	// Reason and Description explain a state other than AVAILABLE.
	Reason, Description string
}

// PluginFor maps a proxy's ClientPasswordAuthType to the MySQL plugin the
// proxy greets with; "" for unknown values.
func PluginFor(clientPasswordAuthType string) string {
	switch clientPasswordAuthType {
	case "MYSQL_NATIVE_PASSWORD":
		return handshake.PluginNative
	case "MYSQL_CACHING_SHA2_PASSWORD":
		return handshake.PluginCachingSHA2
	}
	return ""
}

// UnavailableError means AWS did not answer a question: throttled,
// denied, unreachable or too slow. Retrying later may help.
type UnavailableError struct {
	// Call is the API call, e.g. "rds:DescribeDBInstances".
	Call string
	// Err is the SDK's error (may name ARNs and accounts: log only).
	Err error
}

func (e *UnavailableError) Error() string { return e.Call + ": " + e.Err.Error() }

// Unwrap returns the SDK's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// SafeMessage names the call and the class of failure, never an ARN, an
// account id or the SDK's text.
func (e *UnavailableError) SafeMessage() string {
	return e.Call + " " + e.Reason()
}

// Reason is the class of failure in plain words.
func (e *UnavailableError) Reason() string {
	var api smithy.APIError
	switch {
	case errors.As(e.Err, &api):
		code := api.ErrorCode()
		switch {
		case strings.Contains(code, "Throttl") || code == "RequestLimitExceeded" || code == "TooManyRequestsException":
			return "was throttled (AWS error " + code + ")"
		case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation" || code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken":
			return "was denied (AWS error " + code + ")"
		}
		return "failed (AWS error " + code + ")"
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "timed out"
	}
	var ne net.Error
	if errors.As(e.Err, &ne) {
		if ne.Timeout() {
			return "timed out"
		}
		return "could not reach the AWS API"
	}
	var oe *net.OpError
	if errors.As(e.Err, &oe) {
		return "could not reach the AWS API"
	}
	return "failed"
}

// Options tune a Source.
type Options struct {
	// Timeout bounds one lookup (every call it makes). Default
	// DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is how long facts about an address are reused. Default
	// DefaultCacheTTL.
	CacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Region is asked for endpoints whose region is neither configured
	// nor in their host name (the broker's own AWS region).
	Region string
}

// DefaultRegion is Options.Region.
func (s *Source) DefaultRegion() string { return s.o.Region }

// Clients builds the AWS clients of one region.
type Clients func(region string) (RDS, Simulator, Identity)

// NewClients returns Clients built from cfg, without retries; a non-empty
// endpointURL points every client at an emulator (e.g. moto).
func NewClients(cfg aws.Config, endpointURL string) Clients {
	var mu sync.Mutex
	type set struct {
		r RDS
		s Simulator
		i Identity
	}
	byRegion := map[string]set{}
	return func(region string) (RDS, Simulator, Identity) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := byRegion[region]; ok {
			return c.r, c.s, c.i
		}
		c := cfg.Copy()
		c.Region = region
		if endpointURL != "" {
			c.BaseEndpoint = aws.String(endpointURL)
		}
		// One attempt: a throttled or denied answer is evidence to report
		// at once, within the lookup's own timeout, not to wait out.
		c.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
		s := set{rds.NewFromConfig(c), iam.NewFromConfig(c), sts.NewFromConfig(c)}
		byRegion[region] = s
		return s.r, s.s, s.i
	}
}

// Source answers lookups, cached per address.
type Source struct {
	clients Clients
	o       Options

	mu    sync.Mutex
	cache map[string]cached
	calls int64
}

type cached struct {
	f  Facts
	at time.Time
}

// New returns a Source.
func New(clients Clients, o Options) *Source {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Source{clients: clients, o: o, cache: map[string]cached{}}
}

// Calls returns how many AWS API calls the source has made.
func (s *Source) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Source) count() {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
}

// Lookup returns what AWS says about host:port in region, from the cache
// when fresh. It never returns an error: Facts.Err says what is missing.
func (s *Source) Lookup(ctx context.Context, region, host string, port int) Facts {
	key := fmt.Sprintf("%s|%s|%d", region, strings.ToLower(host), port)
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && s.o.Now().Sub(c.at) < s.o.CacheTTL {
		return c.f
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	f := s.lookup(ctx, region, host, port)
	s.mu.Lock()
	s.cache[key] = cached{f, s.o.Now()}
	s.mu.Unlock()
	return f
}

func unavailable(call string, err error) error {
	return &UnavailableError{Call: call, Err: err}
}

func (s *Source) lookup(ctx context.Context, region, host string, _ int) Facts {
	f := Facts{Region: region}
	r, _, _ := s.clients(region)
	match := func(addr string) bool {
		return addr != "" && strings.EqualFold(strings.TrimSuffix(addr, "."), strings.TrimSuffix(host, "."))
	}

	// Proxies first: a proxy's name says nothing a custom DNS name would.
	s.count()
	px, err := r.DescribeDBProxies(ctx, &rds.DescribeDBProxiesInput{})
	if err != nil {
		f.Err = unavailable("rds:DescribeDBProxies", err)
		return f
	}
	for _, p := range px.DBProxies {
		if match(aws.ToString(p.Endpoint)) {
			f.Kind, f.ID, f.ARN = KindProxy, aws.ToString(p.DBProxyName), aws.ToString(p.DBProxyArn)
			f.ResourceID = proxyResourceID(f.ARN)
			f.Proxy = s.proxy(ctx, r, p.DBProxyName, p)
			return f
		}
	}
	s.count()
	pe, err := r.DescribeDBProxyEndpoints(ctx, &rds.DescribeDBProxyEndpointsInput{})
	if err != nil {
		f.Err = unavailable("rds:DescribeDBProxyEndpoints", err)
		// go on: instances and clusters can still match
	} else {
		for _, e := range pe.DBProxyEndpoints {
			if !match(aws.ToString(e.Endpoint)) {
				continue
			}
			f.Kind, f.ID, f.ARN = KindProxyEndpoint, aws.ToString(e.DBProxyName), aws.ToString(e.DBProxyEndpointArn)
			for _, p := range px.DBProxies {
				if aws.ToString(p.DBProxyName) == f.ID {
					f.ResourceID = proxyResourceID(aws.ToString(p.DBProxyArn))
					f.Proxy = s.proxy(ctx, r, p.DBProxyName, p)
				}
			}
			return f
		}
	}
	s.count()
	is, err := r.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil {
		f.Err = unavailable("rds:DescribeDBInstances", err)
		return f
	}
	for _, i := range is.DBInstances {
		if i.Endpoint != nil && match(aws.ToString(i.Endpoint.Address)) {
			f.Kind, f.ID, f.ARN = KindInstance, aws.ToString(i.DBInstanceIdentifier), aws.ToString(i.DBInstanceArn)
			f.Engine, f.EngineVersion = aws.ToString(i.Engine), aws.ToString(i.EngineVersion)
			f.IAMAuthEnabled, f.ResourceID, f.CACertificate = i.IAMDatabaseAuthenticationEnabled, aws.ToString(i.DbiResourceId), aws.ToString(i.CACertificateIdentifier)
			f.Err = nil
			return f
		}
	}
	s.count()
	cs, err := r.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{})
	if err != nil {
		f.Err = unavailable("rds:DescribeDBClusters", err)
		return f
	}
	for _, c := range cs.DBClusters {
		addrs := append([]string{aws.ToString(c.Endpoint), aws.ToString(c.ReaderEndpoint)}, c.CustomEndpoints...)
		for _, a := range addrs {
			if match(a) {
				f.Kind, f.ID, f.ARN = KindCluster, aws.ToString(c.DBClusterIdentifier), aws.ToString(c.DBClusterArn)
				f.Engine, f.EngineVersion = aws.ToString(c.Engine), aws.ToString(c.EngineVersion)
				f.IAMAuthEnabled, f.ResourceID = c.IAMDatabaseAuthenticationEnabled, aws.ToString(c.DbClusterResourceId)
				if c.CertificateDetails != nil {
					f.CACertificate = aws.ToString(c.CertificateDetails.CAIdentifier)
				}
				f.Err = nil
				return f
			}
		}
	}
	return f
}

func (s *Source) proxy(ctx context.Context, r RDS, name *string, p rdstypes.DBProxy) *Proxy {
	out := &Proxy{EngineFamily: aws.ToString(p.EngineFamily), RequireTLS: aws.ToBool(p.RequireTLS), DefaultAuthScheme: aws.ToString(p.DefaultAuthScheme)}
	for _, a := range p.Auth {
		out.Auth = append(out.Auth, ProxyAuth{UserName: aws.ToString(a.UserName), AuthScheme: string(a.AuthScheme),
			IAMAuth: string(a.IAMAuth), ClientPasswordAuthType: string(a.ClientPasswordAuthType)})
	}
	s.count()
	ts, err := r.DescribeDBProxyTargets(ctx, &rds.DescribeDBProxyTargetsInput{DBProxyName: name})
	if err != nil {
		out.TargetsErr = unavailable("rds:DescribeDBProxyTargets", err)
		return out
	}
	for _, t := range ts.Targets {
		tt := Target{ID: aws.ToString(t.RdsResourceId), Endpoint: aws.ToString(t.Endpoint)}
		if h := t.TargetHealth; h != nil {
			tt.State, tt.Reason, tt.Description = string(h.State), string(h.Reason), aws.ToString(h.Description)
		}
		out.Targets = append(out.Targets, tt)
	}
	return out
}

// UserARN is the rds-db:connect resource for user on the resource with id
// resourceID: arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/USER.
func UserARN(partition, region, account, resourceID, user string) string {
	if partition == "" {
		partition = "aws"
	}
	return fmt.Sprintf("arn:%s:rds-db:%s:%s:dbuser:%s/%s", partition, region, account, resourceID, user)
}

// Simulation is IAM's answer to "may this principal rds-db:connect to
// this resource".
type Simulation struct {
	// Principal is the IAM principal simulated (a user or role ARN).
	Principal string
	// Resource is the exact dbuser ARN simulated.
	Resource string
	// Decision is allowed, implicitDeny or explicitDeny.
	Decision string
	// AllowedFor lists other resource ARNs the principal may connect to
	// that differ only in the resource id (a policy written for another
	// id: the instance name, a cluster's id, an id from before a restore).
	AllowedFor []string
	// Err says why IAM could not be asked (the broker may not simulate,
	// or IAM is unreachable): an *UnavailableError.
	Err error
}

// Allowed reports whether the decision is allowed.
func (s Simulation) Allowed() bool {
	return s.Decision == string(iamtypes.PolicyEvaluationDecisionTypeAllowed)
}

// SimulateConnect asks IAM whether the broker's principal (or roleARN when
// not empty) may rds-db:connect as user to the resource f describes. When
// the exact ARN is denied, it also simulates the ARNs a policy commonly
// names by mistake (the resource's identifier instead of its resource id)
// and lists those allowed. Not cached: call it only while diagnosing.
func (s *Source) SimulateConnect(ctx context.Context, f Facts, roleARN, user string) Simulation {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	_, sim, id := s.clients(f.Region)
	var out Simulation
	principal, account, partition := roleARN, "", "aws"
	s.count()
	who, err := id.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		out.Err = unavailable("sts:GetCallerIdentity", err)
		return out
	}
	account = aws.ToString(who.Account)
	if principal == "" {
		principal = principalARN(aws.ToString(who.Arn))
	}
	if parts := strings.SplitN(principal, ":", 6); len(parts) == 6 {
		partition = parts[1]
		if parts[4] != "" {
			account = parts[4]
		}
	}
	out.Principal = principal
	out.Resource = UserARN(partition, f.Region, account, f.ResourceID, user)
	alts := []string{}
	if f.ID != "" && f.ID != f.ResourceID {
		alts = append(alts, UserARN(partition, f.Region, account, f.ID, user))
	}
	s.count()
	res, err := sim.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(principal),
		ActionNames:     []string{"rds-db:connect"},
		ResourceArns:    append([]string{out.Resource}, alts...),
	})
	if err != nil {
		out.Err = unavailable("iam:SimulatePrincipalPolicy", err)
		return out
	}
	for _, r := range res.EvaluationResults {
		arn := aws.ToString(r.EvalResourceName)
		if arn == out.Resource {
			out.Decision = string(r.EvalDecision)
		} else if r.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed {
			out.AllowedFor = append(out.AllowedFor, arn)
		}
	}
	return out
}

// principalARN turns an STS assumed-role ARN
// (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) into the role's IAM ARN
// (arn:aws:iam::ACCOUNT:role/NAME), which SimulatePrincipalPolicy needs. A
// role path is not in the session ARN and is lost.
func principalARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return arn
	}
	name := strings.SplitN(strings.TrimPrefix(parts[5], "assumed-role/"), "/", 2)[0]
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], name)
}

// proxyResourceID is the resource id in a proxy's ARN
// (arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...), which rds-db:connect
// ARNs for the proxy name.
func proxyResourceID(arn string) string {
	if i := strings.LastIndex(arn, ":db-proxy:"); i >= 0 {
		return arn[i+len(":db-proxy:"):]
	}
	return ""
}
