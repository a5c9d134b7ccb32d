"""Collect what matters for MySQL authentication in this process."""

from __future__ import annotations

import os
import platform
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

from google.protobuf import timestamp_pb2

from connbroker import hints
from connbroker.doctor.registry import Registry
from connbroker.v1 import broker_pb2

__all__ = ["Environment", "Package", "collect"]


@dataclass
class Package:
    """One importable package of this process."""

    #: The distribution name, e.g. "PyMySQL".
    name: str
    #: Its installed version.
    version: str
    #: The native library a driver is linked against, e.g.
    #: "MariaDB Connector/C 3.3.14 (libmariadb.so.3)"; "" when none.
    client_library: str = ""
    #: mysql-connector-python: its C extension loads.
    c_extension: bool = False
    #: MariaDB Connector/C: the directory it loads auth plugins from.
    plugin_dir: str = ""
    #: The plugins found in :attr:`plugin_dir`.
    client_plugins: list[str] = field(default_factory=list)


@dataclass
class Environment:
    """What matters for MySQL authentication in this process."""

    #: The interpreter, e.g. "CPython 3.11.7 (/venv/bin/python)".
    runtime: str
    #: The drivers and optional packages that are installed.
    packages: list[Package] = field(default_factory=list)
    #: The environment variables the drivers read, those that are set.
    env: dict[str, str] = field(default_factory=dict)
    #: The CA file (or directory) this process verifies servers with by default.
    ca_bundle: str = ""

    def package(self, name: str) -> Package | None:
        """Return the named package (case-insensitive), or None."""
        for p in self.packages:
            if p.name.lower() == name.lower():
                return p
        return None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Environment:
        """Read the environment of a JSON report."""
        return cls(
            runtime=d["runtime"],
            packages=[Package(**p) for p in d["packages"]],
            env=dict(d["env"]),
            ca_bundle=d["ca_bundle"],
        )

    def to_proto(self, driver: str) -> broker_pb2.ClientEnvironment:
        """Return the request message, stamped with the current time."""
        ts = timestamp_pb2.Timestamp()
        ts.GetCurrentTime()
        return broker_pb2.ClientEnvironment(
            driver=driver,
            packages=[
                broker_pb2.ClientPackage(
                    name=p.name,
                    version=p.version,
                    client_library=p.client_library,
                    c_extension=p.c_extension,
                    plugin_dir=p.plugin_dir,
                    client_plugins=p.client_plugins,
                )
                for p in self.packages
            ],
            env=self.env,
            ca_bundle=self.ca_bundle,
            client_time=ts,
            runtime=self.runtime,
        )


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _mysqlclient_library(p: Package) -> None:
    """Fill in the client library mysqlclient's ``_mysql`` is linked against.

    The library is read from the loaded objects (``/proc/self/maps``); for
    MariaDB Connector/C also the directory it loads its dynamic auth plugins
    from (``MARIADB_PLUGIN_DIR``, else Debian's ``<libdir>/libmariadb3/plugin``)
    and the plugins found there.
    """
    try:
        from MySQLdb import _mysql
    except ImportError as e:
        p.client_library = f"unloadable: {e}"
        return
    info = str(_mysql.get_client_info())
    path = ""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                cand = line.split()[-1] if line.strip() else ""
                if os.path.basename(cand).startswith(("libmariadb", "libmysqlclient")):
                    path = cand
                    break
    except OSError:
        pass
    lib = os.path.basename(path)
    major = info.split(".")[0]
    if lib.startswith("libmariadb") or (not lib and major.isdigit() and int(major) < 5):
        p.client_library = f"MariaDB Connector/C {info}" + (f" ({lib})" if lib else "")
        plugin_dir = os.environ.get("MARIADB_PLUGIN_DIR", "")
        if not plugin_dir and path:
            plugin_dir = os.path.join(os.path.dirname(path), "libmariadb3", "plugin")
        if plugin_dir:
            p.plugin_dir = plugin_dir
            try:
                p.client_plugins = sorted(n[:-3] for n in os.listdir(plugin_dir) if n.endswith(".so"))
            except OSError:
                p.client_plugins = []
        return
    p.client_library = f"libmysqlclient {info}" + (f" ({lib})" if lib else "")


def _connector_cext() -> bool:
    """Whether mysql-connector-python's C extension loads in a fresh process.

    A fresh interpreter, because the 26.x wheels' extension needs OpenSSL 3.2
    and loads only when imported before ``ssl``, which this process (grpc) has
    already imported.
    """
    code = "import mysql.connector, sys; sys.exit(0 if mysql.connector.HAVE_CEXT else 1)"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
        return proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _ca_bundle() -> str:
    """Return the CA file (or, failing that, directory) this process verifies servers with by default."""
    v = os.environ.get("SSL_CERT_FILE", "")
    if v and os.path.isfile(v):
        return v
    if cafile := hints.default_ca_file():
        return cafile
    paths = ssl.get_default_verify_paths()
    # No bundle file: OpenSSL may still verify from a hashed directory.
    if paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath):
        return paths.capath
    return ""


def collect(
    registry: Registry,
    *,
    cext: Callable[[], bool] | None = None,
    native: Callable[[Package], None] | None = None,
) -> Environment:
    """Collect this process's drivers, optional packages, environment and CA bundle.

    What to look for (packages, environment variables) is the broker's
    driver list, ``registry``. ``cext`` says whether mysql-connector-python's
    C extension loads (default: in a fresh interpreter, see
    ``_connector_cext``; the inventory report asks this process instead);
    ``native`` fills in mysqlclient's client library (default: by importing
    ``MySQLdb._mysql``, see ``_mysqlclient_library``).
    """
    cext = cext or _connector_cext
    native = native or _mysqlclient_library
    env = Environment(runtime=f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    for name in registry.checked_packages():
        v = _version(name)
        if v is None:
            continue
        p = Package(name=name, version=v)
        if name == "mysqlclient":
            native(p)
        elif name == "mysql-connector-python":
            p.c_extension = cext()
        env.packages.append(p)
    env.env = {k: os.environ[k] for k in registry.env_vars() if k in os.environ}
    env.ca_bundle = _ca_bundle()
    return env
