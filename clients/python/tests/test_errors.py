"""Error classes chosen by the broker's ErrorReason, against a real connbrokerd.

The broker listens on a Unix socket too, where it identifies this process as
``uid:N``; its policy lets that caller get the endpoints ``app-*`` only, and
``limits`` allow a burst of 3 credentials. Each refusal must raise the class
of its ``ErrorReason``, carrying the reason and the ErrorInfo metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import connbroker
from connbroker import errors
from connbroker.v1 import broker_pb2

from .brokerproc import serving
from .conftest import _binaries, _free_port

BURST = 3


@pytest.fixture(scope="module")
def unix_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run connbrokerd with a Unix socket, a policy and a small issue burst;
    yield the socket's gRPC address and stop the broker by its PID."""
    tmp = tmp_path_factory.mktemp("errors")
    broker_bin, _ = _binaries(tmp)
    (tmp / "pw").write_text("python-errors-pw")
    sock = tmp / "b.sock"
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
listen: 127.0.0.1:{_free_port()}
unix: {{path: {sock}}}
limits: {{issue_rate: 0.001, issue_burst: {BURST}}}
policy:
  - caller: 'uid:{os.getuid()}'
    endpoints: ['app-*']
endpoints:
  app-open:
    host: 127.0.0.1
    user: app
    auth: password
    password: {{file: {tmp / "pw"}}}
    tls: {{mode: disabled}}
  secret:
    host: 127.0.0.1
    user: other
    auth: password
    password: {{file: {tmp / "pw"}}}
    tls: {{mode: disabled}}
"""
    )
    with serving(broker_bin, cfg, sock=sock):
        yield f"unix://{sock}"


def test_each_refusal_raises_the_class_of_its_reason(unix_broker: str) -> None:
    # In order: each call takes one credential of the burst, so the last is
    # rate-limited whatever it asks for.
    cases: list[tuple[str, str, type[errors.BrokerError], int, grpc.StatusCode, dict[str, str]]] = [
        ("app-missing", "pymysql", connbroker.EndpointNotFound, broker_pb2.ERROR_REASON_ENDPOINT_NOT_FOUND,
         grpc.StatusCode.NOT_FOUND, {"endpoint": "app-missing"}),
        ("secret", "pymysql", connbroker.PermissionDenied, broker_pb2.ERROR_REASON_PERMISSION_DENIED,
         grpc.StatusCode.PERMISSION_DENIED, {"endpoint": "secret"}),
        ("app-open", "odbc", connbroker.InvalidRequest, broker_pb2.ERROR_REASON_INVALID_ARGUMENT,
         grpc.StatusCode.INVALID_ARGUMENT, {"field": "driver"}),
        ("app-open", "pymysql", connbroker.RateLimited, broker_pb2.ERROR_REASON_RATE_LIMITED,
         grpc.StatusCode.RESOURCE_EXHAUSTED, {}),
    ]  # fmt: skip
    assert len(cases) == BURST + 1
    others = {c[2] for c in cases}
    with connbroker.Client(unix_broker, timeout=10) as c:
        for endpoint, driver, cls, reason, code, metadata in cases:
            with pytest.raises(cls) as info:
                c.get_connection_params(endpoint, driver=driver)
            e = info.value
            assert isinstance(e, connbroker.BrokerError)
            assert e.reason == reason and e.reason_name == broker_pb2.ErrorReason.Name(reason)
            assert e.code == code and e.metadata == metadata, (e.code, e.metadata)
            assert not any(isinstance(e, o) for o in others - {cls}), f"{type(e).__name__} is also another class"
            assert endpoint in str(e)


def test_every_reason_has_its_own_class() -> None:
    classes = {}
    for name, number in broker_pb2.ErrorReason.items():
        if number == broker_pb2.ERROR_REASON_UNSPECIFIED:
            continue
        cls = errors._REASON_TO_CLASS.get(number)
        assert cls is not None, f"{name} has no class"
        assert cls is not connbroker.BrokerError and issubclass(cls, connbroker.BrokerError), name
        classes[name] = cls
    assert len(set(classes.values())) == len(classes), classes
    assert issubclass(connbroker.RateLimited, connbroker.BrokerError)
    assert not issubclass(connbroker.RateLimited, connbroker.BrokerUnavailable)
    assert issubclass(connbroker.CredentialUnavailable, connbroker.BrokerUnavailable)
    assert issubclass(connbroker.Unauthenticated, connbroker.PermissionDenied)


def test_unreachable_broker_is_unavailable_without_reason(tmp_path: Path) -> None:
    with connbroker.Client(f"unix://{tmp_path / 'none.sock'}", timeout=2) as c:
        with pytest.raises(connbroker.BrokerUnavailable) as info:
            c.get_connection_params("app-open")
    assert info.value.reason == broker_pb2.ERROR_REASON_UNSPECIFIED and info.value.metadata == {}
