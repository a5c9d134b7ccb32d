"""SQLAlchemy engines whose pool fetches fresh broker params per connection.

Example::

    import connbroker

    engine = connbroker.sqlalchemy.create_engine("orders", driver="pymysql")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT CURRENT_USER()")

``driver`` is ``pymysql``, ``mysqlclient`` or ``mysqlconnector``; the broker
is asked for ``sqlalchemy+<driver>``. The URL carries no secret: a
``do_connect`` event asks the broker again for every new physical
connection and replaces all connect arguments with the fresh ones, so the
pool keeps working after IAM tokens expire and after a password rotation; a
login refused with 1045/1698 is reported to the broker (``ReportLoginFailure``:
it re-reads the credential source) and tried once more with fresh params.

For asyncio, :func:`create_async_engine` builds an ``AsyncEngine`` on aiomysql
whose ``async_creator`` calls :func:`connbroker.aiomysql.connect` for every new
physical connection.

Importing this module imports SQLAlchemy (``pip install 'connbroker[sqlalchemy]'``;
the async engine also needs ``aiomysql`` and ``greenlet``).
"""

from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as _sa
from sqlalchemy import event

from connbroker._fetch import apply_env, fetch, report_denied
from connbroker.client import Client, default_client
from connbroker.errors import InvalidRequest
from connbroker.hints import driver_kwargs

__all__ = ["DRIVERS", "create_async_engine", "create_engine", "fresh_connect_args"]

#: The DBAPI drivers this module knows, as accepted by :func:`create_engine`.
DRIVERS = ("pymysql", "mysqlclient", "mysqlconnector")


def create_engine(
    endpoint: str,
    *,
    driver: str = "pymysql",
    client: Client | None = None,
    _connect: Callable[[Any, dict[str, Any]], Any] | None = None,
    **engine_kwargs: Any,
) -> _sa.engine.Engine:
    """Create an engine for a broker endpoint.

    Args:
        endpoint: the configured endpoint name.
        driver: the DBAPI driver, one of :data:`DRIVERS`.
        client: the broker client; the module default when omitted. It must
            outlive the engine.
        _connect: private to connbroker (the doctor's guard): called as
            ``_connect(dialect, cparams)`` instead of ``dialect.connect(**cparams)``
            for every login, so the guard sees exactly what would be sent.
        **engine_kwargs: passed to ``sqlalchemy.create_engine`` (``pool_size``,
            ``pool_recycle``, ``echo`` ...).

    Raises:
        InvalidRequest: an unknown ``driver``.
        connbroker.BrokerError: from the first broker call (made here to get the URL).
    """
    if driver not in DRIVERS:
        raise InvalidRequest(
            f"unknown SQLAlchemy driver {driver!r}; known: {', '.join(DRIVERS)}",
            operation="connbroker.sqlalchemy.create_engine",
        )
    c = client if client is not None else default_client()
    params = fetch(endpoint, f"sqlalchemy+{driver}", c)
    engine = _sa.create_engine(params.hints.dsn, **engine_kwargs)

    def login(dialect: Any, cparams: dict[str, Any]) -> Any:
        if _connect is not None:
            return _connect(dialect, cparams)
        return dialect.connect(**cparams)

    @event.listens_for(engine, "do_connect")
    def _fresh(dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        fresh = fresh_connect_args(endpoint, driver=driver, client=c)
        cargs.clear()
        cparams.clear()
        cparams.update(fresh)
        try:
            return login(dialect, cparams)
        except dialect.loaded_dbapi.Error as err:
            if not report_denied(endpoint, f"sqlalchemy+{driver}", c, err):
                raise
        fresh = fresh_connect_args(endpoint, driver=driver, client=c)
        cparams.clear()
        cparams.update(fresh)
        return login(dialect, cparams)

    return engine


def fresh_connect_args(endpoint: str, *, driver: str = "pymysql", client: Client | None = None) -> dict[str, Any]:
    """Fetch params now and return the DBAPI connect arguments (with the secret: never log them)."""
    params = fetch(endpoint, f"sqlalchemy+{driver}", client)
    apply_env(params)
    kwargs = driver_kwargs(params)
    if driver == "pymysql":
        from connbroker.pymysql import check_tls

        check_tls(params, kwargs)
    return kwargs


def create_async_engine(endpoint: str, *, client: Client | None = None, **engine_kwargs: Any) -> Any:
    """Create an ``AsyncEngine`` (aiomysql) for a broker endpoint.

    Every new physical connection is opened by
    :func:`connbroker.aiomysql.connect`, so it gets fresh params (a fresh IAM
    token) and is refused when the endpoint needs TLS and the connection is
    not encrypted.

    Args:
        endpoint: the configured endpoint name.
        client: the broker client; the module default when omitted.
        **engine_kwargs: passed to ``sqlalchemy.ext.asyncio.create_async_engine``.

    Example::

        engine = connbroker.sqlalchemy.create_async_engine("orders")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT CURRENT_USER()")
        await engine.dispose()
    """
    from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

    from connbroker import aiomysql as _aiomysql

    c = client if client is not None else default_client()

    async def creator() -> Any:
        return await _aiomysql.connect(endpoint, client=c)

    return _create_async_engine("mysql+aiomysql://", async_creator=creator, **engine_kwargs)
