"""The client's environment report reaches the broker's inventory.

A real ``connbrokerd`` with an SQLite inventory, against the private
MariaDB: the PyMySQL helper's first ``GetConnectionParams`` per process and
endpoint carries this process's environment, repeats do not, a changed
variable the drivers read is reported again, and a secret-looking variable
of the process is never sent (nor stored).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import connbroker
from connbroker import _environment, doctor
from connbroker._report import REPORTER

from .brokerproc import BrokerProc, no_broker_stack
from .conftest import REPO_ROOT, _free_port

PLAIN = "local-plain"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerProc, Path]]:
    """A broker with an inventory in a temp SQLite file."""
    tmp = tmp_path_factory.mktemp("inventory")
    with no_broker_stack(tmp) as (info, binary):
        db = tmp / "inventory.db"
        cfg = tmp / "config.yaml"
        cfg.write_text(Path(info.config_path).read_text() + f"\ninventory: {{path: {db}}}\n")
        b = BrokerProc(binary, str(cfg), f"127.0.0.1:{_free_port()}", info, tmp / "broker.log")
        b.start()
        try:
            yield b, db
        finally:
            b.stop()


def _records(c: connbroker.Client, endpoint: str, want: int) -> list[object]:
    """List endpoint's records until ``want`` are there (the broker writes within a second)."""
    deadline = time.monotonic() + 10
    while True:
        resp = c.list_inventory(endpoint)
        assert resp.store.enabled and resp.store.backend == "sqlite"
        if len(resp.records) >= want or time.monotonic() > deadline:
            return list(resp.records)
        time.sleep(0.1)


def test_first_request_reports_then_only_changes(
    broker: tuple[BrokerProc, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    b, db = broker
    REPORTER.reset()
    monkeypatch.delenv("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", raising=False)
    monkeypatch.setenv("DB_PASSWORD", "py-inventory-secret-1f9c")
    with connbroker.Client(b.listen, timeout=5.0) as c:
        for _ in range(3):
            conn = connbroker.pymysql.connect(PLAIN, client=c, connect_timeout=5)
            conn.close()
        recs = _records(c, PLAIN, 1)
        assert len(recs) == 1, recs
        r = recs[0]
        assert r.count == 1, "only the first request carries the report"
        assert r.caller == ""  # --dev: no caller identity
        env = r.environment
        assert env.driver == "pymysql"
        assert env.runtime.startswith("CPython ")
        versions = {p.name: p.version for p in env.packages}
        assert versions.get("PyMySQL") == importlib.metadata.version("PyMySQL")
        assert "DB_PASSWORD" not in env.env

        # A variable a driver reads changes: reported again, a new record.
        monkeypatch.setenv("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "1")
        c.get_connection_params(PLAIN, "pymysql")
        c.get_connection_params(PLAIN, "pymysql")
        recs = _records(c, PLAIN, 2)
        assert len(recs) == 2, recs
        changed = [r for r in recs if r.environment.env.get("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN") == "1"]
        assert len(changed) == 1 and changed[0].count == 1, recs

    # Opted out: nothing sent.
    with connbroker.Client(b.listen, timeout=5.0, report_environment=False) as quiet:
        REPORTER.reset()
        quiet.get_connection_params(PLAIN, "mysqlclient")
        time.sleep(1.5)
        assert all(r.environment.driver != "mysqlclient" for r in quiet.list_inventory(PLAIN).records)
    for f in db.parent.glob(db.name + "*"):
        assert b"py-inventory-secret-1f9c" not in f.read_bytes(), f


def test_report_never_fails_a_request_while_the_broker_is_away() -> None:
    """No broker: the request fails as it would without the report, and the
    report's one ListDrivers costs at most its short deadline."""
    REPORTER.reset()
    with connbroker.Client(f"127.0.0.1:{_free_port()}", timeout=2.0, serve_stale=False) as c:
        t0 = time.monotonic()
        with pytest.raises(connbroker.errors.BrokerUnavailable):
            c.get_connection_params(PLAIN, "pymysql")
        first = time.monotonic() - t0
        t0 = time.monotonic()
        with pytest.raises(connbroker.errors.BrokerUnavailable):
            c.get_connection_params(PLAIN, "pymysql")
        again = time.monotonic() - t0
    assert first < 2.0 + 1.0 + 1.0, first  # the call's deadline + ListDrivers' + slack
    assert again < 2.0 + 1.0, again  # no second ListDrivers within RETRY_AFTER
    REPORTER.reset()


_FRESH = """
import json, sys
import connbroker
with connbroker.Client(sys.argv[1], timeout=5.0) as c:
    c.get_connection_params(sys.argv[2], "pymysql")
heavy = ("connbroker.doctor", "importlib.metadata", "email", "zipfile", "csv", "platform", "argparse")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_report_costs_no_doctor_import(broker: tuple[BrokerProc, Path]) -> None:
    """A fresh process's first request carries the report (recorded by the
    broker) without importing the doctor or importlib.metadata: the report is
    built by the module the doctor shares (``connbroker._environment``), and
    what it says is what the doctor and importlib.metadata say."""
    b, _ = broker
    with connbroker.Client(b.listen, timeout=5.0) as c:
        before = {r.digest: r.count for r in c.list_inventory(PLAIN).records}
        out = subprocess.run(
            [sys.executable, "-c", _FRESH, b.listen, PLAIN],
            cwd=REPO_ROOT / "clients" / "python",  # this checkout's connbroker first on sys.path
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [], "the first request imported the doctor's heavy modules"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = {r.digest: r.count for r in c.list_inventory(PLAIN).records}
            if after != before:
                break
            time.sleep(0.1)
        assert after != before, "the fresh process's first request carried no report"

        # The same code as the doctor's, and the same answers as the stdlib's.
        assert doctor.collect is _environment.collect and doctor.Registry is _environment.Registry
        registry = _environment.Registry(c.list_drivers())
        env = _environment.collect(registry, cext=lambda: False, native=lambda p: None)
        assert env.runtime == f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
        checked = registry.checked_packages()
        assert "PyMySQL" in checked and "certifi" in checked, checked
        for name in [*checked, "grpcio", "protobuf", "no-such-dist-connbroker"]:
            try:
                want: str | None = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                want = None
            assert _environment.version(name) == want, name
        assert {p.name: p.version for p in env.packages} == {
            n: importlib.metadata.version(n) for n in checked if _environment.version(n) is not None
        }
