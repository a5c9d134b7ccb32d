"""Connect with mysqlclient (``MySQLdb``) using parameters from the broker.

Example::

    import connbroker

    conn = connbroker.mysqlclient.connect("orders")
    conn = connbroker.mysqlclient.connect("orders", connect_timeout=3)

Every call fetches fresh parameters. The hints may ask for environment
variables (``LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN`` for IAM tokens with Oracle's
libmysqlclient); :func:`connect` sets them before connecting, which is in
time only if it makes the process's first MySQL connection.

Importing this module imports MySQLdb (``pip install 'connbroker[mysqlclient]'``).
"""

from __future__ import annotations

from typing import Any

import MySQLdb as _mysqldb

from connbroker._fetch import apply_env, fetch, report_denied
from connbroker.client import Client
from connbroker.hints import driver_kwargs

__all__ = ["DRIVER", "connect", "connect_kwargs"]

#: The driver name asked of the broker.
DRIVER = "mysqlclient"


def connect(endpoint: str, *, client: Client | None = None, **overrides: Any) -> Any:
    """Open a new ``MySQLdb`` connection to a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        client: the broker client; the module default when omitted.
        **overrides: ``MySQLdb.connect`` keyword arguments that replace or
            add to the broker's options.

    Raises:
        connbroker.BrokerError: from the broker call.
        MySQLdb.MySQLError: from the connection itself.
    """
    try:
        return _mysqldb.connect(**connect_kwargs(endpoint, client=client, **overrides))
    except _mysqldb.OperationalError as err:  # 1045/1698: reported, then one retry
        if not report_denied(endpoint, DRIVER, client, err):
            raise
    return _mysqldb.connect(**connect_kwargs(endpoint, client=client, **overrides))


def connect_kwargs(endpoint: str, *, client: Client | None = None, **overrides: Any) -> dict[str, Any]:
    """Return the ``MySQLdb.connect`` keyword arguments (with the secret: never log them).

    Also sets the environment variables the hints name.
    """
    params = fetch(endpoint, DRIVER, client)
    apply_env(params)
    return driver_kwargs(params, **overrides)
