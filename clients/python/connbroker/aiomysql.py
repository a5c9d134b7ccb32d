"""Connect with aiomysql using parameters from the broker.

Example::

    import connbroker

    async def main() -> None:
        conn = await connbroker.aiomysql.connect("orders")
        async with conn.cursor() as cur:
            await cur.execute("SELECT CURRENT_USER()")
        conn.close()

Every call fetches fresh parameters (the broker call runs in a worker
thread). aiomysql takes TLS only as an ``ssl.SSLContext``: the hints' ``ssl``
dict (``cafile``, ``check_hostname``, ``verify_mode``) is turned into one.
aiomysql itself continues in plain text when the server offers no TLS;
:func:`connect` refuses that connection when the endpoint needs TLS.

Importing this module imports aiomysql (``pip install 'connbroker[aiomysql]'``).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiomysql as _aiomysql
from pymysql import err as _pymysql_err
from pymysql.constants import CLIENT

from connbroker._fetch import fetch, report_denied, tls_required
from connbroker.client import Client
from connbroker.errors import HintsError, InsecureTLSError
from connbroker.hints import driver_kwargs
from connbroker.v1 import broker_pb2

__all__ = ["DRIVER", "connect", "connect_kwargs", "ssl_context"]

#: The driver name asked of the broker.
DRIVER = "aiomysql"


async def connect(endpoint: str, *, client: Client | None = None, **overrides: Any) -> Any:
    """Open a new aiomysql connection to a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        client: the broker client; the module default when omitted.
        **overrides: ``aiomysql.connect`` keyword arguments that replace or
            add to the broker's options (an ``ssl`` override must be an
            ``ssl.SSLContext``).

    Raises:
        connbroker.BrokerError: from the broker call.
        InsecureTLSError: the endpoint needs TLS but the server did not offer it.
        pymysql.err.MySQLError: from the connection itself.
    """
    params, kwargs = await asyncio.to_thread(_params_and_kwargs, endpoint, client, overrides)
    try:
        conn = await _aiomysql.connect(**kwargs)
    except _pymysql_err.OperationalError as err:  # 1045/1698: reported, then one retry
        if not await asyncio.to_thread(report_denied, endpoint, DRIVER, client, err):
            raise
        params, kwargs = await asyncio.to_thread(_params_and_kwargs, endpoint, client, overrides)
        conn = await _aiomysql.connect(**kwargs)
    if tls_required(params) and not (conn.server_capabilities & CLIENT.SSL and kwargs.get("ssl")):
        conn.close()
        raise InsecureTLSError(
            f"refusing the aiomysql connection to endpoint {params.endpoint!r}: it needs TLS "
            "but the connection is not encrypted",
            operation="aiomysql.connect",
        )
    return conn


def connect_kwargs(endpoint: str, *, client: Client | None = None, **overrides: Any) -> dict[str, Any]:
    """Return the ``aiomysql.connect`` keyword arguments (with the secret: never log them)."""
    return _params_and_kwargs(endpoint, client, overrides)[1]


def _params_and_kwargs(
    endpoint: str, client: Client | None, overrides: dict[str, Any]
) -> tuple[broker_pb2.ConnectionParams, dict[str, Any]]:
    params = fetch(endpoint, DRIVER, client)
    kwargs = driver_kwargs(params)
    if isinstance(kwargs.get("ssl"), dict):
        kwargs["ssl"] = ssl_context(kwargs["ssl"])
    kwargs.update(overrides)
    return params, kwargs


def ssl_context(spec: dict[str, Any]) -> ssl.SSLContext:
    """Build the ``ssl.SSLContext`` the hints' ``ssl`` dict describes.

    Raises:
        HintsError: an unknown ``verify_mode``.
    """
    ctx = ssl.create_default_context(cafile=spec.get("cafile"))
    ctx.check_hostname = bool(spec.get("check_hostname", True))
    mode = spec.get("verify_mode", "CERT_REQUIRED")
    if mode not in ("CERT_REQUIRED", "CERT_NONE"):
        raise HintsError(f"unknown ssl verify_mode {mode!r} in aiomysql hints", operation="aiomysql.ssl_context")
    ctx.verify_mode = ssl.CERT_REQUIRED if mode == "CERT_REQUIRED" else ssl.CERT_NONE
    return ctx
