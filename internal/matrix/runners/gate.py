"""Proves the mysqlclient hint's LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN against
Oracle's libmysqlclient, which the mysql-connector-python C extension
bundles (Debian ships only MariaDB Connector/C for mysqlclient).

argv: broker address, endpoint. Connects once with the C extension's hint
options minus auth_plugin (so only the environment can open the gate) and
prints "OK" or the error. The Go test runs it with and without the variable.
"""

from __future__ import annotations

import sys

import _mysql_connector  # noqa: F401  # before ssl: see the hints' OpenSSL warning

import mysql.connector

import connbroker


def main() -> None:
    with connbroker.Client(sys.argv[1], timeout=10) as c:
        kw = connbroker.driver_kwargs(c.get_connection_params(sys.argv[2], driver="mysql-connector-python"))
    kw.pop("auth_plugin", None)
    try:
        mysql.connector.connect(**kw).close()
        print("OK")
    except mysql.connector.Error as e:
        print(f"ERR {e}")


if __name__ == "__main__":
    main()
