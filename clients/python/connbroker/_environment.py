"""This process's environment as the broker's driver list describes it.

What ``python -m connbroker doctor`` collects and what the inventory report
(:mod:`connbroker._report`) sends with a client's first ``GetConnectionParams``:
:class:`Registry` (the broker's ``ListDrivers``), :func:`collect` and the
:class:`Environment` it returns. One module for both, kept light because the
report runs on the first request of every process: no ``importlib.metadata``
(its ``email``/``zipfile``/``csv`` imports cost ~15 ms; :func:`version` reads
the same ``*.dist-info`` files directly), no ``platform``, and nothing of the
doctor's command line, login or rendering. :mod:`connbroker.doctor.registry`
and :mod:`connbroker.doctor.collect` re-export these names.
"""

from __future__ import annotations

import os
import ssl
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from google.protobuf import timestamp_pb2

from connbroker import hints
from connbroker.v1 import broker_pb2

if TYPE_CHECKING:
    from connbroker.client import Client

__all__ = ["ENV_VARS", "OPTIONAL_PACKAGES", "Environment", "Package", "Registry", "collect", "runtime", "version"]

#: Packages the doctor always reports besides the drivers' own (the drivers,
#: their optional packages and environment variables come from the broker's
#: ListDrivers: see :class:`Registry`).
OPTIONAL_PACKAGES = ("certifi",)
#: Environment variables about TLS that matter whatever the driver.
ENV_VARS = (
    "LIBMYSQL_PLUGIN_DIR",
    "MYSQL_SSL_CA",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


class Registry:
    """The broker's drivers (ListDrivers) that run in Python: names, aliases,
    packages, import modules and environment rules. The doctor keeps no
    driver table of its own."""

    def __init__(self, drivers: list[broker_pb2.DriverInfo]) -> None:
        """Keep the Python drivers of a ListDrivers answer."""
        self.drivers = {d.name: d for d in drivers if d.runtime == "python"}

    @classmethod
    def from_broker(cls, client: Client) -> Registry:
        """Ask the broker (ListDrivers)."""
        return cls(client.list_drivers())

    def resolve(self, name: str) -> str | None:
        """Return the canonical name for a name or alias (case-insensitive), or None."""
        n = name.strip().lower()
        for d in self.drivers.values():
            if n == d.name.lower() or n in (a.lower() for a in d.aliases):
                return d.name
        return None

    def known(self) -> str:
        """The names and aliases, for an error message."""
        return ", ".join(
            f"{d.name} (aliases {', '.join(d.aliases)})" if d.aliases else d.name for d in self.drivers.values()
        )

    def base(self, name: str) -> broker_pb2.DriverInfo:
        """The driver whose connection ``name`` makes (a SQLAlchemy dialect's DBAPI driver)."""
        d = self.drivers[name]
        return self.drivers.get(d.wraps, d) if d.wraps else d

    def package(self, name: str) -> str:
        """The distribution that provides the driver ``name`` (its DBAPI driver's for SQLAlchemy)."""
        return str(self.base(name).environment.package)

    def modules(self, name: str) -> list[str]:
        """What the driver imports, its DBAPI driver's module first (before ``ssl`` is imported)."""
        d = self.drivers[name]
        mods = [self.base(name).environment.module]
        if d.environment.module and d.environment.module not in mods:
            mods.append(d.environment.module)
        return mods

    def packages(self) -> list[str]:
        """Every distribution and optional package the drivers name, drivers first."""
        out: list[str] = []
        for d in self.drivers.values():
            if d.environment.package and d.environment.package not in out:
                out.append(d.environment.package)
        for d in self.drivers.values():
            for p in d.environment.optional_packages:
                if p not in out:
                    out.append(p)
        return out

    def checked_packages(self) -> list[str]:
        """What the doctor looks for: :meth:`packages`, then :data:`OPTIONAL_PACKAGES`."""
        pkgs = self.packages()
        return pkgs + [p for p in OPTIONAL_PACKAGES if p not in pkgs]

    def env_vars(self) -> list[str]:
        """Every environment variable the drivers read, then the TLS ones."""
        out: list[str] = []
        for d in self.drivers.values():
            for v in d.environment.env_vars:
                if v not in out:
                    out.append(v)
        return out + [v for v in ENV_VARS if v not in out]

    def guess_order(self) -> list[str]:
        """The drivers to try, in order, when the application names none."""
        ds = [d for d in self.drivers.values() if d.environment.guess_order > 0]
        return [d.name for d in sorted(ds, key=lambda d: d.environment.guess_order)]


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


#: ``sys.implementation.name`` as ``platform.python_implementation()`` spells it.
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython"}


def runtime() -> str:
    """The interpreter, e.g. "CPython 3.11.7 (/venv/bin/python)".

    What ``platform.python_implementation()`` and ``platform.python_version()``
    say, read from :mod:`sys` (``platform`` parses ``sys.version`` with regular
    expressions compiled at its first use).
    """
    name = sys.implementation.name
    return f"{_IMPLEMENTATIONS.get(name, name)} {sys.version.split()[0]} ({sys.executable})"


_SEPARATORS = str.maketrans("-.", "__")


def _normalize(name: str) -> str:
    """A distribution name as ``importlib.metadata`` compares it: lower case,
    each run of ``-``, ``_`` and ``.`` one ``_`` (PEP 503)."""
    n = name.lower().translate(_SEPARATORS)
    while "__" in n:
        n = n.replace("__", "_")
    return n


def _metadata_version(info: str) -> str | None:
    """The ``Version:`` header of a ``*.dist-info``/``*.egg-info`` directory (or
    PKG-INFO file), as ``importlib.metadata`` reads it; None when it has none."""
    paths = [os.path.join(info, "METADATA"), os.path.join(info, "PKG-INFO")] if os.path.isdir(info) else [info]
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break  # the end of the headers
                    key, sep, value = line.partition(":")
                    if sep and key.strip().lower() == "version":
                        return value.strip()
        except OSError:
            continue
        return None
    return None


class _Installed:
    """The ``*.dist-info``/``*.egg-info`` of ``sys.path``, listed once: each
    directory is read at most once however many names are looked up."""

    def __init__(self) -> None:
        """List nothing yet."""
        self._entries = iter(sys.path)
        self._found: dict[str, str] = {}  # normalized name -> first info on sys.path
        self._zip = False

    def version(self, dist: str) -> str | None:
        """Return the installed version of ``dist``, or None (see :func:`version`)."""
        want = _normalize(dist)
        while want not in self._found and not self._zip:
            entry = next(self._entries, None)
            if entry is None:
                break
            self._list(entry or ".")
        if want in self._found:
            return _metadata_version(self._found[want])
        if self._zip:
            from importlib import metadata  # a zip on sys.path: let it search

            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                return None
        return None

    def _list(self, root: str) -> None:
        """Add the infos of one ``sys.path`` entry (the first of a name wins)."""
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            self._zip = True  # an archive: importlib.metadata reads it
            return
        except OSError:
            return  # absent, as the stdlib's pythonXY.zip usually is
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                self._found.setdefault(_normalize(low.rpartition(".")[0].partition("-")[0]), os.path.join(root, child))


def version(dist: str) -> str | None:
    """Return the installed version of distribution ``dist``, or None.

    The answer of ``importlib.metadata.version``, found the same way: the
    first ``sys.path`` directory with a ``*.dist-info`` or ``*.egg-info``
    whose normalized name matches, and its ``Version:`` header. Past a
    ``sys.path`` entry that is a file (a zip archive), ``importlib.metadata``
    itself searches (otherwise this module never imports it).
    """
    return _Installed().version(dist)


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
    import subprocess  # only the doctor asks a fresh interpreter

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
    env = Environment(runtime=runtime())
    installed = _Installed()
    for name in registry.checked_packages():
        v = installed.version(name)
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
