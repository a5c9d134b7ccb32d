"""Python client for connbroker: fresh database credentials and driver options.

The broker (``connbrokerd``) knows, per named endpoint, how to log in: host,
port, user, a fresh IAM token or password, TLS settings, and the exact options
each driver needs. This package asks it over gRPC and connects for you.

Quick start::

    pip install 'connbroker[pymysql]'
    export CONNBROKER_ADDR=127.0.0.1:7700      # the default

    import connbroker

    conn = connbroker.pymysql.connect("orders")
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")

    # Explicit client, other drivers, or just the parameters:
    with connbroker.Client("broker.internal:7700", timeout=2.0,
                           credentials=grpc.ssl_channel_credentials()) as c:
        params = c.get_connection_params("orders", driver="pymysql")
        kwargs = connbroker.hints.driver_kwargs(params, connect_timeout=3)
        report = c.validate(all=True)

    # SQLAlchemy: a pool that asks for a fresh token per physical connection
    engine = sqlalchemy.create_engine(
        "mysql+pymysql://", creator=lambda: connbroker.pymysql.connect("orders"))

Errors are :class:`BrokerError` subclasses, chosen by the broker's
``ErrorReason``: :class:`EndpointNotFound`, :class:`PermissionDenied`
(:class:`Unauthenticated`), :class:`InvalidRequest`, :class:`RateLimited`
(retry after a back-off), :class:`BrokerUnavailable` /
:class:`CredentialUnavailable` (retry with backoff), :class:`AuthUndecided`,
:class:`BrokerInternalError`, :class:`HintsError` / :class:`InsecureTLSError`.

``str(params)`` shows the secret (the Python protobuf runtime ignores the
proto's ``debug_redact``): log ``connbroker.redacted(params)`` instead.

Importing ``connbroker`` loads grpc and the generated stubs only; driver
helpers (``connbroker.pymysql``) are imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from connbroker import errors, hints
from connbroker.client import (
    DEFAULT_ADDRESS,
    ENV_ADDRESS,
    Client,
    credentials_from_files,
    default_client,
    set_default_client,
)
from connbroker.errors import (
    ERROR_DOMAIN,
    AuthUndecided,
    InventoryOff,
    BrokerError,
    BrokerInternalError,
    BrokerUnavailable,
    CredentialUnavailable,
    EndpointNotFound,
    HintsError,
    InsecureTLSError,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    error_info,
    from_rpc_error,
)
from connbroker.hints import driver_kwargs
from connbroker.redact import redacted
from connbroker.resilience import ResilienceStats
from connbroker.v1 import broker_pb2

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from connbroker import aiomysql as aiomysql
    from connbroker import mysql_connector as mysql_connector
    from connbroker import mysqlclient as mysqlclient
    from connbroker import pymysql as pymysql
    from connbroker import sqlalchemy as sqlalchemy

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDRESS",
    "ENV_ADDRESS",
    "Client",
    "ResilienceStats",
    "aiomysql",
    "broker_pb2",
    "credentials_from_files",
    "default_client",
    "driver_kwargs",
    "hints",
    "mysql_connector",
    "mysqlclient",
    "pymysql",
    "redacted",
    "set_default_client",
    "sqlalchemy",
]
# Every exception class (and error_info, from_rpc_error), listed once in errors.
__all__ += errors.__all__

# Submodules that pull in a driver; imported on first attribute access.
_LAZY_SUBMODULES = frozenset({"aiomysql", "mysql_connector", "mysqlclient", "pymysql", "sqlalchemy"})


def __getattr__(name: str) -> Any:
    """Import driver helper submodules (``connbroker.pymysql``) on first use."""
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the public names, including the lazy submodules."""
    return sorted(set(globals()) | _LAZY_SUBMODULES)
