import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_REASON_UNSPECIFIED: _ClassVar[WatchReason]
    WATCH_REASON_INITIAL: _ClassVar[WatchReason]
    WATCH_REASON_REFRESH: _ClassVar[WatchReason]
    WATCH_REASON_ROTATED: _ClassVar[WatchReason]

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_IAM_TOKEN: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_PASSWORD: _ClassVar[CredentialKind]

class TLSMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TLS_MODE_UNSPECIFIED: _ClassVar[TLSMode]
    TLS_MODE_DISABLED: _ClassVar[TLSMode]
    TLS_MODE_PREFERRED: _ClassVar[TLSMode]
    TLS_MODE_REQUIRED: _ClassVar[TLSMode]
    TLS_MODE_VERIFY_CA: _ClassVar[TLSMode]
    TLS_MODE_VERIFY_IDENTITY: _ClassVar[TLSMode]

class AuthMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTH_METHOD_UNSPECIFIED: _ClassVar[AuthMethod]
    AUTH_METHOD_IAM: _ClassVar[AuthMethod]
    AUTH_METHOD_PASSWORD: _ClassVar[AuthMethod]
    AUTH_METHOD_AUTO: _ClassVar[AuthMethod]

class EvidenceSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_SOURCE_UNSPECIFIED: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_CONFIG: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_HOSTNAME: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_GREETING: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_AWS_API: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_ACCOUNT: _ClassVar[EvidenceSource]

class HandshakeResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HANDSHAKE_RESULT_UNSPECIFIED: _ClassVar[HandshakeResult]
    HANDSHAKE_RESULT_OK: _ClassVar[HandshakeResult]
    HANDSHAKE_RESULT_SERVER_ERROR: _ClassVar[HandshakeResult]
    HANDSHAKE_RESULT_STOPPED: _ClassVar[HandshakeResult]
    HANDSHAKE_RESULT_FAILED: _ClassVar[HandshakeResult]
    HANDSHAKE_RESULT_GREETED: _ClassVar[HandshakeResult]

class EventDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_DIRECTION_UNSPECIFIED: _ClassVar[EventDirection]
    EVENT_DIRECTION_SERVER: _ClassVar[EventDirection]
    EVENT_DIRECTION_CLIENT: _ClassVar[EventDirection]
    EVENT_DIRECTION_LOCAL: _ClassVar[EventDirection]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_DIAL: _ClassVar[EventKind]
    EVENT_KIND_GREETING: _ClassVar[EventKind]
    EVENT_KIND_SSL_REQUEST: _ClassVar[EventKind]
    EVENT_KIND_TLS: _ClassVar[EventKind]
    EVENT_KIND_TLS_FALLBACK: _ClassVar[EventKind]
    EVENT_KIND_TLS_PREFERRED: _ClassVar[EventKind]
    EVENT_KIND_HANDSHAKE_RESPONSE: _ClassVar[EventKind]
    EVENT_KIND_AUTH_SWITCH_REQUEST: _ClassVar[EventKind]
    EVENT_KIND_AUTH_RESPONSE: _ClassVar[EventKind]
    EVENT_KIND_FAST_AUTH_SUCCESS: _ClassVar[EventKind]
    EVENT_KIND_FULL_AUTH_REQUIRED: _ClassVar[EventKind]
    EVENT_KIND_RSA_KEY_REQUEST: _ClassVar[EventKind]
    EVENT_KIND_RSA_KEY_RECEIVED: _ClassVar[EventKind]
    EVENT_KIND_AUTH_MORE_DATA: _ClassVar[EventKind]
    EVENT_KIND_WARNING: _ClassVar[EventKind]
    EVENT_KIND_OK: _ClassVar[EventKind]
    EVENT_KIND_ERR: _ClassVar[EventKind]
    EVENT_KIND_STOP: _ClassVar[EventKind]
    EVENT_KIND_ERROR: _ClassVar[EventKind]
    EVENT_KIND_QUIT: _ClassVar[EventKind]
    EVENT_KIND_OUTCOME: _ClassVar[EventKind]

class FindingSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINDING_SEVERITY_UNSPECIFIED: _ClassVar[FindingSeverity]
    FINDING_SEVERITY_ERROR: _ClassVar[FindingSeverity]
    FINDING_SEVERITY_WARNING: _ClassVar[FindingSeverity]
    FINDING_SEVERITY_INFO: _ClassVar[FindingSeverity]

class ServerFlavor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_FLAVOR_UNSPECIFIED: _ClassVar[ServerFlavor]
    SERVER_FLAVOR_MYSQL: _ClassVar[ServerFlavor]
    SERVER_FLAVOR_MARIADB: _ClassVar[ServerFlavor]

class EndpointKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENDPOINT_KIND_UNSPECIFIED: _ClassVar[EndpointKind]
    ENDPOINT_KIND_MYSQL: _ClassVar[EndpointKind]
    ENDPOINT_KIND_RDS_INSTANCE: _ClassVar[EndpointKind]
    ENDPOINT_KIND_AURORA_CLUSTER: _ClassVar[EndpointKind]
    ENDPOINT_KIND_AURORA_CLUSTER_READER: _ClassVar[EndpointKind]
    ENDPOINT_KIND_AURORA_CLUSTER_CUSTOM: _ClassVar[EndpointKind]
    ENDPOINT_KIND_RDS_PROXY: _ClassVar[EndpointKind]
    ENDPOINT_KIND_RDS_PROXY_ENDPOINT: _ClassVar[EndpointKind]

class AWSPartition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AWS_PARTITION_UNSPECIFIED: _ClassVar[AWSPartition]
    AWS_PARTITION_AWS: _ClassVar[AWSPartition]
    AWS_PARTITION_AWS_CN: _ClassVar[AWSPartition]
    AWS_PARTITION_AWS_US_GOV: _ClassVar[AWSPartition]

class StageName(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_NAME_UNSPECIFIED: _ClassVar[StageName]
    STAGE_NAME_RESOLVE: _ClassVar[StageName]
    STAGE_NAME_CREDENTIAL: _ClassVar[StageName]
    STAGE_NAME_DIAL: _ClassVar[StageName]
    STAGE_NAME_TLS: _ClassVar[StageName]
    STAGE_NAME_AUTH: _ClassVar[StageName]
    STAGE_NAME_QUERY: _ClassVar[StageName]
    STAGE_NAME_QUEUE: _ClassVar[StageName]
    STAGE_NAME_CONFIG: _ClassVar[StageName]

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    ERROR_REASON_ENDPOINT_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_ARGUMENT: _ClassVar[ErrorReason]
    ERROR_REASON_CREDENTIAL_UNAVAILABLE: _ClassVar[ErrorReason]
    ERROR_REASON_INTERNAL: _ClassVar[ErrorReason]
    ERROR_REASON_AUTH_UNDECIDED: _ClassVar[ErrorReason]
    ERROR_REASON_PERMISSION_DENIED: _ClassVar[ErrorReason]
    ERROR_REASON_RATE_LIMITED: _ClassVar[ErrorReason]
    ERROR_REASON_UNAUTHENTICATED: _ClassVar[ErrorReason]
    ERROR_REASON_AUDIT_UNAVAILABLE: _ClassVar[ErrorReason]
    ERROR_REASON_INVENTORY_OFF: _ClassVar[ErrorReason]

class PreflightStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREFLIGHT_STATUS_UNSPECIFIED: _ClassVar[PreflightStatus]
    PREFLIGHT_STATUS_OK: _ClassVar[PreflightStatus]
    PREFLIGHT_STATUS_NO_APPS_SEEN: _ClassVar[PreflightStatus]
    PREFLIGHT_STATUS_INVENTORY_INCOMPLETE: _ClassVar[PreflightStatus]

class PreflightOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREFLIGHT_OUTCOME_UNSPECIFIED: _ClassVar[PreflightOutcome]
    PREFLIGHT_OUTCOME_WORKS: _ClassVar[PreflightOutcome]
    PREFLIGHT_OUTCOME_BREAKS: _ClassVar[PreflightOutcome]
    PREFLIGHT_OUTCOME_WORKS_WHILE_CACHE_WARM: _ClassVar[PreflightOutcome]
WATCH_REASON_UNSPECIFIED: WatchReason
WATCH_REASON_INITIAL: WatchReason
WATCH_REASON_REFRESH: WatchReason
WATCH_REASON_ROTATED: WatchReason
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_IAM_TOKEN: CredentialKind
CREDENTIAL_KIND_PASSWORD: CredentialKind
TLS_MODE_UNSPECIFIED: TLSMode
TLS_MODE_DISABLED: TLSMode
TLS_MODE_PREFERRED: TLSMode
TLS_MODE_REQUIRED: TLSMode
TLS_MODE_VERIFY_CA: TLSMode
TLS_MODE_VERIFY_IDENTITY: TLSMode
AUTH_METHOD_UNSPECIFIED: AuthMethod
AUTH_METHOD_IAM: AuthMethod
AUTH_METHOD_PASSWORD: AuthMethod
AUTH_METHOD_AUTO: AuthMethod
EVIDENCE_SOURCE_UNSPECIFIED: EvidenceSource
EVIDENCE_SOURCE_CONFIG: EvidenceSource
EVIDENCE_SOURCE_HOSTNAME: EvidenceSource
EVIDENCE_SOURCE_GREETING: EvidenceSource
EVIDENCE_SOURCE_AWS_API: EvidenceSource
EVIDENCE_SOURCE_ACCOUNT: EvidenceSource
HANDSHAKE_RESULT_UNSPECIFIED: HandshakeResult
HANDSHAKE_RESULT_OK: HandshakeResult
HANDSHAKE_RESULT_SERVER_ERROR: HandshakeResult
HANDSHAKE_RESULT_STOPPED: HandshakeResult
HANDSHAKE_RESULT_FAILED: HandshakeResult
HANDSHAKE_RESULT_GREETED: HandshakeResult
EVENT_DIRECTION_UNSPECIFIED: EventDirection
EVENT_DIRECTION_SERVER: EventDirection
EVENT_DIRECTION_CLIENT: EventDirection
EVENT_DIRECTION_LOCAL: EventDirection
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_DIAL: EventKind
EVENT_KIND_GREETING: EventKind
EVENT_KIND_SSL_REQUEST: EventKind
EVENT_KIND_TLS: EventKind
EVENT_KIND_TLS_FALLBACK: EventKind
EVENT_KIND_TLS_PREFERRED: EventKind
EVENT_KIND_HANDSHAKE_RESPONSE: EventKind
EVENT_KIND_AUTH_SWITCH_REQUEST: EventKind
EVENT_KIND_AUTH_RESPONSE: EventKind
EVENT_KIND_FAST_AUTH_SUCCESS: EventKind
EVENT_KIND_FULL_AUTH_REQUIRED: EventKind
EVENT_KIND_RSA_KEY_REQUEST: EventKind
EVENT_KIND_RSA_KEY_RECEIVED: EventKind
EVENT_KIND_AUTH_MORE_DATA: EventKind
EVENT_KIND_WARNING: EventKind
EVENT_KIND_OK: EventKind
EVENT_KIND_ERR: EventKind
EVENT_KIND_STOP: EventKind
EVENT_KIND_ERROR: EventKind
EVENT_KIND_QUIT: EventKind
EVENT_KIND_OUTCOME: EventKind
FINDING_SEVERITY_UNSPECIFIED: FindingSeverity
FINDING_SEVERITY_ERROR: FindingSeverity
FINDING_SEVERITY_WARNING: FindingSeverity
FINDING_SEVERITY_INFO: FindingSeverity
SERVER_FLAVOR_UNSPECIFIED: ServerFlavor
SERVER_FLAVOR_MYSQL: ServerFlavor
SERVER_FLAVOR_MARIADB: ServerFlavor
ENDPOINT_KIND_UNSPECIFIED: EndpointKind
ENDPOINT_KIND_MYSQL: EndpointKind
ENDPOINT_KIND_RDS_INSTANCE: EndpointKind
ENDPOINT_KIND_AURORA_CLUSTER: EndpointKind
ENDPOINT_KIND_AURORA_CLUSTER_READER: EndpointKind
ENDPOINT_KIND_AURORA_CLUSTER_CUSTOM: EndpointKind
ENDPOINT_KIND_RDS_PROXY: EndpointKind
ENDPOINT_KIND_RDS_PROXY_ENDPOINT: EndpointKind
AWS_PARTITION_UNSPECIFIED: AWSPartition
AWS_PARTITION_AWS: AWSPartition
AWS_PARTITION_AWS_CN: AWSPartition
AWS_PARTITION_AWS_US_GOV: AWSPartition
STAGE_NAME_UNSPECIFIED: StageName
STAGE_NAME_RESOLVE: StageName
STAGE_NAME_CREDENTIAL: StageName
STAGE_NAME_DIAL: StageName
STAGE_NAME_TLS: StageName
STAGE_NAME_AUTH: StageName
STAGE_NAME_QUERY: StageName
STAGE_NAME_QUEUE: StageName
STAGE_NAME_CONFIG: StageName
ERROR_REASON_UNSPECIFIED: ErrorReason
ERROR_REASON_ENDPOINT_NOT_FOUND: ErrorReason
ERROR_REASON_INVALID_ARGUMENT: ErrorReason
ERROR_REASON_CREDENTIAL_UNAVAILABLE: ErrorReason
ERROR_REASON_INTERNAL: ErrorReason
ERROR_REASON_AUTH_UNDECIDED: ErrorReason
ERROR_REASON_PERMISSION_DENIED: ErrorReason
ERROR_REASON_RATE_LIMITED: ErrorReason
ERROR_REASON_UNAUTHENTICATED: ErrorReason
ERROR_REASON_AUDIT_UNAVAILABLE: ErrorReason
ERROR_REASON_INVENTORY_OFF: ErrorReason
PREFLIGHT_STATUS_UNSPECIFIED: PreflightStatus
PREFLIGHT_STATUS_OK: PreflightStatus
PREFLIGHT_STATUS_NO_APPS_SEEN: PreflightStatus
PREFLIGHT_STATUS_INVENTORY_INCOMPLETE: PreflightStatus
PREFLIGHT_OUTCOME_UNSPECIFIED: PreflightOutcome
PREFLIGHT_OUTCOME_WORKS: PreflightOutcome
PREFLIGHT_OUTCOME_BREAKS: PreflightOutcome
PREFLIGHT_OUTCOME_WORKS_WHILE_CACHE_WARM: PreflightOutcome

class WatchConnectionParamsRequest(_message.Message):
    __slots__ = ("endpoint", "driver")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    driver: str
    def __init__(self, endpoint: _Optional[str] = ..., driver: _Optional[str] = ...) -> None: ...

class WatchConnectionParamsResponse(_message.Message):
    __slots__ = ("params", "reason")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    params: ConnectionParams
    reason: WatchReason
    def __init__(self, params: _Optional[_Union[ConnectionParams, _Mapping]] = ..., reason: _Optional[_Union[WatchReason, str]] = ...) -> None: ...

class GetConnectionParamsRequest(_message.Message):
    __slots__ = ("endpoint", "driver", "known_ca_sha256", "omit_param_options", "client_environment", "known_view_sha256")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    KNOWN_CA_SHA256_FIELD_NUMBER: _ClassVar[int]
    OMIT_PARAM_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VIEW_SHA256_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    driver: str
    known_ca_sha256: bytes
    omit_param_options: bool
    client_environment: ClientEnvironment
    known_view_sha256: bytes
    def __init__(self, endpoint: _Optional[str] = ..., driver: _Optional[str] = ..., known_ca_sha256: _Optional[bytes] = ..., omit_param_options: _Optional[bool] = ..., client_environment: _Optional[_Union[ClientEnvironment, _Mapping]] = ..., known_view_sha256: _Optional[bytes] = ...) -> None: ...

class GetConnectionParamsResponse(_message.Message):
    __slots__ = ("params",)
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    params: ConnectionParams
    def __init__(self, params: _Optional[_Union[ConnectionParams, _Mapping]] = ...) -> None: ...

class ListInventoryRequest(_message.Message):
    __slots__ = ("endpoint", "limit")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    limit: int
    def __init__(self, endpoint: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListInventoryResponse(_message.Message):
    __slots__ = ("records", "store", "truncated")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[InventoryRecord]
    store: InventoryStoreStatus
    truncated: bool
    def __init__(self, records: _Optional[_Iterable[_Union[InventoryRecord, _Mapping]]] = ..., store: _Optional[_Union[InventoryStoreStatus, _Mapping]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class InventoryRecord(_message.Message):
    __slots__ = ("caller", "endpoint", "environment", "first_seen", "last_seen", "count", "digest")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    caller: str
    endpoint: str
    environment: ClientEnvironment
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    count: int
    digest: str
    def __init__(self, caller: _Optional[str] = ..., endpoint: _Optional[str] = ..., environment: _Optional[_Union[ClientEnvironment, _Mapping]] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., count: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class InventoryStoreStatus(_message.Message):
    __slots__ = ("backend", "records", "capacity", "full", "dropped", "evicted", "retention", "last_error", "enabled", "expired")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    backend: str
    records: int
    capacity: int
    full: bool
    dropped: int
    evicted: int
    retention: _duration_pb2.Duration
    last_error: str
    enabled: bool
    expired: int
    def __init__(self, backend: _Optional[str] = ..., records: _Optional[int] = ..., capacity: _Optional[int] = ..., full: _Optional[bool] = ..., dropped: _Optional[int] = ..., evicted: _Optional[int] = ..., retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., last_error: _Optional[str] = ..., enabled: _Optional[bool] = ..., expired: _Optional[int] = ...) -> None: ...

class ConnectionParams(_message.Message):
    __slots__ = ("endpoint", "host", "port", "user", "database", "credential", "tls", "hints", "resolution", "view_sha256", "view_omitted")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    VIEW_SHA256_FIELD_NUMBER: _ClassVar[int]
    VIEW_OMITTED_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    host: str
    port: int
    user: str
    database: str
    credential: Credential
    tls: TLSSettings
    hints: DriverHints
    resolution: Resolution
    view_sha256: bytes
    view_omitted: bool
    def __init__(self, endpoint: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., user: _Optional[str] = ..., database: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., tls: _Optional[_Union[TLSSettings, _Mapping]] = ..., hints: _Optional[_Union[DriverHints, _Mapping]] = ..., resolution: _Optional[_Union[Resolution, _Mapping]] = ..., view_sha256: _Optional[bytes] = ..., view_omitted: _Optional[bool] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("kind", "secret", "expires_at", "refresh_after", "source")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_AFTER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    kind: CredentialKind
    secret: str
    expires_at: _timestamp_pb2.Timestamp
    refresh_after: _timestamp_pb2.Timestamp
    source: str
    def __init__(self, kind: _Optional[_Union[CredentialKind, str]] = ..., secret: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class TLSSettings(_message.Message):
    __slots__ = ("mode", "ca_pem", "server_name", "ca_sha256")
    MODE_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    CA_SHA256_FIELD_NUMBER: _ClassVar[int]
    mode: TLSMode
    ca_pem: str
    server_name: str
    ca_sha256: bytes
    def __init__(self, mode: _Optional[_Union[TLSMode, str]] = ..., ca_pem: _Optional[str] = ..., server_name: _Optional[str] = ..., ca_sha256: _Optional[bytes] = ...) -> None: ...

class EnvVar(_message.Message):
    __slots__ = ("name", "value", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DriverHints(_message.Message):
    __slots__ = ("driver", "options", "secret_option", "dsn", "env", "packages", "warnings", "min_version", "param_options")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_OPTION_FIELD_NUMBER: _ClassVar[int]
    DSN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAM_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    driver: str
    options: _containers.RepeatedCompositeFieldContainer[HintOption]
    secret_option: str
    dsn: str
    env: _containers.RepeatedCompositeFieldContainer[EnvVar]
    packages: _containers.RepeatedScalarFieldContainer[str]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    min_version: str
    param_options: ParamOptionNames
    def __init__(self, driver: _Optional[str] = ..., options: _Optional[_Iterable[_Union[HintOption, _Mapping]]] = ..., secret_option: _Optional[str] = ..., dsn: _Optional[str] = ..., env: _Optional[_Iterable[_Union[EnvVar, _Mapping]]] = ..., packages: _Optional[_Iterable[str]] = ..., warnings: _Optional[_Iterable[str]] = ..., min_version: _Optional[str] = ..., param_options: _Optional[_Union[ParamOptionNames, _Mapping]] = ...) -> None: ...

class ParamOptionNames(_message.Message):
    __slots__ = ("host", "port", "user", "database")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: str
    user: str
    database: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[str] = ..., user: _Optional[str] = ..., database: _Optional[str] = ...) -> None: ...

class HintOption(_message.Message):
    __slots__ = ("name", "string_value", "int_value", "bool_value", "options_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    string_value: str
    int_value: int
    bool_value: bool
    options_value: HintOptions
    def __init__(self, name: _Optional[str] = ..., string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., bool_value: _Optional[bool] = ..., options_value: _Optional[_Union[HintOptions, _Mapping]] = ...) -> None: ...

class HintOptions(_message.Message):
    __slots__ = ("options",)
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: _containers.RepeatedCompositeFieldContainer[HintOption]
    def __init__(self, options: _Optional[_Iterable[_Union[HintOption, _Mapping]]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("source", "detail")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    source: EvidenceSource
    detail: str
    def __init__(self, source: _Optional[_Union[EvidenceSource, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class Resolution(_message.Message):
    __slots__ = ("method", "plugin", "evidence", "tls_required")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    TLS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    method: AuthMethod
    plugin: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    tls_required: bool
    def __init__(self, method: _Optional[_Union[AuthMethod, str]] = ..., plugin: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., tls_required: _Optional[bool] = ...) -> None: ...

class ValidateConnectionRequest(_message.Message):
    __slots__ = ("endpoints", "all", "driver", "timeout", "compare_drivers", "client_environment")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    COMPARE_DRIVERS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    driver: str
    timeout: _duration_pb2.Duration
    compare_drivers: bool
    client_environment: ClientEnvironment
    def __init__(self, endpoints: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ..., driver: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., compare_drivers: _Optional[bool] = ..., client_environment: _Optional[_Union[ClientEnvironment, _Mapping]] = ...) -> None: ...

class ClientEnvironment(_message.Message):
    __slots__ = ("driver", "packages", "env", "ca_bundle", "client_time", "runtime")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    CA_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    driver: str
    packages: _containers.RepeatedCompositeFieldContainer[ClientPackage]
    env: _containers.ScalarMap[str, str]
    ca_bundle: str
    client_time: _timestamp_pb2.Timestamp
    runtime: str
    def __init__(self, driver: _Optional[str] = ..., packages: _Optional[_Iterable[_Union[ClientPackage, _Mapping]]] = ..., env: _Optional[_Mapping[str, str]] = ..., ca_bundle: _Optional[str] = ..., client_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., runtime: _Optional[str] = ...) -> None: ...

class ClientPackage(_message.Message):
    __slots__ = ("name", "version", "client_library", "c_extension", "plugin_dir", "client_plugins")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIBRARY_FIELD_NUMBER: _ClassVar[int]
    C_EXTENSION_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_DIR_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PLUGINS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    client_library: str
    c_extension: bool
    plugin_dir: str
    client_plugins: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., client_library: _Optional[str] = ..., c_extension: _Optional[bool] = ..., plugin_dir: _Optional[str] = ..., client_plugins: _Optional[_Iterable[str]] = ...) -> None: ...

class EnvironmentReport(_message.Message):
    __slots__ = ("drivers", "driver", "clock_offset", "findings")
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[DriverPrediction]
    driver: str
    clock_offset: _duration_pb2.Duration
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, drivers: _Optional[_Iterable[_Union[DriverPrediction, _Mapping]]] = ..., driver: _Optional[str] = ..., clock_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class ValidateConnectionResponse(_message.Message):
    __slots__ = ("ok", "results")
    OK_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    results: _containers.RepeatedCompositeFieldContainer[EndpointValidation]
    def __init__(self, ok: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[EndpointValidation, _Mapping]]] = ...) -> None: ...

class EndpointValidation(_message.Message):
    __slots__ = ("endpoint", "ok", "stages", "server_version", "current_user", "tls", "error", "reason", "transcript", "findings", "drivers", "resolution", "environment")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_USER_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    ok: bool
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    server_version: str
    current_user: str
    tls: TLSInfo
    error: MySQLError
    reason: str
    transcript: Transcript
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    drivers: _containers.RepeatedCompositeFieldContainer[DriverPrediction]
    resolution: Resolution
    environment: EnvironmentReport
    def __init__(self, endpoint: _Optional[str] = ..., ok: _Optional[bool] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., server_version: _Optional[str] = ..., current_user: _Optional[str] = ..., tls: _Optional[_Union[TLSInfo, _Mapping]] = ..., error: _Optional[_Union[MySQLError, _Mapping]] = ..., reason: _Optional[str] = ..., transcript: _Optional[_Union[Transcript, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., drivers: _Optional[_Iterable[_Union[DriverPrediction, _Mapping]]] = ..., resolution: _Optional[_Union[Resolution, _Mapping]] = ..., environment: _Optional[_Union[EnvironmentReport, _Mapping]] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("addr", "user", "profile", "events", "result", "auth_plugin", "tls")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    AUTH_PLUGIN_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    addr: str
    user: str
    profile: str
    events: _containers.RepeatedCompositeFieldContainer[TranscriptEvent]
    result: HandshakeResult
    auth_plugin: str
    tls: bool
    def __init__(self, addr: _Optional[str] = ..., user: _Optional[str] = ..., profile: _Optional[str] = ..., events: _Optional[_Iterable[_Union[TranscriptEvent, _Mapping]]] = ..., result: _Optional[_Union[HandshakeResult, str]] = ..., auth_plugin: _Optional[str] = ..., tls: _Optional[bool] = ...) -> None: ...

class TranscriptEvent(_message.Message):
    __slots__ = ("at", "direction", "kind", "summary", "fields")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    at: _duration_pb2.Duration
    direction: EventDirection
    kind: EventKind
    summary: str
    fields: _containers.ScalarMap[str, str]
    def __init__(self, at: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., direction: _Optional[_Union[EventDirection, str]] = ..., kind: _Optional[_Union[EventKind, str]] = ..., summary: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("code", "severity", "cause", "fix")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: FindingSeverity
    cause: str
    fix: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[FindingSeverity, str]] = ..., cause: _Optional[str] = ..., fix: _Optional[str] = ...) -> None: ...

class DriverPrediction(_message.Message):
    __slots__ = ("driver", "options", "works", "result", "auth_plugin", "tls", "finding", "version")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    WORKS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    AUTH_PLUGIN_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    FINDING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    driver: str
    options: str
    works: bool
    result: HandshakeResult
    auth_plugin: str
    tls: bool
    finding: Finding
    version: str
    def __init__(self, driver: _Optional[str] = ..., options: _Optional[str] = ..., works: _Optional[bool] = ..., result: _Optional[_Union[HandshakeResult, str]] = ..., auth_plugin: _Optional[str] = ..., tls: _Optional[bool] = ..., finding: _Optional[_Union[Finding, _Mapping]] = ..., version: _Optional[str] = ...) -> None: ...

class ProbeEndpointRequest(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    def __init__(self, endpoint: _Optional[str] = ...) -> None: ...

class ProbeEndpointResponse(_message.Message):
    __slots__ = ("probe",)
    PROBE_FIELD_NUMBER: _ClassVar[int]
    probe: ProbeResult
    def __init__(self, probe: _Optional[_Union[ProbeResult, _Mapping]] = ...) -> None: ...

class ProbeResult(_message.Message):
    __slots__ = ("addr", "server_version", "flavor", "auth_plugin", "tls_offered", "capabilities", "endpoint_kind", "region", "partition", "transcript", "findings")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    AUTH_PLUGIN_FIELD_NUMBER: _ClassVar[int]
    TLS_OFFERED_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_KIND_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    addr: str
    server_version: str
    flavor: ServerFlavor
    auth_plugin: str
    tls_offered: bool
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    endpoint_kind: EndpointKind
    region: str
    partition: AWSPartition
    transcript: Transcript
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, addr: _Optional[str] = ..., server_version: _Optional[str] = ..., flavor: _Optional[_Union[ServerFlavor, str]] = ..., auth_plugin: _Optional[str] = ..., tls_offered: _Optional[bool] = ..., capabilities: _Optional[_Iterable[str]] = ..., endpoint_kind: _Optional[_Union[EndpointKind, str]] = ..., region: _Optional[str] = ..., partition: _Optional[_Union[AWSPartition, str]] = ..., transcript: _Optional[_Union[Transcript, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("name", "ok", "duration", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: StageName
    ok: bool
    duration: _duration_pb2.Duration
    error: str
    def __init__(self, name: _Optional[_Union[StageName, str]] = ..., ok: _Optional[bool] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class TLSInfo(_message.Message):
    __slots__ = ("version", "cipher")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CIPHER_FIELD_NUMBER: _ClassVar[int]
    version: str
    cipher: str
    def __init__(self, version: _Optional[str] = ..., cipher: _Optional[str] = ...) -> None: ...

class MySQLError(_message.Message):
    __slots__ = ("number", "sql_state", "message")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    SQL_STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    number: int
    sql_state: str
    message: str
    def __init__(self, number: _Optional[int] = ..., sql_state: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListEndpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointSummary]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[EndpointSummary, _Mapping]]] = ...) -> None: ...

class EndpointSummary(_message.Message):
    __slots__ = ("name", "host", "port", "user", "database", "auth_method", "tls_mode", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    TLS_MODE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    port: int
    user: str
    database: str
    auth_method: AuthMethod
    tls_mode: TLSMode
    source: str
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., user: _Optional[str] = ..., database: _Optional[str] = ..., auth_method: _Optional[_Union[AuthMethod, str]] = ..., tls_mode: _Optional[_Union[TLSMode, str]] = ..., source: _Optional[str] = ...) -> None: ...

class ListDriversRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDriversResponse(_message.Message):
    __slots__ = ("drivers",)
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[DriverInfo]
    def __init__(self, drivers: _Optional[_Iterable[_Union[DriverInfo, _Mapping]]] = ...) -> None: ...

class DriverInfo(_message.Message):
    __slots__ = ("name", "aliases", "display_name", "runtime", "wraps", "environment", "variants")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    WRAPS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    runtime: str
    wraps: str
    environment: DriverEnvironment
    variants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ..., runtime: _Optional[str] = ..., wraps: _Optional[str] = ..., environment: _Optional[_Union[DriverEnvironment, _Mapping]] = ..., variants: _Optional[_Iterable[str]] = ...) -> None: ...

class DriverEnvironment(_message.Message):
    __slots__ = ("package", "module", "min_version", "optional_packages", "env_vars", "version_rules", "guess_order")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTIONAL_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    ENV_VARS_FIELD_NUMBER: _ClassVar[int]
    VERSION_RULES_FIELD_NUMBER: _ClassVar[int]
    GUESS_ORDER_FIELD_NUMBER: _ClassVar[int]
    package: str
    module: str
    min_version: str
    optional_packages: _containers.RepeatedScalarFieldContainer[str]
    env_vars: _containers.RepeatedScalarFieldContainer[str]
    version_rules: _containers.RepeatedCompositeFieldContainer[DriverVersionRule]
    guess_order: int
    def __init__(self, package: _Optional[str] = ..., module: _Optional[str] = ..., min_version: _Optional[str] = ..., optional_packages: _Optional[_Iterable[str]] = ..., env_vars: _Optional[_Iterable[str]] = ..., version_rules: _Optional[_Iterable[_Union[DriverVersionRule, _Mapping]]] = ..., guess_order: _Optional[int] = ...) -> None: ...

class DriverVersionRule(_message.Message):
    __slots__ = ("below", "problem")
    BELOW_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    below: str
    problem: str
    def __init__(self, below: _Optional[str] = ..., problem: _Optional[str] = ...) -> None: ...

class ReportLoginFailureRequest(_message.Message):
    __slots__ = ("endpoint", "driver", "mysql_errno")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    MYSQL_ERRNO_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    driver: str
    mysql_errno: int
    def __init__(self, endpoint: _Optional[str] = ..., driver: _Optional[str] = ..., mysql_errno: _Optional[int] = ...) -> None: ...

class ReportLoginFailureResponse(_message.Message):
    __slots__ = ("reread", "changed")
    REREAD_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    reread: bool
    changed: bool
    def __init__(self, reread: _Optional[bool] = ..., changed: _Optional[bool] = ...) -> None: ...

class PreflightRequest(_message.Message):
    __slots__ = ("endpoint", "changes")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    changes: _containers.RepeatedCompositeFieldContainer[PreflightChange]
    def __init__(self, endpoint: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[PreflightChange, _Mapping]]] = ...) -> None: ...

class PreflightChange(_message.Message):
    __slots__ = ("spec", "ca_pem")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    spec: str
    ca_pem: bytes
    def __init__(self, spec: _Optional[str] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...

class PreflightResponse(_message.Message):
    __slots__ = ("endpoint", "status", "any_breaks", "groups", "assumptions", "changes")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANY_BREAKS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ASSUMPTIONS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    status: PreflightStatus
    any_breaks: bool
    groups: _containers.RepeatedCompositeFieldContainer[PreflightCallerGroup]
    assumptions: _containers.RepeatedScalarFieldContainer[str]
    changes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, endpoint: _Optional[str] = ..., status: _Optional[_Union[PreflightStatus, str]] = ..., any_breaks: _Optional[bool] = ..., groups: _Optional[_Iterable[_Union[PreflightCallerGroup, _Mapping]]] = ..., assumptions: _Optional[_Iterable[str]] = ..., changes: _Optional[_Iterable[str]] = ...) -> None: ...

class PreflightCallerGroup(_message.Message):
    __slots__ = ("caller", "apps")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    APPS_FIELD_NUMBER: _ClassVar[int]
    caller: str
    apps: _containers.RepeatedCompositeFieldContainer[PreflightApp]
    def __init__(self, caller: _Optional[str] = ..., apps: _Optional[_Iterable[_Union[PreflightApp, _Mapping]]] = ...) -> None: ...

class PreflightApp(_message.Message):
    __slots__ = ("driver", "version", "setup", "runtime", "before", "after", "finding", "before_finding", "last_seen", "count")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SETUP_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    FINDING_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FINDING_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    driver: str
    version: str
    setup: str
    runtime: str
    before: PreflightOutcome
    after: PreflightOutcome
    finding: Finding
    before_finding: Finding
    last_seen: _timestamp_pb2.Timestamp
    count: int
    def __init__(self, driver: _Optional[str] = ..., version: _Optional[str] = ..., setup: _Optional[str] = ..., runtime: _Optional[str] = ..., before: _Optional[_Union[PreflightOutcome, str]] = ..., after: _Optional[_Union[PreflightOutcome, str]] = ..., finding: _Optional[_Union[Finding, _Mapping]] = ..., before_finding: _Optional[_Union[Finding, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...
