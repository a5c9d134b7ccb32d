"""Chaos: a SQLAlchemy pool keeps opening connections while the broker is SIGKILLed.

The pool (``connbroker.sqlalchemy.create_engine`` with real PyMySQL against
devstack's MariaDB, ``NullPool`` so every checkout is a new physical login)
opens a connection every :data:`INTERVAL` seconds while the real broker is
killed, kept down :data:`CHAOS_DOWN` seconds and restarted on the same
address. Bounded: each case takes well under 60 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import connbroker

from .brokerproc import BrokerProc, no_broker_stack
from .conftest import Devstack, _free_port

#: How long the broker stays down. The kept params must outlive it: the
#: password endpoint's are usable for 15 minutes (no expires_at), an IAM
#: token's for 15 minutes minus the 60 s margin.
CHAOS_DOWN = 20.0
#: Pause between two new physical connections.
INTERVAL = 0.05


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devstack, Path]]:
    """MariaDB and the broker config, without a broker."""
    with no_broker_stack(tmp_path_factory.mktemp("chaos")) as (info, binary):
        yield info, binary


@dataclass
class Pool:
    """A background loop of new physical logins through a SQLAlchemy engine."""

    engine: sa.engine.Engine
    ok: int = 0
    errors: list[tuple[float, BaseException]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Open, query and close a connection every INTERVAL until stopped."""
        while not self.stop.is_set():
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one()
                self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                self.errors.append((time.monotonic(), e))
            time.sleep(INTERVAL)


def start_pool(endpoint: str, client: connbroker.Client) -> tuple[Pool, threading.Thread]:
    engine = connbroker.sqlalchemy.create_engine(endpoint, driver="pymysql", client=client, poolclass=NullPool)
    pool = Pool(engine)
    t = threading.Thread(target=pool.run, daemon=True)
    t.start()
    return pool, t


def test_pool_survives_broker_down(stack: tuple[Devstack, Path], tmp_path: Path) -> None:
    """SIGKILL, CHAOS_DOWN seconds down, restart: 0 failed logins, and fresh
    params again soon after the restart."""
    info, binary = stack
    b = BrokerProc(binary, info.config_path, f"127.0.0.1:{_free_port()}", info, tmp_path / "broker.log")
    b.start()
    try:
        with connbroker.Client(b.listen, timeout=2.0) as c:
            pool, t = start_pool("local-plain", c)
            time.sleep(1.0)
            before = pool.ok
            b.kill()
            time.sleep(CHAOS_DOWN)
            during = pool.ok - before
            b.start()
            t0 = time.monotonic()
            while c.resilience_stats().outage_since is not None and time.monotonic() - t0 < 10:
                time.sleep(0.01)
            recovered = time.monotonic() - t0
            time.sleep(1.0)
            pool.stop.set()
            t.join(timeout=15)
            pool.engine.dispose()
            stats = c.resilience_stats()
        assert not pool.errors, f"{len(pool.errors)} failed logins, first: {pool.errors[0][1]!r}"
        assert stats.outage_since is None, "no fresh params 10s after the restart"
        assert during >= CHAOS_DOWN, f"only {during} logins in {CHAOS_DOWN:g}s down"
        assert stats.stale_serves >= during
        print(f"\n{pool.ok} logins, {stats.stale_serves} from kept params; first fresh params {recovered:.2f}s after restart")
    finally:
        b.stop()


def test_pool_down_past_expiry_gets_broker_unavailable(stack: tuple[Devstack, Path], tmp_path: Path) -> None:
    """Down past the token's usable time: every failed checkout is a clear
    BrokerUnavailable naming the broker and the expiry, never a driver 1045;
    after the restart logins work again."""
    info, binary = stack
    info.require_iam()
    b = BrokerProc(binary, info.config_path, f"127.0.0.1:{_free_port()}", info, tmp_path / "broker.log")
    b.start()
    usable = 3.0
    try:
        with connbroker.Client(b.listen, timeout=2.0) as probe:
            p = probe.get_connection_params("local-iam", "sqlalchemy+pymysql")
        # The token lives 15 minutes; a margin that leaves `usable` seconds.
        left = p.credential.expires_at.ToNanoseconds() / 1e9 - time.time()
        with connbroker.Client(b.listen, timeout=2.0, stale_margin=left - usable) as c:
            pool, t = start_pool("local-iam", c)
            time.sleep(0.5)
            b.kill()
            killed = time.monotonic()
            time.sleep(usable + 2.0)
            ok_down = pool.ok
            b.start()
            t0 = time.monotonic()
            while pool.ok == ok_down and time.monotonic() - t0 < 10:
                time.sleep(0.01)
            time.sleep(0.5)
            pool.stop.set()
            t.join(timeout=15)
            pool.engine.dispose()
        assert pool.errors, "no checkout failed although the broker was down past the expiry"
        for at, e in pool.errors:
            assert isinstance(e, connbroker.BrokerUnavailable), f"{type(e).__name__}: {e}"
            msg = str(e)
            assert b.listen in msg and "expired" in msg, msg
            assert e.expired_ago is not None and e.expired_ago >= 0
            assert at - killed >= usable - 1.0, f"failed {at - killed:.1f}s after the kill, before the expiry"
        assert pool.ok > ok_down, "no login after the restart"
    finally:
        b.stop()
