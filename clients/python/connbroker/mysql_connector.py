"""Connect with mysql-connector-python using parameters from the broker.

Example::

    import connbroker

    conn = connbroker.mysql_connector.connect("orders")              # C extension when it loads
    conn = connbroker.mysql_connector.connect("orders", pure=True)   # pure Python
    conn = connbroker.mysql_connector.connect("orders", pure=False)  # C extension or HintsError

Every call fetches fresh parameters.

The C extension (``_mysql_connector``, in the 26.x wheels) bundles OpenSSL
3.2+ under ``mysql/vendor`` but finds it only while no other ``libssl.so.3``
is loaded. On a system with an older OpenSSL (Debian 12 and Ubuntu 22.04
have 3.0), once anything imports :mod:`ssl` -- ``import connbroker`` does,
through grpc, and ``import mysql.connector`` does itself before it tries the
extension -- the dynamic loader reuses the system library and the extension
fails with ``version `OPENSSL_3.2.0' not found``. Nothing can load it in that
process any more. So by default (``pure=None``) this helper uses the C
extension when it is available and otherwise connects with the pure-Python
implementation, with the broker's hints for that implementation (its own TLS
and plugin options, as verified as the C extension's), and emits a
:class:`CExtensionUnavailableWarning` once per process that says why and how
to get the C extension (``import _mysql_connector`` first thing in the
program, before anything imports ``ssl``).

Importing this module imports ``mysql.connector``
(``pip install 'connbroker[mysql-connector]'``).
"""

from __future__ import annotations

import warnings
from typing import Any

import mysql.connector as _connector

from connbroker._fetch import apply_env, fetch, report_denied
from connbroker.client import Client
from connbroker.errors import HintsError
from connbroker.hints import driver_kwargs

__all__ = [
    "DRIVER",
    "DRIVER_PURE",
    "CExtensionUnavailableWarning",
    "c_extension_error",
    "connect",
    "connect_kwargs",
]

#: The driver name asked of the broker for the C extension.
DRIVER = "mysql-connector-python"
#: The driver name asked of the broker for the pure-Python implementation.
DRIVER_PURE = "mysql-connector-python-pure"


class CExtensionUnavailableWarning(UserWarning):
    """The C extension cannot load in this process; the pure-Python
    implementation is used instead (with the broker's hints for it)."""


_warned = False


def c_extension_error() -> str | None:
    """Return why mysql-connector-python's C extension cannot be used in this
    process, or ``None`` when it can.

    ``mysql.connector`` decides once, at its import (``HAVE_CEXT``); when that
    failed, importing ``_mysql_connector`` again shows the loader's reason.
    """
    if getattr(_connector, "HAVE_CEXT", False):
        return None
    try:
        import _mysql_connector  # noqa: F401  (only to learn why it fails)
    except ImportError as e:
        return str(e)
    return "mysql.connector was imported before its C extension could load (HAVE_CEXT is False)"


def _choose(endpoint: str, pure: bool | None, overrides: dict[str, Any]) -> bool:
    """Return whether to use the pure-Python implementation."""
    if "use_pure" in overrides:  # the caller's own choice of implementation
        pure = bool(overrides["use_pure"])
    if pure is True:
        return True
    reason = c_extension_error()
    if reason is None:
        return False
    if pure is False:
        raise HintsError(
            f"the mysql-connector-python C extension cannot be loaded for endpoint {endpoint!r} ({reason}); "
            "import _mysql_connector before anything imports ssl (grpc and mysql.connector do), "
            "or connect with pure=True (or the default pure=None, which falls back by itself)",
            operation="mysql_connector.connect",
        )
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"the mysql-connector-python C extension cannot load in this process ({reason}): its wheels bundle "
            "OpenSSL 3.2+, and an older system libssl was loaded first (by import ssl, which grpc and "
            "mysql.connector do); connecting with the pure-Python implementation and the broker's hints for it. "
            "To use the C extension, import _mysql_connector first thing in the program, or pass pure=True "
            "to silence this warning",
            CExtensionUnavailableWarning,
            stacklevel=4,  # _choose <- _kwargs <- connect / connect_kwargs <- the caller
        )
    return True


def connect(endpoint: str, *, pure: bool | None = None, client: Client | None = None, **overrides: Any) -> Any:
    """Open a new mysql-connector-python connection to a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        pure: ``True`` for the pure-Python implementation, ``False`` for the
            C extension only; ``None`` (the default) for the C extension when
            it can load in this process, else the pure-Python implementation
            with a :class:`CExtensionUnavailableWarning`. A ``use_pure``
            override decides the same way as ``pure``.
        client: the broker client; the module default when omitted.
        **overrides: ``mysql.connector.connect`` keyword arguments that
            replace or add to the broker's options.

    Raises:
        connbroker.BrokerError: from the broker call.
        HintsError: ``pure=False`` and the C extension cannot be loaded in
            this process (no broker call is made then).
        mysql.connector.Error: from the connection itself.
    """
    try:
        return _connector.connect(**_kwargs(endpoint, pure, client, overrides))
    except _connector.Error as err:  # 1045/1698: reported, then one retry with fresh params
        if not report_denied(endpoint, DRIVER, client, err):
            raise
    return _connector.connect(**_kwargs(endpoint, pure, client, overrides))


def connect_kwargs(
    endpoint: str, *, pure: bool | None = None, client: Client | None = None, **overrides: Any
) -> dict[str, Any]:
    """Return the ``mysql.connector.connect`` keyword arguments (with the
    secret: never log them) for the implementation :func:`connect` would use
    (``use_pure`` tells which)."""
    return _kwargs(endpoint, pure, client, overrides)


def _kwargs(endpoint: str, pure: bool | None, client: Client | None, overrides: dict[str, Any]) -> dict[str, Any]:
    use_pure = _choose(endpoint, pure, overrides)
    params = fetch(endpoint, DRIVER_PURE if use_pure else DRIVER, client)
    apply_env(params)
    kwargs = driver_kwargs(params, **overrides)
    kwargs["use_pure"] = use_pure
    return kwargs
