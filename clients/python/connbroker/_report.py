"""The environment report for the broker's inventory.

The client sends this process's environment (what ``python -m connbroker
doctor`` collects: drivers and their versions, optional packages, the
environment variables the broker's drivers read, the CA bundle, the
runtime) with its first ``GetConnectionParams`` per process, endpoint and
driver, and again only when it changes (an environment variable the
drivers read is set or changed). The broker records it (``ListInventory``,
``connbroker inventory``) so preflight can say which applications a change
would break. Only the variables the broker's drivers name are read, so
nothing else about the process leaves it; the broker keeps only allowlisted
ones (docs/INVENTORY.md).

A report that cannot be built (the broker's driver list unavailable) is
left out: it never fails a request, and slows one by at most one
``ListDrivers`` (deadline :data:`REGISTRY_TIMEOUT`) per :data:`RETRY_AFTER`
while the broker is away.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Callable

from connbroker.v1 import broker_pb2

if TYPE_CHECKING:
    from connbroker._environment import Environment, Package, Registry
    from connbroker.client import Client

__all__ = ["REPORTER", "RETRY_AFTER", "Reporter"]

#: Seconds without a report after the broker's driver list could not be read.
RETRY_AFTER = 60.0
#: Deadline of the one ``ListDrivers`` call the report needs per process.
REGISTRY_TIMEOUT = 1.0
#: Variables never sent, whatever a driver reads: they hold a password.
_SECRET_VARS = frozenset({"MYSQL_PWD"})


def _cext_in_process() -> bool:
    """Whether mysql-connector-python's C extension is what this process uses.

    The application's own state, not a fresh interpreter's (the doctor's
    question): loaded already, its ``HAVE_CEXT``; else whether it can be
    found at all.
    """
    mod = sys.modules.get("mysql.connector")
    if mod is not None:
        return bool(getattr(mod, "HAVE_CEXT", False))
    try:
        return importlib.util.find_spec("_mysql_connector") is not None
    except (ImportError, ValueError):
        return False


def _native_if_loaded(p: Package) -> None:
    """mysqlclient's client library, only when the application loaded it:
    the report never imports a driver into the application's process."""
    if "MySQLdb" in sys.modules:
        from connbroker._environment import _mysqlclient_library

        _mysqlclient_library(p)


def _environ_reader(names: tuple[str, ...]) -> Callable[[], tuple[tuple[str, str], ...]]:
    """Return a function giving the (name, value) pairs of ``names`` set in ``os.environ``, in order.

    It runs on every request: ``os.environ[k]`` costs ~2 us per name (the key
    is encoded, and a missing one raises ``KeyError`` inside ``in``), so on
    CPython it reads the mapping's own dict (``os.environ._data``, keyed by the
    encoded names; ``os.environ`` writes go there), ~0.3 us per name. Other
    runtimes read the public mapping.
    """
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    decode = getattr(environ, "decodevalue", None)
    if isinstance(data, dict) and callable(encode) and callable(decode):
        keys = tuple((k, encode(k)) for k in names)
        get = data.get

        def read() -> tuple[tuple[str, str], ...]:
            return tuple((k, decode(v)) for k, ek in keys if (v := get(ek)) is not None)

        return read

    def read_public() -> tuple[tuple[str, str], ...]:
        return tuple((k, environ[k]) for k in names if k in environ)

    return read_public


class Reporter:
    """Decides when a request carries the report; one per process (:data:`REPORTER`)."""

    def __init__(self) -> None:
        """Start with nothing collected and nothing sent."""
        self._lock = threading.Lock()
        self._registry: Registry | None = None
        self._env: Environment | None = None
        # The variables the report carries, sorted (read once per registry),
        # and their reader (_environ_reader).
        self._vars: tuple[str, ...] = ()
        self._read_vars: Callable[[], tuple[tuple[str, str], ...]] = tuple
        self._sent: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._retry_at = 0.0

    def _collect(self, client: Client) -> tuple[Registry, Environment] | None:
        with self._lock:
            if self._registry is not None and self._env is not None:
                return self._registry, self._env
            if time.monotonic() < self._retry_at:
                return None
        from connbroker.errors import BrokerError

        try:
            # A short deadline: while the broker is away this must not hold
            # up the request it rides on (retried after RETRY_AFTER). Started
            # first: in a new process this call opens the channel, and the
            # import below runs meanwhile.
            drivers = client._list_drivers_started(REGISTRY_TIMEOUT)
            # What the doctor collects, from the module it shares with the
            # doctor (light: not the doctor's command line, login or rendering).
            from connbroker import _environment

            registry = _environment.Registry(drivers())
        except BrokerError:
            with self._lock:
                self._retry_at = time.monotonic() + RETRY_AFTER
            return None
        env = _environment.collect(registry, cext=_cext_in_process, native=_native_if_loaded)
        names = tuple(sorted(k for k in registry.env_vars() if k not in _SECRET_VARS))
        read = _environ_reader(names)
        with self._lock:
            self._registry, self._env, self._vars, self._read_vars = registry, env, names, read
        return registry, env

    def report(
        self, client: Client, endpoint: str, driver: str
    ) -> tuple[broker_pb2.ClientEnvironment | None, tuple[tuple[str, str], ...]]:
        """Return the report to send with this request (None when not due) and its key."""
        got = self._collect(client)
        if got is None:
            return None, ()
        registry, env = got
        current = self._read_vars()  # sorted: _vars is
        with self._lock:
            if self._sent.get((endpoint, driver)) == current:
                return None, current
        msg = env.to_proto(registry.resolve(driver) or driver)
        msg.ClearField("client_time")  # the inventory does not keep it
        msg.env.clear()
        msg.env.update(dict(current))
        return msg, current

    def sent(self, endpoint: str, driver: str, key: tuple[tuple[str, str], ...]) -> None:
        """Record that the broker accepted the report with ``key``."""
        with self._lock:
            self._sent[(endpoint, driver)] = key

    def reset(self) -> None:
        """Forget what was sent and collected (tests; after a fork that changes the environment)."""
        with self._lock:
            self._registry, self._env, self._vars, self._sent, self._retry_at = None, None, (), {}, 0.0
            self._read_vars = tuple


#: The process's reporter, shared by every :class:`connbroker.Client`.
REPORTER = Reporter()
