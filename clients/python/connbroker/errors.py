"""Exceptions raised by the connbroker client.

Every broker call maps its gRPC status to one of a few classes, so callers can
write ``except connbroker.EndpointNotFound`` instead of inspecting status codes.
Messages say what was asked and of which broker; they never contain a secret
(the broker's status details are safe by contract, and the client never puts a
credential into a message).

Whether to retry:

* :class:`BrokerUnavailable` -- yes, with backoff (broker down, slow, or no
  valid credential could be had).
* :class:`EndpointNotFound`, :class:`PermissionDenied`,
  :class:`InvalidRequest`, :class:`HintsError` -- no, fix the request or the
  configuration.
"""

from __future__ import annotations


import grpc

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "EndpointNotFound",
    "HintsError",
    "InsecureTLSError",
    "InvalidRequest",
    "PermissionDenied",
    "from_rpc_error",
]


class BrokerError(Exception):
    """Base class of every error raised by the connbroker client.

    Attributes:
        operation: what was asked, e.g. ``GetConnectionParams(endpoint='orders', driver='pymysql')``.
        address: the broker address the request went to ("" when none was involved).
        code: the gRPC status code, when the error came from an RPC.
        details: the broker's status message (safe to log), when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        address: str = "",
        code: grpc.StatusCode | None = None,
        details: str = "",
    ) -> None:
        """Build the error; ``message`` is the full human-readable text."""
        super().__init__(message)
        self.operation = operation
        self.address = address
        self.code = code
        self.details = details


class EndpointNotFound(BrokerError):
    """The broker has no endpoint of that name (gRPC NOT_FOUND). Do not retry."""


class PermissionDenied(BrokerError):
    """The caller may not use that endpoint (PERMISSION_DENIED or UNAUTHENTICATED). Do not retry."""


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


class HintsError(BrokerError):
    """The broker's parameters cannot be turned into driver arguments (for
    example hints for another driver, no ``secret_option``, or no CA bundle to
    substitute for ``{ca_file}``). Do not retry; this is a configuration or
    contract problem."""


class InsecureTLSError(HintsError):
    """The endpoint requires (verified) TLS but the driver arguments would not
    provide it, e.g. because an override disabled verification. The connection
    is refused before any secret is sent."""


_CODE_TO_CLASS: dict[grpc.StatusCode, type[BrokerError]] = {
    grpc.StatusCode.NOT_FOUND: EndpointNotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.UNAVAILABLE: BrokerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: BrokerUnavailable,
}


def from_rpc_error(err: grpc.RpcError, *, operation: str, address: str, timeout: float) -> BrokerError:
    """Convert a failed RPC into the matching :class:`BrokerError` subclass.

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
    cls = _CODE_TO_CLASS.get(code, BrokerError)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        what = f"no answer within {timeout:g}s"
    elif code is grpc.StatusCode.UNAVAILABLE:
        what = "broker unavailable"
    else:
        what = code.name
    message = f"{operation} at broker {address}: {what}"
    if details:
        message += f": {details}"
    return cls(message, operation=operation, address=address, code=code, details=details)
