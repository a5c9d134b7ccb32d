"""Broker processes the tests control: start, SIGKILL, restart on the same address.

:func:`no_broker_stack` runs devstack with ``-no-broker`` (MariaDB and the
config only); :class:`BrokerProc` then runs the real ``connbrokerd`` binary
on an address of the test's choosing. Every process is stopped by its PID.
:func:`serving` runs one ``connbrokerd`` on a config the test wrote.
A stack or broker that cannot start fails the test (never skips).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, Devstack, _binaries, _free_port, _stop, _tail, parse_ready

START_TIMEOUT = 30.0


@contextmanager
def no_broker_stack(tmp: Path) -> Iterator[tuple[Devstack, Path]]:
    """Run MariaDB and write the broker config; yield (ready info, connbrokerd path)."""
    broker_bin, devstack_bin = _binaries(tmp)
    state, ready_file, log_path = tmp / "state", tmp / "ready.json", tmp / "devstack.log"
    state.mkdir()
    listen = f"127.0.0.1:{_free_port()}"
    cmd = [str(devstack_bin), "-dir", str(state), "-no-broker", "-listen", listen,
           "-ready-file", str(ready_file), "-exit-on-stdin-eof"]  # fmt: skip
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"devstack exited with {proc.returncode}:\n{_tail(log_path)}", pytrace=False)
            if ready_file.exists():
                try:
                    data = json.loads(ready_file.read_text())
                    break
                except ValueError:
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"devstack not ready within 120s:\n{_tail(log_path)}", pytrace=False)
            time.sleep(0.2)
        data["broker_addr"] = listen
        yield parse_ready(data), broker_bin
    finally:
        _stop(proc)
        log.close()


class BrokerProc:
    """One ``connbrokerd`` process serving ``config`` on ``listen``."""

    def __init__(self, binary: Path, config: str, listen: str, info: Devstack, log_path: Path) -> None:
        """Describe the process; :meth:`start` runs it."""
        self.binary, self.config, self.listen, self.log_path = binary, config, listen, log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=info.aws_access_key_id,
            AWS_SECRET_ACCESS_KEY=info.aws_secret_access_key,
            AWS_REGION=info.aws_region,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the broker and wait until it accepts connections; return the seconds that took."""
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        t0 = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", self.config, "--listen", self.listen, "--dev"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        host, port = self.listen.rsplit(":", 1)
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"connbrokerd on {self.listen} exited with {self.proc.returncode}:\n{_tail(self.log_path)}")
            try:
                with socket.create_connection((host, int(port)), timeout=0.5):
                    return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT:
                pytest.fail(f"connbrokerd did not listen on {self.listen} within {START_TIMEOUT:g}s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the broker (no graceful shutdown) and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def hup(self) -> None:
        """Send SIGHUP (config reload)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop the broker if running (SIGTERM, then SIGKILL)."""
        if self.proc is not None:
            _stop(self.proc)


@contextmanager
def serving(
    binary: Path, config: Path, *, args: tuple[str, ...] = (), env: dict[str, str] | None = None, sock: Path | None = None
) -> Iterator[None]:
    """Run ``connbrokerd --config config *args`` until the block ends.

    It waits for the broker to log that it serves (and, when ``sock`` is
    given, for that Unix socket to exist); its log is ``broker.log`` next to
    the config. ``env`` (default: PATH and no EC2 metadata) is its whole
    environment.
    """
    log = config.parent / "broker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env if env is not None else {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b"connbrokerd serving" not in log.read_bytes() or (sock is not None and not sock.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"connbrokerd did not start (exit {proc.poll()}):\n{_tail(log)}", pytrace=False)
            time.sleep(0.05)
        yield
    finally:
        _stop(proc)
