"""The client while the broker is away: kept params, expiry, NOT_FOUND, several replicas.

Every test runs the real ``connbrokerd`` binary (see :mod:`tests.brokerproc`)
against devstack's MariaDB, SIGKILLs it, keeps it down and restarts it on the
same address; logins are real PyMySQL logins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

import connbroker

from .brokerproc import BrokerProc, no_broker_stack
from .conftest import Devstack, _free_port

#: Password endpoint (TLS off) and IAM endpoint (verify-identity) of devstack.
PLAIN, IAM = "local-plain", "local-iam"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devstack, Path, Path]]:
    """MariaDB and the broker config, without a broker."""
    tmp = tmp_path_factory.mktemp("resilience")
    with no_broker_stack(tmp) as (info, binary):
        yield info, binary, tmp


@pytest.fixture
def broker(stack: tuple[Devstack, Path, Path], tmp_path: Path) -> Iterator[BrokerProc]:
    """One running broker on a fresh loopback port, stopped after the test."""
    info, binary, _ = stack
    b = BrokerProc(binary, info.config_path, f"127.0.0.1:{_free_port()}", info, tmp_path / "broker.log")
    b.start()
    yield b
    b.stop()


def login(endpoint: str, client: connbroker.Client) -> str:
    """Log in through the PyMySQL helper and return CURRENT_USER()."""
    conn = connbroker.pymysql.connect(endpoint, client=client, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            row = cur.fetchone()
            assert row is not None
            return str(row[0])
    finally:
        conn.close()


def wait_fresh(client: connbroker.Client, endpoint: str, driver: str, limit: float = 15.0) -> float:
    """Call until an answer comes from the broker (no outage open); return the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        client.get_connection_params(endpoint, driver)
        if client.resilience_stats().outage_since is None:
            return time.monotonic() - t0
        time.sleep(0.05)
    pytest.fail(f"no fresh params from {client.address} within {limit:g}s of the restart")


def test_kept_params_while_killed_then_fresh(broker: BrokerProc, caplog: pytest.LogCaptureFixture) -> None:
    """Broker SIGKILLed: logins go on with the kept params, one warning, counted;
    restarted on the same address: fresh params again."""
    caplog.set_level(logging.WARNING, logger="connbroker")
    with connbroker.Client(broker.listen, timeout=2.0) as c:
        user = login(PLAIN, c)
        assert c.resilience_stats().stale_serves == 0
        broker.kill()
        for _ in range(3):
            assert login(PLAIN, c) == user
        stats = c.resilience_stats()
        assert stats.stale_serves == 3 and stats.stale_serves_by_key == {(PLAIN, "pymysql"): 3}
        assert stats.outages == 1 and stats.outage_since is not None
        warnings = [r for r in caplog.records if "serving kept params" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert broker.listen in warnings[0].getMessage()
        # Another pair was never fetched: nothing to serve.
        with pytest.raises(connbroker.BrokerUnavailable) as info:
            c.get_connection_params(PLAIN, "mysqlclient")
        assert info.value.expired_ago is None
        broker.start()
        took = wait_fresh(c, PLAIN, "pymysql")
        assert took < 5.0, f"first fresh params {took:.2f}s after the restart"
        served = c.resilience_stats().stale_serves
        assert login(PLAIN, c) == user
        assert c.resilience_stats().stale_serves == served, "kept params served with the broker back"


@pytest.mark.parametrize("endpoint", [PLAIN, IAM])
def test_down_past_expiry_is_clear_unavailable(
    stack: tuple[Devstack, Path, Path], broker: BrokerProc, endpoint: str
) -> None:
    """Kept params past their usable time are never handed to the driver:
    BrokerUnavailable names the broker and says how long ago they expired."""
    info = stack[0]
    if endpoint == IAM:
        info.require_iam()
    usable = 2.0
    with connbroker.Client(broker.listen, timeout=2.0) as probe:
        p = probe.get_connection_params(endpoint, "pymysql")
    if p.credential.HasField("expires_at"):
        # An IAM token lives 15 minutes: a margin that leaves `usable` seconds.
        left = p.credential.expires_at.ToNanoseconds() / 1e9 - time.time()
        kwargs = {"stale_margin": left - usable}
    else:
        kwargs = {"stale_without_expiry": usable}
    with connbroker.Client(broker.listen, timeout=2.0, **kwargs) as c:
        login(endpoint, c)
        broker.kill()
        login(endpoint, c)  # still within the usable time
        time.sleep(usable + 0.5)
        with pytest.raises(connbroker.BrokerUnavailable) as err:
            login(endpoint, c)
        msg = str(err.value)
        assert broker.listen in msg and "expired" in msg, msg
        assert err.value.expired_ago is not None and 0 < err.value.expired_ago < 10
        assert not isinstance(err.value.__context__, pymysql.err.MySQLError)
        assert c.resilience_stats().expired_refusals == 1


def test_not_found_forgets_kept_params(stack: tuple[Devstack, Path, Path], tmp_path: Path) -> None:
    """After the broker said NOT_FOUND (endpoint removed on reload), a later
    outage serves nothing for it."""
    info, binary, _ = stack
    cfg = tmp_path / "broker.yaml"
    text = Path(info.config_path).read_text()
    assert f"  {PLAIN}:\n" in text, text
    cfg.write_text(text)
    b = BrokerProc(binary, str(cfg), f"127.0.0.1:{_free_port()}", info, tmp_path / "broker.log")
    b.start()
    try:
        with connbroker.Client(b.listen, timeout=2.0) as c:
            login(PLAIN, c)
            cfg.write_text(text.replace(f"  {PLAIN}:\n", f"  {PLAIN}-removed:\n"))
            b.hup()
            deadline = time.monotonic() + 10
            while True:
                try:
                    c.get_connection_params(PLAIN, "pymysql")
                except connbroker.EndpointNotFound:
                    break
                assert time.monotonic() < deadline, "reload did not remove the endpoint"
                time.sleep(0.1)
            b.kill()
            with pytest.raises(connbroker.BrokerUnavailable) as err:
                login(PLAIN, c)
            assert err.value.expired_ago is None
            assert c.resilience_stats().stale_serves == 0
    finally:
        b.stop()


def test_serve_stale_off(broker: BrokerProc) -> None:
    with connbroker.Client(broker.listen, timeout=1.0, serve_stale=False) as c:
        login(PLAIN, c)
        broker.kill()
        with pytest.raises(connbroker.BrokerUnavailable):
            login(PLAIN, c)


def test_three_replicas_kill_one(stack: tuple[Devstack, Path, Path], tmp_path: Path) -> None:
    """Three brokers on 127.0.0.2..4, the client given all: killing one fails
    no login and needs no kept params (another replica answers)."""
    info, binary, _ = stack
    port = _free_port()
    replicas = [
        BrokerProc(binary, info.config_path, f"127.0.0.{i}:{port}", info, tmp_path / f"broker{i}.log") for i in (2, 3, 4)
    ]
    try:
        for r in replicas:
            r.start()
        with connbroker.Client(",".join(r.listen for r in replicas), timeout=2.0) as c:
            failures: list[BaseException] = []
            done = threading.Event()
            logins = 0

            def loop() -> None:
                nonlocal logins
                while not done.is_set():
                    try:
                        login(PLAIN, c)
                        logins += 1
                    except Exception as e:  # noqa: BLE001 - every failure counts
                        failures.append(e)
                    time.sleep(0.02)

            t = threading.Thread(target=loop)
            t.start()
            time.sleep(1.0)
            replicas[0].kill()
            time.sleep(3.0)
            done.set()
            t.join(timeout=30)
            assert not failures, failures[:3]
            assert logins > 20
            assert c.resilience_stats().stale_serves == 0
    finally:
        for r in replicas:
            r.stop()


def test_address_lists() -> None:
    from connbroker.resilience import channel_target

    assert channel_target("127.0.0.2:7700, 127.0.0.3:7700") == "ipv4:127.0.0.2:7700,127.0.0.3:7700"
    assert channel_target("[::1]:7700,[::1]:7701") == "ipv6:[::1]:7700,[::1]:7701"
    assert channel_target("localhost:7700,127.0.0.1:7701").startswith("ipv4:127.0.0.1:7700")
    assert channel_target("dns:///broker.ns.svc:7700") == "dns:///broker.ns.svc:7700"
    for bad in ("127.0.0.1:1,[::1]:2", "a,b", ","):
        with pytest.raises(ValueError):
            channel_target(bad)
