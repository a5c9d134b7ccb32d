"""connbroker.mysql_connector in the import orders users write, against the
real broker and MariaDB (devstack).

On Debian 12 / Ubuntu 22.04 (system OpenSSL 3.0) the C extension of the
mysql-connector-python 26.x wheels cannot load once anything has imported
``ssl`` (``import connbroker`` does, through grpc): the helper must still
connect, with the pure-Python implementation and a warning. Imported first
thing, the C extension loads and is used.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import connbroker
from connbroker import mysql_connector

from .conftest import Devstack

pytestmark = pytest.mark.integration

CLIENT_DIR = Path(__file__).resolve().parents[1]

# The program a user writes, in two import orders. It prints what happened.
PROGRAM = """
import json, sys, warnings
{first}
import connbroker
from connbroker import mysql_connector
assert "ssl" in sys.modules, "import connbroker should have loaded ssl (grpc)"
reason = mysql_connector.c_extension_error()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    conn = mysql_connector.connect("local-tls", client=connbroker.Client(sys.argv[1]))
cur = conn.cursor()
cur.execute("SELECT CURRENT_USER()")
user = cur.fetchone()[0]
cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
cipher = cur.fetchone()[1]
conn.close()
print(json.dumps({{"user": user, "class": type(conn).__name__, "cipher": cipher, "reason": reason,
    "warnings": [[w.category.__name__, str(w.message)] for w in caught]}}))
"""


def _run(devstack: Devstack, first: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(CLIENT_DIR), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(first=first), devstack.broker_addr],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"program failed:\n{proc.stdout}\n{proc.stderr}"
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _old_openssl() -> bool:
    """The system OpenSSL is older than the 3.2 the C extension needs."""
    return ssl.OPENSSL_VERSION_INFO[:2] < (3, 2)


def test_import_connbroker_first(devstack: Devstack) -> None:
    """`import connbroker` then `connbroker.mysql_connector.connect()`: it
    connects, over verified TLS, whichever implementation can load."""
    got = _run(devstack, first="")
    assert got["user"] == "app_tls@%"
    assert got["cipher"], "the connection is not encrypted"
    if _old_openssl():
        # The bug's condition, reproduced: the C extension cannot load here...
        assert got["reason"] and "OPENSSL_3.2.0" in got["reason"], got
    if got["reason"]:
        # ...so the helper falls back to pure Python, and says so once.
        assert got["class"] == "MySQLConnection", got
        cats = [c for c, _ in got["warnings"]]
        assert cats == ["CExtensionUnavailableWarning"], got["warnings"]
        msg = got["warnings"][0][1]
        assert "pure-Python" in msg and "import _mysql_connector first" in msg
    else:
        assert got["class"] == "CMySQLConnection", got
        assert got["warnings"] == []


def test_import_c_extension_first(devstack: Devstack) -> None:
    """The warning's advice works: with `import _mysql_connector` before
    anything imports ssl, the helper uses the C extension."""
    got = _run(devstack, first="import _mysql_connector")
    assert got["user"] == "app_tls@%"
    assert got["cipher"]
    assert got["reason"] is None
    assert got["class"] == "CMySQLConnection", got
    assert got["warnings"] == []


def test_in_this_process(devstack: Devstack) -> None:
    """pytest imported connbroker (and ssl) long ago: the default connects;
    pure=False refuses with a HintsError that says what to do."""
    with devstack.client() as c:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mysql_connector.CExtensionUnavailableWarning)
            conn = mysql_connector.connect("local-tls", client=c)
        try:
            cur = conn.cursor()
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == "app_tls@%"
        finally:
            conn.close()
        kwargs = mysql_connector.connect_kwargs("local-tls", client=c, pure=True)
        assert kwargs["use_pure"] is True and kwargs["ssl_verify_identity"] is True
        if mysql_connector.c_extension_error() is None:
            return
        with pytest.raises(connbroker.HintsError, match="import _mysql_connector before anything imports ssl"):
            mysql_connector.connect("local-tls", client=c, pure=False)
        with pytest.raises(connbroker.HintsError):
            mysql_connector.connect("local-tls", client=c, use_pure=False)
