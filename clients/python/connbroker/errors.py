"""Exceptions raised by the connbroker client.

Every broker call maps its error to one of a few classes, so callers can write
``except connbroker.EndpointNotFound`` instead of inspecting status codes. The
class comes from the broker's stable reason (``ErrorReason`` in
``broker.proto``, sent as the ``reason`` of a ``google.rpc.ErrorInfo`` status
detail) and, for errors without one (a broker that cannot be reached), from the
gRPC status code.
Messages say what was asked and of which broker; they never contain a secret
(the broker's status details are safe by contract, and the client never puts a
credential into a message).

Whether to retry:

* :class:`BrokerUnavailable` (and :class:`CredentialUnavailable`) -- yes, with
  backoff (broker down, slow, or no valid credential could be had).
* :class:`RateLimited` -- yes, after a short back-off.
* :class:`EndpointNotFound`, :class:`PermissionDenied` (and
  :class:`Unauthenticated`), :class:`InvalidRequest`, :class:`AuthUndecided`,
  :class:`HintsError` -- no, fix the request or the configuration.
* :class:`BrokerInternalError` -- no; the broker's log has the details.
"""

from __future__ import annotations


from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from connbroker.v1 import broker_pb2

__all__ = [
    "ERROR_DOMAIN",
    "AuthUndecided",
    "BrokerError",
    "BrokerInternalError",
    "BrokerUnavailable",
    "CredentialUnavailable",
    "EndpointNotFound",
    "HintsError",
    "InsecureTLSError",
    "InvalidRequest",
    "PermissionDenied",
    "RateLimited",
    "Unauthenticated",
    "error_info",
    "from_rpc_error",
]

#: The ErrorInfo domain of the broker's errors.
ERROR_DOMAIN = "connbroker.dev"


class BrokerError(Exception):
    """Base class of every error raised by the connbroker client.

    Attributes:
        operation: what was asked, e.g. ``GetConnectionParams(endpoint='orders', driver='pymysql')``.
        address: the broker address the request went to ("" when none was involved).
        code: the gRPC status code, when the error came from an RPC.
        details: the broker's status message (safe to log), when there was one.
        reason: the broker's ``ErrorReason`` value (an int,
            ``broker_pb2.ERROR_REASON_UNSPECIFIED`` when the error carried none).
        metadata: the ErrorInfo metadata, e.g. ``{"endpoint": "orders"}`` or
            ``{"field": "driver"}``; empty when there was none.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        address: str = "",
        code: grpc.StatusCode | None = None,
        details: str = "",
        reason: int = broker_pb2.ERROR_REASON_UNSPECIFIED,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Build the error; ``message`` is the full human-readable text."""
        super().__init__(message)
        self.operation = operation
        self.address = address
        self.code = code
        self.details = details
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})

    @property
    def reason_name(self) -> str:
        """The reason's enum value name, e.g. ``"ERROR_REASON_RATE_LIMITED"``."""
        return str(broker_pb2.ErrorReason.Name(self.reason))


class EndpointNotFound(BrokerError):
    """The broker has no endpoint of that name (gRPC NOT_FOUND). Do not retry."""


class PermissionDenied(BrokerError):
    """The caller may not use that endpoint (PERMISSION_DENIED or UNAUTHENTICATED). Do not retry."""


class Unauthenticated(PermissionDenied):
    """The caller's client certificate carries no usable identity (UNAUTHENTICATED). Do not retry."""


class InvalidRequest(BrokerError):
    """The request was malformed, e.g. an unknown driver (INVALID_ARGUMENT). Do not retry."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or did not answer in time, or had no valid
    credential to give (UNAVAILABLE, DEADLINE_EXCEEDED, connection refused).
    Retrying with backoff may help.

    Attributes:
        expired_ago: when the client had kept params for the request but they
            had expired (see :mod:`connbroker.resilience`), how many seconds
            ago; ``None`` otherwise.
    """

    expired_ago: float | None = None


class CredentialUnavailable(BrokerUnavailable):
    """The broker's credential source failed and it has no valid cached
    credential left (ERROR_REASON_CREDENTIAL_UNAVAILABLE). Retry with backoff."""


class RateLimited(BrokerError):
    """The caller asked for credentials faster than the broker's
    ``limits.issue_rate`` allows (ERROR_REASON_RATE_LIMITED, RESOURCE_EXHAUSTED).
    Retry after a short back-off, or reuse connections."""


class InventoryOff(BrokerError):
    """The broker keeps no inventory of applications, so it cannot preflight
    (ERROR_REASON_INVENTORY_OFF). Do not retry: turn the inventory on."""


class AuthUndecided(BrokerError):
    """An ``auth: auto`` endpoint could not be resolved to IAM or a password
    from the evidence (ERROR_REASON_AUTH_UNDECIDED). Do not retry: set the
    endpoint's ``auth`` in the broker's configuration."""


class BrokerInternalError(BrokerError):
    """The broker failed on its own (ERROR_REASON_INTERNAL); its log has the
    details. Do not retry."""


class HintsError(BrokerError):
    """The broker's parameters cannot be turned into driver arguments (for
    example hints for another driver, no ``secret_option``, or no CA bundle to
    substitute for ``{ca_file}``). Do not retry; this is a configuration or
    contract problem."""


class InsecureTLSError(HintsError):
    """The endpoint requires (verified) TLS but the driver arguments would not
    provide it, e.g. because an override disabled verification. The connection
    is refused before any secret is sent."""


_REASON_TO_CLASS: dict[int, type[BrokerError]] = {
    broker_pb2.ERROR_REASON_ENDPOINT_NOT_FOUND: EndpointNotFound,
    broker_pb2.ERROR_REASON_INVALID_ARGUMENT: InvalidRequest,
    broker_pb2.ERROR_REASON_CREDENTIAL_UNAVAILABLE: CredentialUnavailable,
    broker_pb2.ERROR_REASON_INTERNAL: BrokerInternalError,
    broker_pb2.ERROR_REASON_AUTH_UNDECIDED: AuthUndecided,
    broker_pb2.ERROR_REASON_PERMISSION_DENIED: PermissionDenied,
    broker_pb2.ERROR_REASON_RATE_LIMITED: RateLimited,
    broker_pb2.ERROR_REASON_UNAUTHENTICATED: Unauthenticated,
    broker_pb2.ERROR_REASON_AUDIT_UNAVAILABLE: BrokerUnavailable,
    broker_pb2.ERROR_REASON_INVENTORY_OFF: InventoryOff,
}

# For errors without a connbroker ErrorInfo (transport failures, a proxy).
# RESOURCE_EXHAUSTED is not among them: without the broker's reason it is a
# message size limit, not a rate limit.
_CODE_TO_CLASS: dict[grpc.StatusCode, type[BrokerError]] = {
    grpc.StatusCode.NOT_FOUND: EndpointNotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.UNAVAILABLE: BrokerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: BrokerUnavailable,
}

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _rpc_status_classes() -> tuple[Any, Any]:
    """Return message classes for ``google.rpc.Status`` and ``ErrorInfo``.

    The package depends only on grpcio and protobuf, not on
    googleapis-common-protos, so the two messages (as in google/rpc/status.proto
    and error_details.proto) are built in a private descriptor pool, which
    cannot clash with another copy loaded in the process.
    """
    f = descriptor_pb2.FileDescriptorProto(name="connbroker/_google_rpc.proto", package="google.rpc", syntax="proto3")
    any_msg = f.message_type.add(name="Any")
    any_msg.field.add(name="type_url", number=1, type=9, label=1)
    any_msg.field.add(name="value", number=2, type=12, label=1)
    st = f.message_type.add(name="Status")
    st.field.add(name="code", number=1, type=5, label=1)
    st.field.add(name="message", number=2, type=9, label=1)
    st.field.add(name="details", number=3, type=11, label=3, type_name=".google.rpc.Any")
    ei = f.message_type.add(name="ErrorInfo")
    ei.field.add(name="reason", number=1, type=9, label=1)
    ei.field.add(name="domain", number=2, type=9, label=1)
    entry = ei.nested_type.add(name="MetadataEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=9, label=1)
    entry.field.add(name="value", number=2, type=9, label=1)
    ei.field.add(name="metadata", number=3, type=11, label=3, type_name=".google.rpc.ErrorInfo.MetadataEntry")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.ErrorInfo")),
    )


_Status, _ErrorInfo = _rpc_status_classes()


def error_info(err: grpc.RpcError) -> tuple[int, dict[str, str]]:
    """Return the broker's ``ErrorReason`` and ErrorInfo metadata of a failed RPC.

    ``(ERROR_REASON_UNSPECIFIED, {})`` when the status carries no connbroker
    ErrorInfo, or a reason this client does not know (a newer broker).
    """
    trailing_fn = getattr(err, "trailing_metadata", None)
    trailing = (trailing_fn() if callable(trailing_fn) else None) or ()
    for key, value in trailing:
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        st = _Status()
        try:
            st.ParseFromString(value)
        except Exception:  # noqa: BLE001 - a malformed detail is no reason
            return broker_pb2.ERROR_REASON_UNSPECIFIED, {}
        for any_detail in st.details:
            if not any_detail.type_url.endswith("/google.rpc.ErrorInfo"):
                continue
            info = _ErrorInfo()
            try:
                info.ParseFromString(any_detail.value)
            except Exception:  # noqa: BLE001
                continue
            if info.domain != ERROR_DOMAIN:
                continue
            reason = broker_pb2.ErrorReason.Value(info.reason) if info.reason in broker_pb2.ErrorReason.keys() else 0
            return reason, dict(info.metadata)
    return broker_pb2.ERROR_REASON_UNSPECIFIED, {}


def from_rpc_error(err: grpc.RpcError, *, operation: str, address: str, timeout: float) -> BrokerError:
    """Convert a failed RPC into the matching :class:`BrokerError` subclass:
    by the broker's ``ErrorReason`` when the status carries one, else by code.

    Args:
        err: the exception grpc raised (a ``grpc.Call`` in practice).
        operation: what was asked, for the message.
        address: the broker address, for the message.
        timeout: the deadline that applied, in seconds, for DEADLINE_EXCEEDED.
    """
    code_fn = getattr(err, "code", None)
    details_fn = getattr(err, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = (details_fn() if callable(details_fn) else None) or ""
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    reason, metadata = error_info(err)
    cls = _REASON_TO_CLASS.get(reason) or _CODE_TO_CLASS.get(code, BrokerError)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        what = f"no answer within {timeout:g}s"
    elif code is grpc.StatusCode.UNAVAILABLE:
        what = "broker unavailable"
    else:
        what = code.name
    message = f"{operation} at broker {address}: {what}"
    if details:
        message += f": {details}"
    return cls(
        message, operation=operation, address=address, code=code, details=details, reason=reason, metadata=metadata
    )
