"""App startup cost: ``import connbroker`` + first params stays light.

A fresh interpreter imports the package, asks the real broker for params once
and reports which modules got loaded. The helper must not pull in a database
driver, an AWS SDK or a crypto library at import time (drivers load lazily on
``connbroker.pymysql``). Timing against boto3 is in ``make bench``, not here:
tests assert behaviour, never durations.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import Devstack

HEAVY = ("boto3", "botocore", "pymysql", "sqlalchemy", "cryptography", "requests", "urllib3", "MySQLdb", "nacl")

SCRIPT = """
import json, sys
import connbroker
c = connbroker.Client(sys.argv[1], timeout=10)
p = c.get_connection_params("local-native", driver="pymysql")
assert p.credential.secret and p.hints.driver == "pymysql"
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))
print(json.dumps({"heavy": heavy, "modules": len(sys.modules)}))
"""


def test_import_and_first_params_load_no_heavy_modules(devstack: Devstack) -> None:
    """Fresh process: import + first params loads grpc and the stubs, nothing heavy."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, devstack.broker_addr, *HEAVY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["heavy"] == [], f"import connbroker + params loaded {report['heavy']}"
