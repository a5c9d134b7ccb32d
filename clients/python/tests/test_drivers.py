"""The driver helpers against the real broker and MariaDB (devstack).

Every helper connects with nothing but an endpoint name. The full driver x
account-kind matrix (including the mysql-connector C extension, Node,
Java and the CLIs) is internal/matrix; these tests pin the Python API.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

import connbroker
from connbroker.v1 import broker_pb2

from .conftest import Devstack

pytestmark = pytest.mark.integration

ENDPOINTS = [("local-tls", "app_tls@%"), ("local-iam", "app_iam@%")]


def _require(devstack: Devstack, endpoint: str) -> None:
    if endpoint == "local-iam":
        devstack.require_iam()


def _current_user(conn: Any) -> str:
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER()")
        row = cur.fetchone()
        cur.close()
        return str(row[0])
    finally:
        conn.close()


@pytest.mark.parametrize(("endpoint", "user"), ENDPOINTS)
def test_mysqlclient(devstack: Devstack, endpoint: str, user: str) -> None:
    _require(devstack, endpoint)
    assert _current_user(connbroker.mysqlclient.connect(endpoint)) == user


@pytest.mark.parametrize(("endpoint", "user"), ENDPOINTS)
def test_mysql_connector_pure(devstack: Devstack, endpoint: str, user: str) -> None:
    _require(devstack, endpoint)
    assert _current_user(connbroker.mysql_connector.connect(endpoint, pure=True)) == user


def test_mysql_connector_c_extension(devstack: Devstack) -> None:
    """Connects, or, where the C extension cannot load in this process
    (OpenSSL 3.0 and ssl imported first, as on Debian 12), says how to fix it."""
    try:
        conn = connbroker.mysql_connector.connect("local-tls")
    except connbroker.HintsError as e:
        assert "pure=True" in str(e) and "import mysql.connector before" in str(e)
    else:
        assert _current_user(conn) == "app_tls@%"


@pytest.mark.parametrize(("endpoint", "user"), ENDPOINTS)
def test_aiomysql(devstack: Devstack, endpoint: str, user: str) -> None:
    _require(devstack, endpoint)

    async def run() -> str:
        conn = await connbroker.aiomysql.connect(endpoint)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT CURRENT_USER()")
                row = await cur.fetchone()
            return str(row[0])
        finally:
            conn.close()

    assert asyncio.run(run()) == user


class _CountingClient(connbroker.Client):
    """A real client that counts GetConnectionParams calls."""

    calls = 0

    def get_connection_params(self, endpoint: str, driver: str = "pymysql") -> broker_pb2.ConnectionParams:
        type(self).calls += 1
        return super().get_connection_params(endpoint, driver=driver)


@pytest.mark.parametrize("driver", ["pymysql", "mysqlclient"])
@pytest.mark.parametrize(("endpoint", "user"), ENDPOINTS)
def test_sqlalchemy_fresh_params_per_physical_connection(
    devstack: Devstack, endpoint: str, user: str, driver: str
) -> None:
    _require(devstack, endpoint)
    with _CountingClient(devstack.broker_addr, timeout=10) as client:
        _CountingClient.calls = 0
        engine = connbroker.sqlalchemy.create_engine(endpoint, driver=driver, client=client)
        assert "{password}" not in str(engine.url) and engine.url.password is None
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT CURRENT_USER()").scalar() == user
            engine.dispose()  # the next checkout opens a new physical connection
        # One call for the URL, then one per physical connection.
        assert _CountingClient.calls == 1 + 3


@pytest.mark.parametrize(("endpoint", "user"), ENDPOINTS)
def test_sqlalchemy_async_engine_fresh_params(devstack: Devstack, endpoint: str, user: str) -> None:
    _require(devstack, endpoint)

    async def run(client: connbroker.Client) -> list[str]:
        engine = connbroker.sqlalchemy.create_async_engine(endpoint, client=client)
        users = []
        try:
            for _ in range(2):
                async with engine.connect() as conn:
                    users.append(str((await conn.exec_driver_sql("SELECT CURRENT_USER()")).scalar()))
                await engine.dispose()  # the next checkout opens a new physical connection
        finally:
            await engine.dispose()
        return users

    with _CountingClient(devstack.broker_addr, timeout=10) as client:
        _CountingClient.calls = 0
        assert asyncio.run(run(client)) == [user, user]
        assert _CountingClient.calls == 2


def test_sqlalchemy_unknown_driver() -> None:
    with pytest.raises(connbroker.InvalidRequest, match="known: pymysql, mysqlclient, mysqlconnector"):
        connbroker.sqlalchemy.create_engine("x", driver="psycopg")


@pytest.mark.parametrize(
    ("spec", "mode", "hostname"),
    [
        ({"check_hostname": True, "verify_mode": "CERT_REQUIRED"}, ssl.CERT_REQUIRED, True),
        ({"check_hostname": False, "verify_mode": "CERT_REQUIRED"}, ssl.CERT_REQUIRED, False),
        ({"check_hostname": False, "verify_mode": "CERT_NONE"}, ssl.CERT_NONE, False),
    ],
)
def test_aiomysql_ssl_context(spec: dict[str, Any], mode: ssl.VerifyMode, hostname: bool) -> None:
    ctx = connbroker.aiomysql.ssl_context(spec)
    assert ctx.verify_mode == mode and ctx.check_hostname == hostname


def test_aiomysql_ssl_context_unknown_mode() -> None:
    with pytest.raises(connbroker.HintsError, match="verify_mode"):
        connbroker.aiomysql.ssl_context({"verify_mode": "CERT_OPTIONAL"})
