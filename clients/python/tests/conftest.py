"""Session fixture that runs the real broker against a private MariaDB.

``devstack`` builds ``connbrokerd`` and ``internal/cmd/devstack`` with
``go build`` (or uses prebuilt binaries from ``$CONNBROKER_BIN_DIR``), starts
devstack on a free port, waits for its ready file and stops it at the end.
When it cannot start, every test that needs it fails (never skips) with the
build or devstack output in the message: a missing database is never a green
run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import connbroker

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT = 120.0
BUILD_TIMEOUT = 900.0
STOP_TIMEOUT = 20.0


@dataclass
class Devstack:
    """What the running devstack reported in its ready file (devstack's ``Ready``)."""

    broker_addr: str
    config_path: str
    ca_file: str
    endpoints: list[str]
    mariadb_addr: str
    iam_enabled: bool
    iam_disabled_reason: str
    aws_access_key_id: str
    aws_secret_access_key: str
    aws_region: str
    raw: dict[str, Any] = field(repr=False)

    def client(self, timeout: float = 10.0) -> connbroker.Client:
        """Return a new client for the devstack broker (close it when done)."""
        return connbroker.Client(self.broker_addr, timeout=timeout)

    def require_iam(self) -> None:
        """Fail (not skip) when devstack could not set up the IAM endpoint."""
        if not self.iam_enabled:
            pytest.fail(f"devstack has no IAM endpoint: {self.iam_disabled_reason or 'no reason given'}", pytrace=False)


def parse_ready(data: dict[str, Any]) -> Devstack:
    """Read the devstack ready JSON (``internal/cmd/devstack`` ``Ready``)."""
    missing = [k for k in ("broker_addr", "config_path", "endpoints", "mariadb_addr") if not data.get(k)]
    if missing:
        pytest.fail(f"devstack ready file lacks {missing}: keys present {sorted(data)}", pytrace=False)
    return Devstack(
        broker_addr=str(data["broker_addr"]),
        config_path=str(data["config_path"]),
        ca_file=str(data.get("ca_file", "")),
        endpoints=[str(e) for e in data["endpoints"]],
        mariadb_addr=str(data["mariadb_addr"]),
        iam_enabled=bool(data.get("iam_enabled")),
        iam_disabled_reason=str(data.get("iam_disabled_reason", "")),
        aws_access_key_id=str(data.get("aws_access_key_id", "")),
        aws_secret_access_key=str(data.get("aws_secret_access_key", "")),
        aws_region=str(data.get("aws_region", "")),
        raw=data,
    )


def _free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, limit: int = 6000) -> str:
    """Return the end of a log file for a failure message."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no output: {e})"
    return text[-limit:] if len(text) > limit else text


def _binaries(tmp: Path) -> tuple[Path, Path]:
    """Return (connbrokerd, devstack) paths, building them unless prebuilt."""
    prebuilt = os.environ.get("CONNBROKER_BIN_DIR")
    if prebuilt:
        broker, devstack = Path(prebuilt) / "connbrokerd", Path(prebuilt) / "devstack"
        missing = [str(p) for p in (broker, devstack) if not os.access(p, os.X_OK)]
        if missing:
            pytest.fail(f"CONNBROKER_BIN_DIR={prebuilt} lacks executables: {missing}", pytrace=False)
        return broker, devstack
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "go is not on PATH: cannot build connbrokerd and devstack (or set CONNBROKER_BIN_DIR)", pytrace=False
        )
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    out: dict[str, Path] = {}
    for name, pkg in (("connbrokerd", "./cmd/connbrokerd"), ("devstack", "./internal/cmd/devstack")):
        target = bin_dir / name
        try:
            res = subprocess.run(
                [go, "build", "-o", str(target), pkg],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"go build {pkg} took longer than {BUILD_TIMEOUT:g}s", pytrace=False)
        if res.returncode != 0:
            pytest.fail(f"go build -o {target} {pkg} (in {REPO_ROOT}) failed:\n{res.stdout}{res.stderr}", pytrace=False)
        out[name] = target
    return out["connbrokerd"], out["devstack"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop devstack by its PID: close stdin, SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devstack]:
    """Start the real broker and MariaDB for the session and point the default
    client (``CONNBROKER_ADDR``) at it."""
    tmp = tmp_path_factory.mktemp("devstack")
    broker_bin, devstack_bin = _binaries(tmp)
    state_dir = tmp / "state"
    state_dir.mkdir()
    ready_file = tmp / "ready.json"
    log_path = tmp / "devstack.log"
    listen = f"127.0.0.1:{_free_port()}"
    cmd = [
        str(devstack_bin),
        "-dir", str(state_dir),
        "-broker-bin", str(broker_bin),
        "-listen", listen,
        "-ready-file", str(ready_file),
        "-exit-on-stdin-eof",
    ]  # fmt: skip
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        info = _wait_ready(proc, ready_file, log_path, cmd)
        old_env = os.environ.get(connbroker.ENV_ADDRESS)
        os.environ[connbroker.ENV_ADDRESS] = info.broker_addr
        previous = connbroker.set_default_client(None)
        try:
            yield info
        finally:
            dflt = connbroker.set_default_client(previous)
            if dflt is not None:
                dflt.close()
            if old_env is None:
                os.environ.pop(connbroker.ENV_ADDRESS, None)
            else:
                os.environ[connbroker.ENV_ADDRESS] = old_env
    finally:
        _stop(proc)
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], ready_file: Path, log_path: Path, cmd: list[str]) -> Devstack:
    """Wait for a parseable ready file; fail with the devstack output otherwise."""
    deadline = time.monotonic() + READY_TIMEOUT
    last_err: str | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"devstack exited with code {proc.returncode} before it was ready\n"
                f"command: {' '.join(cmd)}\n--- output ---\n{_tail(log_path)}",
                pytrace=False,
            )
        if ready_file.exists():
            try:
                data = json.loads(ready_file.read_text())
            except (OSError, ValueError) as e:  # being written
                last_err = str(e)
            else:
                return parse_ready(data)
        time.sleep(0.2)
    pytest.fail(
        f"devstack was not ready within {READY_TIMEOUT:g}s (last ready-file error: {last_err})\n"
        f"command: {' '.join(cmd)}\n--- output ---\n{_tail(log_path)}",
        pytrace=False,
    )


@pytest.fixture
def broker(devstack: Devstack) -> Iterator[connbroker.Client]:
    """A fresh client for the devstack broker, closed after the test."""
    with devstack.client() as c:
        yield c
