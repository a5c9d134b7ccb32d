"""Token-refresh proof: a SQLAlchemy pool (connbroker.sqlalchemy, PyMySQL)
against a peer that refuses IAM tokens older than a short window.

stdin: {"broker": ADDR, "endpoint": E, "windows": N, "window": SECONDS}.
Each window it checks out two connections at once (pool_recycle forces new
physical ones, each with fresh params from the do_connect event), queries
on both and on one long-lived connection opened in the first window (an
established session outlives its token), then sleeps a window.
Prints {"ok": N_OK, "errors": [...]}.
"""

from __future__ import annotations

import json
import sys
import time

import connbroker


def main() -> None:
    req = json.load(sys.stdin)
    window = float(req["window"])
    out: dict[str, object] = {"ok": 0, "errors": []}
    with connbroker.Client(req["broker"], timeout=10) as client:
        engine = connbroker.sqlalchemy.create_engine(
            req["endpoint"], driver="pymysql", client=client, pool_size=3, pool_recycle=window / 2
        )
        long_lived = engine.raw_connection()
        for _ in range(int(req["windows"])):
            try:
                with engine.connect() as a, engine.connect() as b:
                    for c in (a, b):
                        c.exec_driver_sql("SELECT CURRENT_USER()").scalar()
                cur = long_lived.cursor()
                cur.execute("SELECT CURRENT_USER()")
                cur.close()
                out["ok"] = int(out["ok"]) + 1  # type: ignore[call-overload]
            except Exception as e:  # noqa: BLE001 - reported to the Go test
                out["errors"].append(f"{type(e).__name__}: {e}"[:300])  # type: ignore[attr-defined]
            time.sleep(window)
        long_lived.close()
        engine.dispose()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
