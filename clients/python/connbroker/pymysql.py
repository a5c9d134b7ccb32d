"""Connect with PyMySQL using parameters from the broker.

Example::

    import connbroker

    conn = connbroker.pymysql.connect("orders")          # CONNBROKER_ADDR or 127.0.0.1:7700
    conn = connbroker.pymysql.connect("orders", client=my_client, connect_timeout=3)

Every call fetches fresh parameters (IAM tokens live 15 minutes), so use it as
the connection factory of a pool, e.g. SQLAlchemy's ``creator=``.

Importing this module imports PyMySQL (``pip install 'connbroker[pymysql]'``).
"""

from __future__ import annotations

import ssl
from typing import Any, Callable
from collections.abc import Mapping

import pymysql as _pymysql
import pymysql.connections

from connbroker._fetch import fetch, report_denied
from connbroker.client import Client
from connbroker.errors import InsecureTLSError
from connbroker.hints import driver_kwargs
from connbroker.v1 import broker_pb2

__all__ = ["DRIVER", "check_tls", "connect", "connect_kwargs"]

#: The driver name asked of the broker and expected in its hints.
DRIVER = "pymysql"

_CLEAR_TEXT_PLUGIN = "mysql_clear_password"


def connect(endpoint: str, *, client: Client | None = None, **overrides: Any) -> pymysql.connections.Connection:  # type: ignore[type-arg,unused-ignore]
    """Open a new PyMySQL connection to a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        client: the broker client; the module default (:func:`connbroker.default_client`)
            when omitted.
        **overrides: PyMySQL keyword arguments that replace or add to the
            broker's options, e.g. ``database="other"``, ``autocommit=True``.

    Raises:
        connbroker.BrokerError: from the broker call (see :mod:`connbroker.errors`).
        HintsError: the hints are not for PyMySQL.
        InsecureTLSError: TLS is required (or verification asked for) but the
            resulting arguments would not provide it.
        pymysql.err.MySQLError: from the connection itself. A login refused
            with 1045/1698 is reported to the broker (it re-reads the
            credential source: a rotation may have happened) and tried once
            more with fresh params before the error is raised.
    """
    kwargs = connect_kwargs(endpoint, client=client, **overrides)
    try:
        return _pymysql.connect(**kwargs)
    except _pymysql.err.OperationalError as err:
        if not report_denied(endpoint, DRIVER, client, err):
            raise
    return _pymysql.connect(**connect_kwargs(endpoint, client=client, **overrides))


def connect_kwargs(endpoint: str, *, client: Client | None = None, **overrides: Any) -> dict[str, Any]:
    """Return the checked ``pymysql.connect`` keyword arguments for an endpoint.

    This is :func:`connect` without the connecting; the result contains the
    secret, so never log it.
    """
    params = fetch(endpoint, DRIVER, client)
    kwargs = driver_kwargs(params, **overrides)
    check_tls(params, kwargs)
    return kwargs


def check_tls(params: broker_pb2.ConnectionParams, kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments that would not give the TLS the endpoint requires.

    Mirrors how PyMySQL (1.1.2 to 1.2.x) builds its TLS context from ``ssl``,
    ``ssl_ca``, ``ssl_verify_cert``, ``ssl_verify_identity`` and
    ``ssl_disabled``:

    * ``resolution.tls_required``, mode REQUIRED or stronger, an IAM token or the
      ``mysql_clear_password`` plugin: TLS must be required (some ssl option
      set, ``ssl_disabled`` not true), since PyMySQL otherwise falls back to
      plain text and would send a clear-text secret unencrypted.
    * VERIFY_CA: the certificate must be verified.
    * VERIFY_IDENTITY: ``ssl_verify_cert`` and ``ssl_verify_identity`` true
      with ``ssl_ca`` set (PyMySQL skips the host name check without a CA
      file), or an ``ssl.SSLContext`` with ``check_hostname`` and
      ``CERT_REQUIRED``.

    Raises:
        InsecureTLSError: naming the endpoint and what is missing (never the secret).
    """
    mode = params.tls.mode
    clear_text = (
        params.credential.kind == broker_pb2.CREDENTIAL_KIND_IAM_TOKEN
        or params.resolution.plugin == _CLEAR_TEXT_PLUGIN
    )
    need_tls = params.resolution.tls_required or mode >= broker_pb2.TLS_MODE_REQUIRED or clear_text
    need_verify = mode >= broker_pb2.TLS_MODE_VERIFY_CA
    need_identity = mode >= broker_pb2.TLS_MODE_VERIFY_IDENTITY
    if not (need_tls or need_verify):
        return
    required, verify, identity, why = _pymysql_tls(kwargs)
    problem = ""
    if not required:
        problem = "TLS would not be required"
    elif need_verify and not verify:
        problem = "the server certificate would not be verified"
    elif need_identity and not identity:
        problem = "the server host name would not be verified"
    if problem:
        mode_name = broker_pb2.TLSMode.Name(mode) if mode in broker_pb2.TLSMode.values() else str(mode)
        reason = " (clear-text credential)" if clear_text else ""
        raise InsecureTLSError(
            f"refusing to connect to endpoint {params.endpoint!r}: it needs TLS mode {mode_name}{reason} "
            f"but with these PyMySQL arguments {problem}: {why()}",
            operation="pymysql.connect",
        )


def _truthy(v: Any) -> bool:
    """PyMySQL tests most TLS options for truthiness."""
    return bool(v)


def _pymysql_tls(kwargs: Mapping[str, Any]) -> tuple[bool, bool, bool, Callable[[], str]]:
    """Return (TLS required, cert verified, host name verified, explanation).

    The explanation is a function: it is only formatted for an error.
    """
    if _truthy(kwargs.get("ssl_disabled")):
        return False, False, False, lambda: "ssl_disabled is set"
    if any(_truthy(kwargs.get(k)) for k in ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity")):
        has_ca = kwargs.get("ssl_ca") is not None
        verify_cert = _truthy(kwargs.get("ssl_verify_cert"))
        verify_identity = _truthy(kwargs.get("ssl_verify_identity"))
        # ssl_verify_identity alone implies CERT_REQUIRED in 1.2 but raised
        # ValueError in older releases: require both, as documented.
        verify = verify_cert
        identity = verify_cert and verify_identity and has_ca
        return (
            True,
            verify,
            identity,
            lambda: (
                f"ssl_ca {'set' if has_ca else 'missing'}, ssl_verify_cert={bool(verify_cert)}, "
                f"ssl_verify_identity={bool(verify_identity)}"
            ),
        )
    ctx = kwargs.get("ssl")
    if isinstance(ctx, ssl.SSLContext):
        verify = ctx.verify_mode == ssl.CERT_REQUIRED
        identity = verify and ctx.check_hostname
        return (
            True,
            verify,
            identity,
            lambda: f"ssl context verify_mode={ctx.verify_mode.name}, check_hostname={ctx.check_hostname}",
        )
    if isinstance(ctx, dict) and ctx:
        has_ca = ctx.get("ca") is not None or ctx.get("capath") is not None
        vm = ctx.get("verify_mode")
        if vm is None:
            verify = has_ca
        elif isinstance(vm, bool):
            verify = vm
        else:
            verify = str(vm).lower() in ("required", "1", "true", "yes") or (
                str(vm).lower() not in ("none", "0", "false", "no", "optional") and has_ca
            )
        identity = verify and has_ca and bool(ctx.get("check_hostname", True))
        return True, verify, identity, lambda: f"ssl dict with keys {sorted(ctx)}"
    return False, False, False, lambda: "no ssl option is set, so PyMySQL would fall back to plain text"
