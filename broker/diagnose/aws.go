package diagnose

import (
	"errors"
	"fmt"
	"strings"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/handshake"
)

// AWSCodes are the codes awsFindings emits.
var AWSCodes = []string{CodeIAMAuthDisabled, CodeProxyRequiresIAM, CodeProxyClientAuthType, CodeProxyRequiresTLS,
	CodeProxyTargetUnhealthy, CodeIAMPolicyDeniesConnect, CodeResourceIDMismatch, CodeAWSEvidenceUnavailable}

// awsFindings explains a login by what the RDS control plane says
// (Input.AWS) and by IAM's policy simulation (Input.Simulation). Facts
// that explain a failure are errors only when the login failed; otherwise
// they are warnings (true, but not what happened this time).
func awsFindings(in Input, tr *handshake.Transcript, probed, failed bool, add func(code string, sev Severity, cause, fix string)) {
	a := in.AWS
	if a == nil {
		return
	}
	sev := SeverityWarning
	if failed {
		sev = SeverityError
	}
	if a.Err != nil && a.Kind == "" {
		add(CodeAWSEvidenceUnavailable, SeverityWarning,
			"the AWS API gave no answer about this endpoint: "+safeAWS(a.Err)+"; nothing below is based on AWS facts",
			"give the broker's role rds:DescribeDBInstances, rds:DescribeDBClusters, rds:DescribeDBProxies, rds:DescribeDBProxyEndpoints and rds:DescribeDBProxyTargets (docs/AWS.md), or retry when the API is not throttled")
		return
	}
	if p := a.Proxy; p != nil {
		if p.IAMRequired() && !in.IAM && in.Token == nil {
			add(CodeProxyRequiresIAM, sev,
				fmt.Sprintf("RDS Proxy %q requires IAM authentication (AWS API: Auth IAMAuth REQUIRED), and this endpoint sent a static password: the proxy refuses every password, even the database user's right one", a.ID),
				"set auth: iam (or auth: auto) for this endpoint and give the caller's role rds-db:connect; or set the proxy's IAMAuth to DISABLED to log in with the secret's password")
		}
		if want := awsapi.PluginFor(p.ClientPasswordAuthType()); want != "" && in.Plugin != "" && !in.IAM && in.Plugin != want && in.Plugin != handshake.PluginClearPassword {
			add(CodeProxyClientAuthType, sev,
				fmt.Sprintf("RDS Proxy %q asks clients for %s (AWS API: ClientPasswordAuthType %s), but this endpoint assumes %s", a.ID, want, p.ClientPasswordAuthType(), in.Plugin),
				fmt.Sprintf("set plugin: %s for this endpoint (drivers then get the matching options), or change the proxy's ClientPasswordAuthType to match the clients", want))
		}
		noTLS := !in.TLSRequired
		if probed {
			noTLS = !tr.Outcome.TLS
		}
		if p.RequireTLS && noTLS {
			add(CodeProxyRequiresTLS, sev,
				fmt.Sprintf("RDS Proxy %q requires TLS (AWS API: RequireTLS true) and this login went without TLS: the proxy refuses it before authentication", a.ID),
				"set tls.mode: verify-identity with tls.ca: system (RDS Proxy certificates chain to the Amazon roots)")
		}
		healthy, states := false, []string{}
		for _, t := range p.Targets {
			if t.State == "AVAILABLE" {
				healthy = true
			}
			s := t.ID + " " + t.State
			if t.Reason != "" || t.Description != "" {
				s += " (" + strings.TrimSpace(t.Reason+" "+t.Description) + ")"
			}
			states = append(states, s)
		}
		if len(p.Targets) > 0 && !healthy {
			add(CodeProxyTargetUnhealthy, sev,
				fmt.Sprintf("RDS Proxy %q has no AVAILABLE target (AWS API: DescribeDBProxyTargets: %s): it accepts connections but cannot reach a database", a.ID, strings.Join(states, ", ")),
				"fix the target the reason names: the proxy's secret (AUTH_FAILURE), security groups between proxy and database (CONNECTION_FAILED), or wait for a registering or restarting target")
		} else if len(p.Targets) == 0 && p.TargetsErr == nil {
			add(CodeProxyTargetUnhealthy, sev,
				fmt.Sprintf("RDS Proxy %q has no registered target (AWS API: DescribeDBProxyTargets is empty)", a.ID),
				"register the database with the proxy's target group (aws rds register-db-proxy-targets)")
		}
	}
	if a.IAMAuthEnabled != nil && !*a.IAMAuthEnabled && (in.IAM || in.Token != nil) {
		add(CodeIAMAuthDisabled, sev,
			fmt.Sprintf("IAM database authentication is disabled on RDS %s %q (AWS API: IAMDatabaseAuthenticationEnabled false): the server refuses every IAM token", a.Kind, a.ID),
			fmt.Sprintf("enable it (aws rds modify-db-%s --db-%s-identifier %s --enable-iam-database-authentication --apply-immediately), or use auth: password", a.Kind, a.Kind, a.ID))
	}
	if s := in.Simulation; s != nil && (in.IAM || in.Token != nil) {
		switch {
		case s.Err != nil:
			add(CodeAWSEvidenceUnavailable, SeverityWarning,
				"the broker could not ask IAM whether "+orDefault(s.Principal, "its principal")+" may rds-db:connect: "+safeAWS(s.Err)+"; the policy was not checked",
				"allow the broker iam:SimulatePrincipalPolicy on its own role (docs/AWS.md), or check the policy by hand")
		case s.Allowed():
		case len(s.AllowedFor) > 0:
			add(CodeResourceIDMismatch, sev,
				fmt.Sprintf("the IAM policy of %s allows rds-db:connect on %s but not on %s: it names another resource id than %s %q's (%s)", s.Principal, strings.Join(s.AllowedFor, ", "), s.Resource, a.Kind, a.ID, a.ResourceID),
				"write the policy's Resource with the database's resource id (DbiResourceId / DbClusterResourceId, or the proxy's prx- id): "+s.Resource)
		default:
			add(CodeIAMPolicyDeniesConnect, sev,
				fmt.Sprintf("IAM's policy simulation says %s may not rds-db:connect to %s (decision %s)", s.Principal, s.Resource, s.Decision),
				"allow rds-db:connect on "+s.Resource+" in the role's policy (deploy/iam has an example)")
		}
	}
}

// safeAWS is an AWS failure as callers may see it: the call and its class
// (throttled, denied, timed out), never ARNs or the SDK's text.
func safeAWS(err error) string {
	var ue *awsapi.UnavailableError
	if errors.As(err, &ue) {
		return ue.SafeMessage()
	}
	return "AWS API unavailable"
}
