"""A password rotation in moto's Secrets Manager in the middle of a SQLAlchemy pool.

The broker caches the secret for ``secret_ttl`` (1 h here). AWSCURRENT moves
to the new password and then the database changes, while the pool opens a
new physical connection every 20 ms: the first login refused with 1045 is
reported (``ReportLoginFailure``), the broker re-reads the secret at once,
and the helper's retry logs in. 0 failed logins.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pymysql
import pytest
from sqlalchemy.pool import NullPool

import connbroker

from .brokerproc import BrokerProc, no_broker_stack
from .conftest import Devstack, _free_port

USER, PASS1, PASS2, PASS3 = "rot_py", "rot-py-pass-1", "rot-py-pass-2", "rot-py-pass-3"
SECRET = "rds!db-python-rotation"


def _mysqlclient(c: connbroker.Client) -> None:
    connbroker.mysqlclient.connect("rot", client=c).close()


def _mysql_connector(c: connbroker.Client) -> None:
    connbroker.mysql_connector.connect("rot", client=c, pure=True).close()


def _aiomysql(c: connbroker.Client) -> None:
    async def go() -> None:
        conn = await connbroker.aiomysql.connect("rot", client=c)
        conn.close()

    asyncio.run(go())


#: The other driver helpers, each logged in after its own rotation.
OTHER_HELPERS = (_mysqlclient, _mysql_connector, _aiomysql)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devstack, Path, Path]]:
    tmp = tmp_path_factory.mktemp("rotation")
    with no_broker_stack(tmp) as (info, binary):
        yield info, binary, tmp


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[str]:
    """moto_server from this interpreter's venv on a loopback port."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        pytest.fail(f"{binary} not found: install moto[server] (requirements-dev.txt)", pytrace=False)
    port = _free_port()
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start: {(tmp_path / 'moto.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


def root_conn(info: Devstack) -> pymysql.connections.Connection:  # type: ignore[type-arg,unused-ignore]
    """Root over the private MariaDB's unix socket (named in its my.cnf)."""
    cnf = (Path(info.config_path).parent / "mariadb" / "my.cnf").read_text()
    m = re.search(r"^\s*socket\s*=\s*(\S+)", cnf, re.M)
    assert m, f"no socket in my.cnf:\n{cnf}"
    return pymysql.connect(unix_socket=m.group(1), user="root", autocommit=True)


def test_rotation_mid_pool(stack: tuple[Devstack, Path, Path], moto: str, tmp_path: Path) -> None:
    info, binary, _ = stack
    host, port = info.mariadb_addr.rsplit(":", 1)
    root = root_conn(info)
    with root.cursor() as cur:
        cur.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{PASS1}')")
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-west-2",
                      aws_access_key_id="AKIDMOTO", aws_secret_access_key="moto-secret")  # fmt: skip

    def secret(pw: str) -> str:
        return f'{{"username": "{USER}", "password": "{pw}", "engine": "mariadb", "host": "{host}", "port": {port}}}'

    sm.create_secret(Name=SECRET, SecretString=secret(PASS1))
    cfg = tmp_path / "broker.yaml"
    cfg.write_text(
        f"endpoints:\n  rot:\n    host: {host}\n    port: {port}\n    user: {USER}\n    auth: password\n"
        f"    plugin: mysql_native_password\n    password: {{secretsmanager: {SECRET!r}, secret_ttl: 1h}}\n"
        f"    tls: {{mode: disabled}}\n"
    )
    b = BrokerProc(binary, str(cfg), f"127.0.0.1:{_free_port()}", info, tmp_path / "broker.log")
    b.env.update(AWS_ENDPOINT_URL_SECRETS_MANAGER=moto, AWS_ACCESS_KEY_ID="AKIDMOTO",
                 AWS_SECRET_ACCESS_KEY="moto-secret", AWS_REGION="us-west-2")  # fmt: skip
    b.start()
    try:
        with connbroker.Client(b.listen, timeout=2.0) as c:
            engine = connbroker.sqlalchemy.create_engine("rot", driver="pymysql", client=c, poolclass=NullPool)
            ok, errors = 0, []
            stop = threading.Event()

            def loop() -> None:
                nonlocal ok
                while not stop.is_set():
                    try:
                        with engine.connect() as conn:
                            assert conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one().startswith(USER + "@")
                        ok += 1
                    except Exception as e:  # noqa: BLE001 - every failure counts
                        errors.append(e)
                    time.sleep(0.02)

            t = threading.Thread(target=loop, daemon=True)
            t.start()
            time.sleep(0.5)
            sm.put_secret_value(SecretId=SECRET, SecretString=secret(PASS2))  # AWSCURRENT moves
            with root.cursor() as cur:
                cur.execute(f"ALTER USER '{USER}'@'%' IDENTIFIED BY '{PASS2}'")
            before = ok
            time.sleep(1.0)
            stop.set()
            t.join(timeout=15)
            engine.dispose()
            # The plain PyMySQL helper takes the same path (a second rotation,
            # after the broker's per-endpoint report interval).
            time.sleep(2.1)
            sm.put_secret_value(SecretId=SECRET, SecretString=secret(PASS3))
            with root.cursor() as cur:
                cur.execute(f"ALTER USER '{USER}'@'%' IDENTIFIED BY '{PASS3}'")
            conn = connbroker.pymysql.connect("rot", client=c)
            conn.close()
            # And the other driver helpers, one rotation each.
            for i, connect in enumerate(OTHER_HELPERS):
                time.sleep(2.1)
                pw = f"rot-py-other-{i}"
                sm.put_secret_value(SecretId=SECRET, SecretString=secret(pw))
                with root.cursor() as cur:
                    cur.execute(f"ALTER USER '{USER}'@'%' IDENTIFIED BY '{pw}'")
                connect(c)
        assert not errors, f"{len(errors)} failed logins, first: {errors[0]!r}"
        assert ok - before >= 10, f"only {ok - before} logins after the rotation"
        logs = (tmp_path / "broker.log").read_text()
        assert "login failure reported" in logs
        assert logs.count("login failure reported") == 2 + len(OTHER_HELPERS), logs[-3000:]
        assert PASS1 not in logs and PASS2 not in logs and PASS3 not in logs
    finally:
        b.stop()
        with root.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{USER}'@'%'")
        root.close()
