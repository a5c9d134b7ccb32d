package server

import (
	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/rdshost"
	"github.com/connbroker/connbroker/broker/validate"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// The domain keeps its fixed sets as strings (stable for logs, JSON and
// findings); the API sends them as enums. Each map is the whole set: a
// domain value missing here is sent as UNSPECIFIED, and TestEnumsCover
// checks that none is missing.

var handshakeResults = map[handshake.Result]v1.HandshakeResult{
	handshake.ResultOK:          v1.HandshakeResult_HANDSHAKE_RESULT_OK,
	handshake.ResultServerError: v1.HandshakeResult_HANDSHAKE_RESULT_SERVER_ERROR,
	handshake.ResultStopped:     v1.HandshakeResult_HANDSHAKE_RESULT_STOPPED,
	handshake.ResultFailed:      v1.HandshakeResult_HANDSHAKE_RESULT_FAILED,
	handshake.ResultGreeted:     v1.HandshakeResult_HANDSHAKE_RESULT_GREETED,
}

var eventDirections = map[handshake.Direction]v1.EventDirection{
	handshake.FromServer: v1.EventDirection_EVENT_DIRECTION_SERVER,
	handshake.FromClient: v1.EventDirection_EVENT_DIRECTION_CLIENT,
	handshake.Local:      v1.EventDirection_EVENT_DIRECTION_LOCAL,
}

var eventKinds = map[handshake.Kind]v1.EventKind{
	handshake.KindDial:              v1.EventKind_EVENT_KIND_DIAL,
	handshake.KindGreeting:          v1.EventKind_EVENT_KIND_GREETING,
	handshake.KindSSLRequest:        v1.EventKind_EVENT_KIND_SSL_REQUEST,
	handshake.KindTLS:               v1.EventKind_EVENT_KIND_TLS,
	handshake.KindTLSFallback:       v1.EventKind_EVENT_KIND_TLS_FALLBACK,
	handshake.KindTLSPreferred:      v1.EventKind_EVENT_KIND_TLS_PREFERRED,
	handshake.KindHandshakeResponse: v1.EventKind_EVENT_KIND_HANDSHAKE_RESPONSE,
	handshake.KindAuthSwitchRequest: v1.EventKind_EVENT_KIND_AUTH_SWITCH_REQUEST,
	handshake.KindAuthResponse:      v1.EventKind_EVENT_KIND_AUTH_RESPONSE,
	handshake.KindFastAuthSuccess:   v1.EventKind_EVENT_KIND_FAST_AUTH_SUCCESS,
	handshake.KindFullAuthRequired:  v1.EventKind_EVENT_KIND_FULL_AUTH_REQUIRED,
	handshake.KindRSAKeyRequest:     v1.EventKind_EVENT_KIND_RSA_KEY_REQUEST,
	handshake.KindRSAKeyReceived:    v1.EventKind_EVENT_KIND_RSA_KEY_RECEIVED,
	handshake.KindAuthMoreData:      v1.EventKind_EVENT_KIND_AUTH_MORE_DATA,
	handshake.KindWarning:           v1.EventKind_EVENT_KIND_WARNING,
	handshake.KindOK:                v1.EventKind_EVENT_KIND_OK,
	handshake.KindERR:               v1.EventKind_EVENT_KIND_ERR,
	handshake.KindStop:              v1.EventKind_EVENT_KIND_STOP,
	handshake.KindError:             v1.EventKind_EVENT_KIND_ERROR,
	handshake.KindQuit:              v1.EventKind_EVENT_KIND_QUIT,
	handshake.KindOutcome:           v1.EventKind_EVENT_KIND_OUTCOME,
}

var endpointKinds = map[rdshost.Kind]v1.EndpointKind{
	rdshost.KindInstance:      v1.EndpointKind_ENDPOINT_KIND_RDS_INSTANCE,
	rdshost.KindCluster:       v1.EndpointKind_ENDPOINT_KIND_AURORA_CLUSTER,
	rdshost.KindClusterReader: v1.EndpointKind_ENDPOINT_KIND_AURORA_CLUSTER_READER,
	rdshost.KindClusterCustom: v1.EndpointKind_ENDPOINT_KIND_AURORA_CLUSTER_CUSTOM,
	rdshost.KindProxy:         v1.EndpointKind_ENDPOINT_KIND_RDS_PROXY,
	rdshost.KindProxyEndpoint: v1.EndpointKind_ENDPOINT_KIND_RDS_PROXY_ENDPOINT,
}

var partitions = map[string]v1.AWSPartition{
	"aws":        v1.AWSPartition_AWS_PARTITION_AWS,
	"aws-cn":     v1.AWSPartition_AWS_PARTITION_AWS_CN,
	"aws-us-gov": v1.AWSPartition_AWS_PARTITION_AWS_US_GOV,
}

// stageNames are the stages of a validation (broker.Service.Validate and
// broker/validate).
var stageNames = map[string]v1.StageName{
	"resolve":    v1.StageName_STAGE_NAME_RESOLVE,
	"credential": v1.StageName_STAGE_NAME_CREDENTIAL,
	"dial":       v1.StageName_STAGE_NAME_DIAL,
	"tls":        v1.StageName_STAGE_NAME_TLS,
	"auth":       v1.StageName_STAGE_NAME_AUTH,
	"query":      v1.StageName_STAGE_NAME_QUERY,
	"queue":      v1.StageName_STAGE_NAME_QUEUE,
	"config":     v1.StageName_STAGE_NAME_CONFIG,
}

// evidenceSources are the sources broker/resolve cites.
var evidenceSources = map[string]v1.EvidenceSource{
	"config":   v1.EvidenceSource_EVIDENCE_SOURCE_CONFIG,
	"hostname": v1.EvidenceSource_EVIDENCE_SOURCE_HOSTNAME,
	"greeting": v1.EvidenceSource_EVIDENCE_SOURCE_GREETING,
	"aws-api":  v1.EvidenceSource_EVIDENCE_SOURCE_AWS_API,
	"account":  v1.EvidenceSource_EVIDENCE_SOURCE_ACCOUNT,
}

var authMethods = map[config.AuthMethod]v1.AuthMethod{
	config.AuthIAM:      v1.AuthMethod_AUTH_METHOD_IAM,
	config.AuthPassword: v1.AuthMethod_AUTH_METHOD_PASSWORD,
	config.AuthAuto:     v1.AuthMethod_AUTH_METHOD_AUTO,
}

var tlsModes = map[config.TLSMode]v1.TLSMode{
	config.TLSDisabled:       v1.TLSMode_TLS_MODE_DISABLED,
	config.TLSPreferred:      v1.TLSMode_TLS_MODE_PREFERRED,
	config.TLSRequired:       v1.TLSMode_TLS_MODE_REQUIRED,
	config.TLSVerifyCA:       v1.TLSMode_TLS_MODE_VERIFY_CA,
	config.TLSVerifyIdentity: v1.TLSMode_TLS_MODE_VERIFY_IDENTITY,
}

var watchReasons = map[broker.WatchReason]v1.WatchReason{
	broker.WatchInitial: v1.WatchReason_WATCH_REASON_INITIAL,
	broker.WatchRefresh: v1.WatchReason_WATCH_REASON_REFRESH,
	broker.WatchRotated: v1.WatchReason_WATCH_REASON_ROTATED,
}

func methodToProto(m config.AuthMethod) v1.AuthMethod { return authMethods[m] }

func tlsModeToProto(m config.TLSMode) v1.TLSMode { return tlsModes[m] }

func watchReasonToProto(r broker.WatchReason) v1.WatchReason { return watchReasons[r] }

func handshakeResultToProto(r handshake.Result) v1.HandshakeResult { return handshakeResults[r] }

func directionToProto(d handshake.Direction) v1.EventDirection { return eventDirections[d] }

func eventKindToProto(k handshake.Kind) v1.EventKind { return eventKinds[k] }

// endpointKindToProto is the kind of a parsed RDS host name, or MYSQL for
// any other name (ok false).
func endpointKindToProto(k rdshost.Kind, ok bool) v1.EndpointKind {
	if !ok {
		return v1.EndpointKind_ENDPOINT_KIND_MYSQL
	}
	return endpointKinds[k]
}

func partitionToProto(p string) v1.AWSPartition { return partitions[p] }

func stageNameToProto(n string) v1.StageName { return stageNames[n] }

func evidenceToProto(es []validate.Evidence) []*v1.Evidence {
	out := make([]*v1.Evidence, 0, len(es))
	for _, e := range es {
		out = append(out, &v1.Evidence{Source: evidenceSources[e.Source], Detail: e.Detail})
	}
	return out
}
