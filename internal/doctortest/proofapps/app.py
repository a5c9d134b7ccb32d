"""A real application for the preflight proof: it gets an endpoint's params
from the broker through the connbroker helper of its driver, logs in once
(SELECT CURRENT_USER()), and prints one JSON line: the ClientEnvironment its
helper would send (connbroker.doctor.collect, as protojson) and the login's
outcome.

Usage: python app.py BROKER ENDPOINT DRIVER
"""

import json
import sys

from google.protobuf import json_format

import connbroker
from connbroker import doctor


def login(client: connbroker.Client, endpoint: str, driver: str) -> None:
    if driver == "pymysql":
        from connbroker import pymysql as helper

        conn = helper.connect(endpoint, client=client)
    elif driver == "mysqlclient":
        from connbroker import mysqlclient as helper

        conn = helper.connect(endpoint, client=client)
    elif driver == "mysql-connector-python-pure":
        from connbroker import mysql_connector as helper

        conn = helper.connect(endpoint, pure=True, client=client)
    else:
        raise SystemExit(f"unknown driver {driver}")
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER()")
        cur.fetchall()
    finally:
        conn.close()


def main() -> int:
    broker, endpoint, driver = sys.argv[1:4]
    with connbroker.Client(broker, timeout=10) as client:
        env = doctor.collect(doctor.Registry.from_broker(client)).to_proto(driver)
        out = {"env": json_format.MessageToDict(env, preserving_proto_field_name=True)}
        try:
            login(client, endpoint, driver)
            out["ok"] = True
        except Exception as e:  # the outcome is the report
            out["ok"] = False
            out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
