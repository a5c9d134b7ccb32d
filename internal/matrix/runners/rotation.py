"""Password-rotation proof: a SQLAlchemy pool (connbroker.sqlalchemy) keeps
working after the account's password and the broker's password file change.

argv: broker address, endpoint, DBAPI driver (pymysql, mysqlclient).
For each line "query" on stdin it disposes the pool (so the next checkout
is a new physical connection, with fresh params from do_connect), runs
SELECT CURRENT_USER() and prints "ok USER" or "err ERROR", flushed.
"""

from __future__ import annotations

import sys

import connbroker


def main() -> None:
    with connbroker.Client(sys.argv[1], timeout=10) as client:
        engine = connbroker.sqlalchemy.create_engine(sys.argv[2], driver=sys.argv[3], client=client)
        for line in sys.stdin:
            if line.strip() != "query":
                continue
            engine.dispose()
            try:
                with engine.connect() as conn:
                    print("ok", conn.exec_driver_sql("SELECT CURRENT_USER()").scalar(), flush=True)
            except Exception as e:  # noqa: BLE001 - reported to the Go test
                print("err", f"{type(e).__name__}: {e}".replace("\n", " ")[:300], flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
