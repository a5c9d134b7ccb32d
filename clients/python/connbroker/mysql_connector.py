"""Connect with mysql-connector-python using parameters from the broker.

Example::

    import connbroker

    conn = connbroker.mysql_connector.connect("orders")             # C extension
    conn = connbroker.mysql_connector.connect("orders", pure=True)  # pure Python

Every call fetches fresh parameters.

Importing this module imports ``mysql.connector``
(``pip install 'connbroker[mysql-connector]'``).
"""

from __future__ import annotations

from typing import Any

import mysql.connector as _connector

from connbroker._fetch import apply_env, fetch, report_denied
from connbroker.client import Client
from connbroker.errors import HintsError
from connbroker.hints import driver_kwargs

__all__ = ["DRIVER", "DRIVER_PURE", "connect", "connect_kwargs"]

#: The driver name asked of the broker for the C extension.
DRIVER = "mysql-connector-python"
#: The driver name asked of the broker for the pure-Python implementation.
DRIVER_PURE = "mysql-connector-python-pure"


def connect(endpoint: str, *, pure: bool = False, client: Client | None = None, **overrides: Any) -> Any:
    """Open a new mysql-connector-python connection to a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        pure: use the pure-Python implementation instead of the C extension.
        client: the broker client; the module default when omitted.
        **overrides: ``mysql.connector.connect`` keyword arguments that
            replace or add to the broker's options.

    Raises:
        connbroker.BrokerError: from the broker call.
        HintsError: the C extension cannot be loaded (its 26.x wheels need
            OpenSSL 3.2: on a system OpenSSL 3.0 it loads only if imported
            before anything imports ``ssl``); import ``mysql.connector``
            first or use ``pure=True``.
        mysql.connector.Error: from the connection itself.
    """
    kwargs = connect_kwargs(endpoint, pure=pure, client=client, **overrides)
    try:
        try:
            return _connector.connect(**kwargs)
        except _connector.Error as err:  # 1045/1698: reported, then one retry
            if not report_denied(endpoint, DRIVER, client, err):
                raise
        return _connector.connect(**connect_kwargs(endpoint, pure=pure, client=client, **overrides))
    except ImportError as e:
        if pure or "C Extension not available" not in str(e):
            raise
        raise HintsError(
            f"the mysql-connector-python C extension cannot be loaded for endpoint {endpoint!r} ({e}); "
            "import mysql.connector before anything imports ssl (grpc does), or connect with pure=True",
            operation="mysql_connector.connect",
        ) from e


def connect_kwargs(
    endpoint: str, *, pure: bool = False, client: Client | None = None, **overrides: Any
) -> dict[str, Any]:
    """Return the ``mysql.connector.connect`` keyword arguments (with the secret: never log them)."""
    params = fetch(endpoint, DRIVER_PURE if pure else DRIVER, client)
    apply_env(params)
    return driver_kwargs(params, **overrides)
