"""The doctor's real login: once, with the application's driver and the broker's hints."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from connbroker import _guard
from connbroker.client import Client
from connbroker.errors import BrokerError
from connbroker.hints import driver_kwargs
from connbroker.v1 import broker_pb2

__all__ = ["RealLogin", "real_login", "real_login_in_child"]


@dataclass
class RealLogin:
    """One real login with the application's driver and the broker's hints."""

    #: The driver that logged in (canonical name).
    driver: str
    #: The login and ``SELECT CURRENT_USER()`` succeeded.
    ok: bool
    #: What ``CURRENT_USER()`` returned.
    current_user: str = ""
    #: The driver's error, secret redacted, when not ok.
    error: str = ""
    #: The hints' environment variables (``NAME=value``) this process lacks.
    missing_env: list[str] = field(default_factory=list)
    #: How the real secret was protected: "driver" (the driver itself insists
    #: on verified TLS), "relay" (the doctor's guard, see connbroker._guard)
    #: or "dummy" (the login ran with a dummy secret).
    guard: str = ""
    #: Why the guard stopped the login before the secret left, or "".
    withheld: str = ""


def real_login_in_child(address: str, timeout: float, endpoint: str, driver: str, modules: list[str]) -> RealLogin:
    """Run :func:`real_login` in a fresh interpreter of this environment.

    A fresh process, like the application's first connection: libraries that
    read their environment once (libmysqlclient) or must be imported before
    ``ssl`` (mysql-connector-python's C extension) behave as they do there.
    ``modules`` (the driver's import modules, from the broker's driver list)
    are imported first.
    """
    code = (
        f"import {', '.join(modules)}\n"
        "import sys\n"
        "from connbroker.doctor.login import _login_child\n"
        "sys.exit(_login_child(sys.argv[1:]))\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, address, str(timeout), endpoint, driver],
            capture_output=True,
            text=True,
            timeout=timeout + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return RealLogin(driver=driver, ok=False, error="the login process did not finish in time")
    except OSError as e:
        return RealLogin(driver=driver, ok=False, error=f"cannot start {sys.executable}: {e}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return RealLogin(driver=driver, ok=False, error=f"the login process failed (exit {proc.returncode}): {tail[0]}")
    return RealLogin(**data)


def _login_child(argv: list[str]) -> int:
    """Entry point of the login child: print the RealLogin as JSON."""
    address, timeout, endpoint, driver = argv[0], float(argv[1]), argv[2], argv[3]
    with Client(address, timeout=timeout) as client:
        res = real_login(client, endpoint, driver)
    print(json.dumps(asdict(res)))
    return 0


def real_login(client: Client, endpoint: str, driver: str) -> RealLogin:
    """Log in once with ``driver`` and the broker's hints, run ``SELECT CURRENT_USER()``.

    The hints' environment variables are not set: the point is how this
    process, as it is, fares. Those the process lacks are listed instead.
    """
    if driver.startswith("sqlalchemy+"):
        return _sqlalchemy_login(client, endpoint, driver)
    try:
        params = client.get_connection_params(endpoint, driver=driver)
    except BrokerError as e:
        return RealLogin(driver=driver, ok=False, error=f"GetConnectionParams: {e}")
    out = RealLogin(driver=driver, ok=False)
    out.missing_env = [f"{v.name}={v.value}" for v in params.hints.env if os.environ.get(v.name) != v.value]
    guard: _guard.Guard | None = None
    try:
        if driver == "aiomysql":
            asyncio.run(_aiomysql_login(endpoint, client, out))
            return out
        kwargs = driver_kwargs(params, connect_timeout=10)
        # The real secret never goes where the broker's validator would not
        # send it (connbroker._guard explains the three ways).
        if _guard.driver_insists(driver, kwargs, params):
            out.guard = "driver"
        elif driver == "pymysql" or params.tls.mode != broker_pb2.TLS_MODE_VERIFY_IDENTITY:
            out.guard = "relay"
            guard = _guard.Guard(params)
            if driver != "pymysql":  # no certificate check depends on the host here
                kwargs["host"], kwargs["port"] = guard.listen_tcp()
        else:
            out.guard = "dummy"
            kwargs[params.hints.secret_option] = _guard.dummy_secret()
        if driver == "pymysql":
            import pymysql

            if guard is not None:
                conn: Any = pymysql.connect(**kwargs, defer_connect=True)
                conn.connect(sock=guard.socketpair())
            else:
                conn = pymysql.connect(**kwargs)
        elif driver == "mysqlclient":
            import MySQLdb

            conn = MySQLdb.connect(**kwargs)
        elif driver in ("mysql-connector-python", "mysql-connector-python-pure"):
            import mysql.connector

            kwargs.pop("connect_timeout", None)
            kwargs["connection_timeout"] = 10
            conn = mysql.connector.connect(**kwargs)
        else:
            out.error = f"no real login for driver {driver!r}"
            return out
        try:
            cur = conn.cursor()
            cur.execute("SELECT CURRENT_USER()")
            out.current_user, out.ok = _first_column(cur.fetchone()), True
        finally:
            conn.close()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = _driver_error(e, params.credential.secret)
    finally:
        if guard is not None:
            guard.close()
            out.withheld = guard.withheld
    return out


def _sqlalchemy_login(client: Client, endpoint: str, driver: str) -> RealLogin:
    """Log in through a SQLAlchemy engine from :mod:`connbroker.sqlalchemy`."""
    out = RealLogin(driver=driver, ok=False)
    guards: list[_guard.Guard] = []
    try:
        from connbroker import sqlalchemy as helper

        base = driver.split("+", 1)[1]
        params = client.get_connection_params(endpoint, driver=driver)

        # Every login of the engine (also the helper's retry after a 1045)
        # goes through here, on the helper's fresh arguments: the same three
        # ways as real_login (connbroker._guard).
        def _guarded(dialect: Any, cparams: dict[str, Any]) -> Any:
            secret = str(cparams.get(params.hints.secret_option, ""))
            if _guard.driver_insists(driver, cparams, params):
                out.guard = "driver"
                return dialect.connect(**cparams)
            if base == "pymysql" or params.tls.mode != broker_pb2.TLS_MODE_VERIFY_IDENTITY:
                out.guard = "relay"
                g = _guard.Guard(params, secret=secret)
                guards.append(g)
                if base == "pymysql":
                    import pymysql

                    conn = pymysql.connect(**cparams, defer_connect=True)
                    conn.connect(sock=g.socketpair())
                    return conn
                cparams["host"], cparams["port"] = g.listen_tcp()
                return dialect.connect(**cparams)
            out.guard = "dummy"
            cparams[params.hints.secret_option] = _guard.dummy_secret()
            return dialect.connect(**cparams)

        engine = helper.create_engine(endpoint, driver=base, client=client, _connect=_guarded)

        try:
            with engine.connect() as conn:
                out.current_user = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar())
            out.ok = True
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = f"{type(e).__module__}.{type(e).__name__}: {e}"
    finally:
        for g in guards:
            g.close()
            out.withheld = out.withheld or g.withheld
    return out


async def _aiomysql_login(endpoint: str, client: Client, out: RealLogin) -> None:
    """Log in with aiomysql through the guard; fill ``out``."""
    import aiomysql

    from connbroker import aiomysql as helper

    params, kwargs = await asyncio.to_thread(helper._params_and_kwargs, endpoint, client, {"connect_timeout": 10})
    # aiomysql carries on in plain text when the server offers no TLS: it
    # always goes through the guard (connbroker._guard). On a verifying
    # endpoint a Unix socket keeps kwargs["host"], which its TLS checks.
    out.guard = "relay"
    guard = _guard.Guard(params)
    try:
        if _guard.verifies(params):
            kwargs["unix_socket"] = guard.listen_unix()
        else:
            kwargs["host"], kwargs["port"] = guard.listen_tcp()
        conn = await aiomysql.connect(**kwargs)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT CURRENT_USER()")
                out.current_user, out.ok = _first_column(await cur.fetchone()), True
        finally:
            conn.close()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = _driver_error(e, params.credential.secret)
    finally:
        await asyncio.to_thread(guard.close)
        out.withheld = guard.withheld


def _driver_error(e: Exception, secret: str) -> str:
    """The finding for a driver's exception: its qualified type and message, the secret redacted."""
    text = f"{type(e).__module__}.{type(e).__name__}: {e}"
    return text.replace(secret, "<redacted>") if secret else text


def _first_column(row: Any) -> str:
    """The first column of a fetched row as text ("" for no row)."""
    return str(row[0]) if row else ""
