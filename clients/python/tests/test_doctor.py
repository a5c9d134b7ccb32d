"""``python -m connbroker doctor`` in the test venv against the real devstack
broker and MariaDB (the field cases run in their own virtualenvs in
``internal/doctortest``)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from connbroker import __main__ as cli
from connbroker import doctor

from .conftest import Devstack


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        ([], 2),
        (["nosuch"], 2),
        (["doctor"], 2),
        (["doctor", "orders", "-o", "yaml"], 2),
    ],
)
def test_usage_errors_exit_2(argv: list[str], want: int) -> None:
    assert cli.main(argv) == want


def test_unknown_driver_lists_the_brokers_drivers(devstack: Devstack, capsys: pytest.CaptureFixture[str]) -> None:
    """The driver names come from the broker (ListDrivers): an unknown one exits 2 with every name and alias."""
    assert cli.main(["doctor", "orders", "--driver", "nosuch", "--broker", devstack.broker_addr]) == 2
    err = capsys.readouterr().err
    assert "unknown driver 'nosuch'" in err and "pymysql (aliases PyMySQL)" in err and "mysqlclient (aliases MySQLdb, mysqldb)" in err, err


def test_registry_resolves_every_alias(devstack: Devstack) -> None:
    """Every alias the broker publishes resolves to its driver, the SQLAlchemy dialects to their DBAPI package."""
    with devstack.client() as c:
        reg = doctor.Registry.from_broker(c)
    assert reg.resolve("MySQLdb") == "mysqlclient" and reg.resolve("mysql+pymysql") == "sqlalchemy+pymysql"
    assert reg.package("sqlalchemy+mysqlclient") == "mysqlclient"
    assert reg.modules("sqlalchemy+mysqlconnector") == ["mysql.connector", "sqlalchemy"]
    for d in reg.drivers.values():
        for a in d.aliases:
            assert reg.resolve(a) == d.name
    assert reg.guess_order()[:2] == ["pymysql", "mysqlclient"]
    assert "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN" in reg.env_vars()


def test_collect_reports_this_venv(devstack: Devstack) -> None:
    with devstack.client() as c:
        env = doctor.collect(doctor.Registry.from_broker(c))
    pymysql = env.package("pymysql")
    assert pymysql is not None and pymysql.version == "1.2.4"
    mc = env.package("mysqlclient")
    assert mc is not None and mc.client_library.startswith("MariaDB Connector/C"), mc
    assert env.package("cryptography") is not None


@pytest.mark.parametrize(
    ("driver", "app_driver"),
    [
        ("pymysql", "pymysql"),
        ("mysqlclient", "mysqlclient"),
        ("aiomysql", "aiomysql"),
        ("mysql-connector-python-pure", "mysql-connector-python-pure"),
        ("sqlalchemy+pymysql", "pymysql"),
    ],
)
def test_doctor_works_end_to_end(devstack: Devstack, driver: str, app_driver: str) -> None:
    """A working driver: exit 0, prediction and real login agree, JSON for machines."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "connbroker",
            "doctor",
            "local-native",
            "--driver",
            driver,
            "-o",
            "json",
            "--broker",
            devstack.broker_addr,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["works"] and rep["agrees"] and rep["real_login"]["ok"], rep
    assert rep["app_driver"] == app_driver
    assert rep["drivers"][0]["driver"] == app_driver
    assert {d["driver"] for d in rep["drivers"]} >= {"pymysql", "mysqlclient", "aiomysql"}
    assert rep["real_login"]["current_user"].startswith("app_native@"), rep["real_login"]
    typed = doctor.Report.from_dict(rep)
    assert typed.to_dict() == rep, "the typed report does not read back its own JSON"
    out = io.StringIO()
    doctor.render(typed, out)
    assert f"Verdict: {driver} logs in to local-native" in out.getvalue()


def test_doctor_connector_c_extension_that_does_not_load(devstack: Devstack) -> None:
    """The pinned mysql-connector-python wheel's C extension needs OpenSSL 3.2 and does not load on
    Debian 12: the broker's hints (use_pure=False) fail for real, and the prediction says so."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "connbroker",
            "doctor",
            "local-native",
            "--driver",
            "sqlalchemy+mysqlconnector",
            "-o",
            "json",
            "--broker",
            devstack.broker_addr,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["app_driver"] == "mysql-connector-python"
    assert rep["drivers"][0]["finding"]["code"] == "c-extension-unavailable", rep["drivers"][0]
    assert rep["agrees"] and not rep["real_login"]["ok"], rep
    assert "C Extension not available" in rep["real_login"]["error"]
    assert "use_pure=True" in rep["fix"]
