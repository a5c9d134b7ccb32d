"""Compatibility-matrix runner for the Python drivers.

Reads one JSON object on stdin: {"broker": "host:port", "driver": NAME,
"cases": [{"endpoint": E, "connects": N}, ...]}. For each case it connects N
times with nothing but the broker's params, through the connbroker helper
of that driver, runs SELECT CURRENT_USER() and closes. It prints one JSON
object: {"version": DRIVER_VERSION, "results": [{"endpoint", "ok", "user",
"error"}]}. Errors are reported by type and message; the secret is never
printed (the drivers do not put it in their messages).
"""

from __future__ import annotations

import sys

if sys.argv[1:] and sys.argv[1] in ("mysql-connector-python", "sqlalchemy+mysqlconnector"):
    # The C extension's wheel links against its bundled OpenSSL >= 3.2; on a
    # system OpenSSL 3.0 (Debian 12) it loads only if imported before the
    # ssl module is (grpc imports ssl). See the hints' warning.
    import _mysql_connector  # noqa: F401

import asyncio
import importlib.metadata
import json
from typing import Any, Callable

import connbroker


def driver_package(client: connbroker.Client, driver: str) -> tuple[str, str]:
    """Return (DBAPI package, wrapper package or "") for driver, from the
    broker's driver list (ListDrivers): the runner keeps no table of its own."""
    drivers = {d.name: d for d in client.list_drivers()}
    if driver not in drivers:
        raise ValueError(f"the broker does not know driver {driver!r}; it knows {sorted(drivers)}")
    d = drivers[driver]
    if d.wraps:
        return drivers[d.wraps].environment.package, d.environment.package
    return d.environment.package, ""


def query_dbapi(conn: Any) -> str:
    """Run SELECT CURRENT_USER() on a DB-API connection and close it."""
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER()")
        row = cur.fetchone()
        cur.close()
        return str(row[0].decode() if isinstance(row[0], bytes) else row[0])
    finally:
        conn.close()


async def query_aio(endpoint: str, client: connbroker.Client) -> str:
    conn = await connbroker.aiomysql.connect(endpoint, client=client)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT CURRENT_USER()")
            row = await cur.fetchone()
        return str(row[0])
    finally:
        conn.close()


def connector(driver: str, client: connbroker.Client) -> Callable[[str, int], str]:
    """Return f(endpoint, connects) -> CURRENT_USER() for the driver."""
    if driver.startswith("sqlalchemy+"):
        dbapi = driver.split("+", 1)[1]

        def via_engine(endpoint: str, n: int) -> str:
            engine = connbroker.sqlalchemy.create_engine(endpoint, driver=dbapi, client=client)
            user = ""
            try:
                for _ in range(n):
                    with engine.connect() as conn:
                        user = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar())
                    engine.dispose()  # the next connect is a new physical connection
            finally:
                engine.dispose()
            return user

        return via_engine

    def dbapi_conn(endpoint: str) -> Any:
        if driver == "pymysql":
            return connbroker.pymysql.connect(endpoint, client=client)
        if driver == "mysqlclient":
            return connbroker.mysqlclient.connect(endpoint, client=client)
        if driver in ("mysql-connector-python", "mysql-connector-python-pure"):
            return connbroker.mysql_connector.connect(endpoint, pure=driver.endswith("-pure"), client=client)
        raise ValueError(f"unknown driver {driver!r}")

    def repeat(endpoint: str, n: int) -> str:
        user = ""
        for _ in range(n):
            if driver == "aiomysql":
                user = asyncio.run(query_aio(endpoint, client))
            else:
                user = query_dbapi(dbapi_conn(endpoint))
        return user

    return repeat


def describe(e: BaseException) -> str:
    """The error and its causes, e.g. aiomysql's OperationalError from an SSLError."""
    parts = []
    seen: BaseException | None = e
    while seen is not None and len(parts) < 4:
        parts.append(f"{type(seen).__module__}.{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


def main() -> None:
    req = json.load(sys.stdin)
    driver = req["driver"]
    with connbroker.Client(req["broker"], timeout=10) as client:
        pkg, wrapper = driver_package(client, driver)
        version = importlib.metadata.version(pkg)
        if wrapper:
            version = f"{wrapper} {importlib.metadata.version(wrapper)}, {pkg} {version}"
        out: dict[str, Any] = {"version": version, "results": []}
        run = connector(driver, client)
        for case in req["cases"]:
            res: dict[str, Any] = {"endpoint": case["endpoint"]}
            try:
                res["user"] = run(case["endpoint"], int(case.get("connects", 1)))
                res["ok"] = True
            except Exception as e:  # noqa: BLE001 - every failure is a result
                res["ok"] = False
                res["error"] = describe(e)[:600]
            out["results"].append(res)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
