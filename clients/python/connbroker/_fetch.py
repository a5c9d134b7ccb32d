"""Shared plumbing of the driver helpers: fetch params, check, apply env."""

from __future__ import annotations

import logging
import os
from typing import Any

from connbroker.client import Client, default_client
from connbroker.errors import BrokerError, HintsError
from connbroker.v1 import broker_pb2


def fetch(endpoint: str, driver: str, client: Client | None) -> broker_pb2.ConnectionParams:
    """Ask the broker for ``driver`` params and check the hints are for it.

    Raises:
        connbroker.BrokerError: from the broker call.
        HintsError: the broker returned hints for another driver.
    """
    c = client if client is not None else default_client()
    params = c.get_connection_params(endpoint, driver=driver)
    if params.hints.driver != driver:
        raise HintsError(
            f"broker {c.address} returned hints for driver {params.hints.driver!r} "
            f"for endpoint {endpoint!r}, expected {driver!r}",
            operation=f"GetConnectionParams(endpoint={endpoint!r}, driver={driver!r})",
            address=c.address,
        )
    return params


def apply_env(params: broker_pb2.ConnectionParams) -> None:
    """Set the environment variables the hints ask for (``hints.env``).

    Some libraries read them once, at their first connection in the process
    (``LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN`` in Oracle's libmysqlclient): call
    the helpers before any other connection is made.
    """
    for var in params.hints.env:
        os.environ[var.name] = var.value


def tls_required(params: broker_pb2.ConnectionParams) -> bool:
    """Whether the endpoint needs TLS: a TLS mode that requires it or a clear-text secret.

    ``resolution.tls_required`` says so; the credential kind, the plugin and
    the mode are checked too, so a broker that left it unset cannot talk the
    helper out of TLS.
    """
    return (
        params.resolution.tls_required
        or params.tls.mode >= broker_pb2.TLS_MODE_REQUIRED
        or params.credential.kind == broker_pb2.CREDENTIAL_KIND_IAM_TOKEN
        or params.resolution.plugin == "mysql_clear_password"
    )


#: Server error numbers of a refused login: ER_ACCESS_DENIED_ERROR and
#: ER_ACCESS_DENIED_NO_PASSWORD_ERROR (MariaDB, unix_socket/PAM accounts).
ACCESS_DENIED = frozenset({1045, 1698})

_log = logging.getLogger("connbroker")


def mysql_errno(err: BaseException) -> int | None:
    """The server error number of a driver exception: ``errno`` (mysql-connector)
    or the first argument (PyMySQL, mysqlclient, aiomysql); None when it has none."""
    n = getattr(err, "errno", None)
    if isinstance(n, int):
        return n
    args = getattr(err, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def report_denied(endpoint: str, driver: str, client: Client | None, err: BaseException) -> bool:
    """Handle a failed login: for 1045/1698, report it to the broker
    (``ReportLoginFailure``: it re-reads the credential source) and return
    True so the caller retries the login once with fresh params. Any other
    error, or a broker that cannot take the report, returns False (the
    login's error stands)."""
    errno = mysql_errno(err)
    if errno not in ACCESS_DENIED:
        return False
    c = client if client is not None else default_client()
    try:
        resp: Any = c.report_login_failure(endpoint, driver, errno)
    except BrokerError as e:
        _log.warning("connbroker: login to endpoint %r refused (%d); could not report it: %s", endpoint, errno, e)
        return False
    _log.info(
        "connbroker: login to endpoint %r refused (%d); reported, source re-read=%s changed=%s; retrying once",
        endpoint, errno, resp.reread, resp.changed,
    )  # fmt: skip
    return True
