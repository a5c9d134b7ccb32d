"""Client tests that need no broker: import weight, addresses, unreachable brokers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import connbroker
from connbroker.client import DEFAULT_ADDRESS

PKG_ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light() -> None:
    """`import connbroker` loads grpc and the stubs, not PyMySQL or boto3; the
    driver helper is reachable lazily as an attribute."""
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import connbroker\n"
        "dt = time.perf_counter() - t\n"
        "heavy = sorted(m for m in ('pymysql', 'boto3', 'botocore', 'cryptography') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert 'grpc' in sys.modules and 'connbroker.v1.broker_pb2_grpc' in sys.modules\n"
        "assert callable(connbroker.pymysql.connect)\n"
        "assert 'pymysql' in sys.modules\n"
        "print(f'{dt:.3f}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PKG_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 2.0


def test_address_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNBROKER_ADDR", raising=False)
    with connbroker.Client() as c:
        assert c.address == DEFAULT_ADDRESS == "127.0.0.1:7700"
    monkeypatch.setenv("CONNBROKER_ADDR", "10.0.0.1:1234")
    with connbroker.Client() as c:
        assert c.address == "10.0.0.1:1234"
    with connbroker.Client("broker:1") as c:
        assert c.address == "broker:1"


def test_default_client_is_lazy_and_replaceable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNBROKER_ADDR", "127.0.0.1:9")
    previous = connbroker.set_default_client(None)
    try:
        c = connbroker.default_client()
        assert c is connbroker.default_client()
        assert c.address == "127.0.0.1:9"
    finally:
        connbroker.set_default_client(previous)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP socket that accepts connections but never says anything."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"127.0.0.1:{s.getsockname()[1]}"


def test_connection_refused_is_unavailable() -> None:
    addr = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    with connbroker.Client(addr, timeout=2.0) as c, pytest.raises(connbroker.BrokerUnavailable) as info:
        c.get_connection_params("orders")
    assert time.monotonic() - start < 2.0 + 1.0
    msg = str(info.value)
    assert addr in msg and "orders" in msg and "GetConnectionParams" in msg
    assert info.value.address == addr


def test_silent_broker_is_unavailable_within_timeout(silent_listener: str) -> None:
    start = time.monotonic()
    with connbroker.Client(silent_listener, timeout=1.0) as c, pytest.raises(connbroker.BrokerUnavailable) as info:
        c.list_endpoints()
    elapsed = time.monotonic() - start
    assert elapsed < 1.0 + 1.0, elapsed
    assert silent_listener in str(info.value)


def test_pymysql_connect_unreachable_broker() -> None:
    addr = f"127.0.0.1:{free_port()}"
    with connbroker.Client(addr, timeout=1.0) as c, pytest.raises(connbroker.BrokerUnavailable, match="pymysql"):
        connbroker.pymysql.connect("orders", client=c)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        connbroker.Client("x:1", timeout=0)
    with connbroker.Client("127.0.0.1:9") as c:
        with pytest.raises(TypeError):
            c.validate("orders")
        with pytest.raises(ValueError):
            c.validate(["orders"], timeout=-1)
