package connbrokerv1

// This file is hand-written (not generated): the domain's words for the
// values of the API's enums, for people-facing output.

import "strings"

// label turns an enum value name into the lowercase, hyphenated word the
// domain and the CLI use: EVENT_KIND_AUTH_SWITCH_REQUEST with prefix
// "EVENT_KIND_" is "auth-switch-request". UNSPECIFIED is "".
func label(name, prefix string) string {
	name = strings.TrimPrefix(name, prefix)
	if name == "UNSPECIFIED" {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// Label is the result as the domain spells it: "ok", "server-error",
// "stopped", "failed", "greeted".
func (x HandshakeResult) Label() string { return label(x.String(), "HANDSHAKE_RESULT_") }

// Label is "server", "client" or "local".
func (x EventDirection) Label() string { return label(x.String(), "EVENT_DIRECTION_") }

// Label is the kind as the domain spells it, e.g. "auth-switch-request".
func (x EventKind) Label() string { return label(x.String(), "EVENT_KIND_") }

// Label is e.g. "rds-proxy", "aurora-cluster-reader" or "mysql".
func (x EndpointKind) Label() string { return label(x.String(), "ENDPOINT_KIND_") }

// Label is "aws", "aws-cn" or "aws-us-gov"; "" when unspecified.
func (x AWSPartition) Label() string { return label(x.String(), "AWS_PARTITION_") }

// Label is e.g. "credential", "dial", "auth".
func (x StageName) Label() string { return label(x.String(), "STAGE_NAME_") }

// Label is e.g. "config", "hostname", "aws-api".
func (x EvidenceSource) Label() string { return label(x.String(), "EVIDENCE_SOURCE_") }

// Label is "MySQL" or "MariaDB"; "" when no greeting was read.
func (x ServerFlavor) Label() string {
	switch x {
	case ServerFlavor_SERVER_FLAVOR_MYSQL:
		return "MySQL"
	case ServerFlavor_SERVER_FLAVOR_MARIADB:
		return "MariaDB"
	}
	return ""
}
