"""``python -m connbroker doctor ENDPOINT``: diagnose this process's own environment.

The broker knows each endpoint and each driver in general; an outage happens
in one process, with one driver version, one set of optional packages, one set
of environment variables and one TLS setup. The doctor collects those
(:func:`collect`), sends them with a validation request so the broker predicts,
for exactly this environment, whether each installed driver logs in and why
not, then logs in for real once with the application's driver and the broker's
hints (:func:`real_login`) and compares prediction and reality.

Exit status: 0 when the application's driver works (predicted and proven), 1
otherwise, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import ssl
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, Callable, TextIO

from google.protobuf import timestamp_pb2

from connbroker import _guard
from connbroker.client import Client
from connbroker.errors import BrokerError
from connbroker.hints import driver_kwargs
from connbroker.v1 import broker_pb2

__all__ = [
    "ENV_VARS",
    "Environment",
    "Package",
    "RealLogin",
    "Registry",
    "collect",
    "main",
    "real_login",
    "real_login_in_child",
]

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

#: Finding codes whose failure shows only on full authentication (a server
#: cache miss): a real login on the fast path can still succeed.
CACHE_DEPENDENT = frozenset({"rsa-package-missing", "rsa-public-key-needed", "full-auth-driver-requires-tls"})


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
        return ", ".join(f"{d.name} (aliases {', '.join(d.aliases)})" if d.aliases else d.name for d in self.drivers.values())

    def base(self, name: str) -> broker_pb2.DriverInfo:
        """The driver whose connection ``name`` makes (a SQLAlchemy dialect's DBAPI driver)."""
        d = self.drivers[name]
        return self.drivers.get(d.wraps, d) if d.wraps else d

    def package(self, name: str) -> str:
        """The distribution that provides the driver ``name`` (its DBAPI driver's for SQLAlchemy)."""
        return self.base(name).environment.package

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

    name: str
    version: str
    client_library: str = ""
    c_extension: bool = False
    plugin_dir: str = ""
    client_plugins: list[str] = field(default_factory=list)


@dataclass
class Environment:
    """What matters for MySQL authentication in this process."""

    runtime: str
    packages: list[Package] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ca_bundle: str = ""

    def package(self, name: str) -> Package | None:
        """Return the named package (case-insensitive), or None."""
        for p in self.packages:
            if p.name.lower() == name.lower():
                return p
        return None

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
    for var in ("SSL_CERT_FILE",):
        v = os.environ.get(var, "")
        if v and os.path.isfile(v):
            return v
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return paths.cafile
    try:
        import certifi
    except ImportError:
        certifi = None
    if certifi is not None:
        where: str = certifi.where()
        if os.path.isfile(where):
            return where
    # No bundle file: OpenSSL may still verify from a hashed directory.
    if paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath):
        return paths.capath
    return ""


def collect(
    registry: Registry,
    *,
    cext: Callable[[], bool] = _connector_cext,
    native: Callable[[Package], None] = _mysqlclient_library,
) -> Environment:
    """Collect this process's drivers, optional packages, environment and CA bundle.

    What to look for (packages, environment variables) is the broker's
    driver list, ``registry``. ``cext`` says whether mysql-connector-python's
    C extension loads (default: in a fresh interpreter, see
    ``_connector_cext``; the inventory report asks this process instead);
    ``native`` fills in mysqlclient's client library (default: by importing
    ``MySQLdb._mysql``, see ``_mysqlclient_library``).
    """
    env = Environment(runtime=f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    for name in registry.packages() + [p for p in OPTIONAL_PACKAGES if p not in registry.packages()]:
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


@dataclass
class RealLogin:
    """One real login with the application's driver and the broker's hints."""

    driver: str
    ok: bool
    current_user: str = ""
    error: str = ""
    missing_env: list[str] = field(default_factory=list)
    #: How the real secret was protected: "driver" (the driver itself insists
    #: on verified TLS), "relay" (the doctor's guard, see connbroker._guard)
    #: or "dummy" (the login ran with a dummy secret).
    guard: str = ""
    #: Why the guard stopped the login before the secret left, or "".
    withheld: str = ""


def real_login_in_child(address: str, timeout: float, endpoint: str, driver: str, modules: list[str]) -> RealLogin:
    """Run :func:`real_login` in a fresh interpreter of this environment.

    A fresh process, like the application's first connection: libraries that
    read their environment once (libmysqlclient) or must be imported before
    ``ssl`` (mysql-connector-python's C extension) behave as they do there.
    ``modules`` (the driver's import modules, from the broker's driver list)
    are imported first.
    """
    code = (
        f"import {', '.join(modules)}\n"
        "import sys\n"
        "from connbroker.doctor import _login_child\n"
        "sys.exit(_login_child(sys.argv[1:]))\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, address, str(timeout), endpoint, driver],
            capture_output=True,
            text=True,
            timeout=timeout + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return RealLogin(driver=driver, ok=False, error="the login process did not finish in time")
    except OSError as e:
        return RealLogin(driver=driver, ok=False, error=f"cannot start {sys.executable}: {e}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return RealLogin(driver=driver, ok=False, error=f"the login process failed (exit {proc.returncode}): {tail[0]}")
    return RealLogin(**data)


def _login_child(argv: list[str]) -> int:
    """Entry point of the login child: print the RealLogin as JSON."""
    address, timeout, endpoint, driver = argv[0], float(argv[1]), argv[2], argv[3]
    with Client(address, timeout=timeout) as client:
        res = real_login(client, endpoint, driver)
    print(json.dumps(asdict(res)))
    return 0


def real_login(client: Client, endpoint: str, driver: str) -> RealLogin:
    """Log in once with ``driver`` and the broker's hints, run ``SELECT CURRENT_USER()``.

    The hints' environment variables are not set: the point is how this
    process, as it is, fares. Those the process lacks are listed instead.
    """
    if driver.startswith("sqlalchemy+"):
        return _sqlalchemy_login(client, endpoint, driver)
    try:
        params = client.get_connection_params(endpoint, driver=driver)
    except BrokerError as e:
        return RealLogin(driver=driver, ok=False, error=f"GetConnectionParams: {e}")
    out = RealLogin(driver=driver, ok=False)
    out.missing_env = [f"{v.name}={v.value}" for v in params.hints.env if os.environ.get(v.name) != v.value]
    guard: _guard.Guard | None = None
    try:
        if driver == "aiomysql":
            asyncio.run(_aiomysql_login(endpoint, client, out))
            return out
        kwargs = driver_kwargs(params, connect_timeout=10)
        # The real secret never goes where the broker's validator would not
        # send it (connbroker._guard explains the three ways).
        if _guard.driver_insists(driver, kwargs, params):
            out.guard = "driver"
        elif driver == "pymysql" or params.tls.mode != broker_pb2.TLS_MODE_VERIFY_IDENTITY:
            out.guard = "relay"
            guard = _guard.Guard(params)
            if driver != "pymysql":  # no certificate check depends on the host here
                kwargs["host"], kwargs["port"] = guard.listen_tcp()
        else:
            out.guard = "dummy"
            kwargs[params.hints.secret_option] = _guard.dummy_secret()
        if driver == "pymysql":
            import pymysql

            if guard is not None:
                conn: Any = pymysql.connect(**kwargs, defer_connect=True)
                conn.connect(sock=guard.socketpair())
            else:
                conn = pymysql.connect(**kwargs)
        elif driver == "mysqlclient":
            import MySQLdb

            conn = MySQLdb.connect(**kwargs)
        elif driver in ("mysql-connector-python", "mysql-connector-python-pure"):
            import mysql.connector

            kwargs.pop("connect_timeout", None)
            kwargs["connection_timeout"] = 10
            conn = mysql.connector.connect(**kwargs)
        else:
            out.error = f"no real login for driver {driver!r}"
            return out
        try:
            cur = conn.cursor()
            cur.execute("SELECT CURRENT_USER()")
            row = cur.fetchone()
            out.current_user = str(row[0]) if row else ""
            out.ok = True
        finally:
            conn.close()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = f"{type(e).__module__}.{type(e).__name__}: {e}"
        secret = params.credential.secret
        if secret and secret in out.error:
            out.error = out.error.replace(secret, "<redacted>")
    finally:
        if guard is not None:
            guard.close()
            out.withheld = guard.withheld
    return out


def _sqlalchemy_login(client: Client, endpoint: str, driver: str) -> RealLogin:
    """Log in through a SQLAlchemy engine from :mod:`connbroker.sqlalchemy`."""
    out = RealLogin(driver=driver, ok=False)
    guards: list[_guard.Guard] = []
    try:
        from connbroker import sqlalchemy as helper

        base = driver.split("+", 1)[1]
        params = client.get_connection_params(endpoint, driver=driver)

        # Every login of the engine (also the helper's retry after a 1045)
        # goes through here, on the helper's fresh arguments: the same three
        # ways as real_login (connbroker._guard).
        def _guarded(dialect: Any, cparams: dict[str, Any]) -> Any:
            secret = str(cparams.get(params.hints.secret_option, ""))
            if _guard.driver_insists(driver, cparams, params):
                out.guard = "driver"
                return dialect.connect(**cparams)
            if base == "pymysql" or params.tls.mode != broker_pb2.TLS_MODE_VERIFY_IDENTITY:
                out.guard = "relay"
                g = _guard.Guard(params, secret=secret)
                guards.append(g)
                if base == "pymysql":
                    import pymysql

                    conn = pymysql.connect(**cparams, defer_connect=True)
                    conn.connect(sock=g.socketpair())
                    return conn
                cparams["host"], cparams["port"] = g.listen_tcp()
                return dialect.connect(**cparams)
            out.guard = "dummy"
            cparams[params.hints.secret_option] = _guard.dummy_secret()
            return dialect.connect(**cparams)

        engine = helper.create_engine(endpoint, driver=base, client=client, _connect=_guarded)

        try:
            with engine.connect() as conn:
                out.current_user = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar())
            out.ok = True
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = f"{type(e).__module__}.{type(e).__name__}: {e}"
    finally:
        for g in guards:
            g.close()
            out.withheld = out.withheld or g.withheld
    return out


async def _aiomysql_login(endpoint: str, client: Client, out: RealLogin) -> None:
    """Log in with aiomysql through the guard; fill ``out``."""
    import aiomysql

    from connbroker import aiomysql as helper

    params, kwargs = await asyncio.to_thread(helper._params_and_kwargs, endpoint, client, {"connect_timeout": 10})
    # aiomysql carries on in plain text when the server offers no TLS: it
    # always goes through the guard (connbroker._guard). On a verifying
    # endpoint a Unix socket keeps kwargs["host"], which its TLS checks.
    out.guard = "relay"
    guard = _guard.Guard(params)
    try:
        if _guard.verifies(params):
            kwargs["unix_socket"] = guard.listen_unix()
        else:
            kwargs["host"], kwargs["port"] = guard.listen_tcp()
        conn = await aiomysql.connect(**kwargs)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT CURRENT_USER()")
                row = await cur.fetchone()
                out.current_user = str(row[0]) if row else ""
                out.ok = True
        finally:
            conn.close()
    except Exception as e:  # noqa: BLE001 - any driver error is the finding
        out.error = f"{type(e).__module__}.{type(e).__name__}: {e}"
        secret = params.credential.secret
        if secret and secret in out.error:
            out.error = out.error.replace(secret, "<redacted>")
    finally:
        await asyncio.to_thread(guard.close)
        out.withheld = guard.withheld


def _pick_driver(env: Environment, registry: Registry) -> str:
    """The first installed driver in the broker's guess order."""
    order = registry.guess_order()
    for d in order:
        p = env.package(registry.package(d))
        if p is not None:
            if not p.c_extension and registry.resolve(d + "-pure"):
                return d + "-pure"  # mysql-connector-python without its C extension
            return d
    return order[0] if order else ""


def _finding(f: broker_pb2.Finding) -> dict[str, str]:
    return {"code": f.code, "severity": broker_pb2.FindingSeverity.Name(f.severity), "cause": f.cause, "fix": f.fix}


def _result_name(result: int) -> str:
    """A HandshakeResult as the doctor's JSON spells it: "ok", "server-error"..."""
    name = str(broker_pb2.HandshakeResult.Name(result))
    return name[len("HANDSHAKE_RESULT_") :].lower().replace("_", "-")


def run(client: Client, endpoint: str, driver: str, env: Environment, registry: Registry | None = None) -> dict[str, Any]:
    """Run the doctor and return the report as a JSON-able dict."""
    registry = registry or Registry.from_broker(client)
    login = real_login_in_child(client.address, client.timeout, endpoint, driver, registry.modules(driver))
    resp = client.validate([endpoint], client_environment=env.to_proto(driver))
    res = resp.results[0]
    rep = res.environment
    drivers = []
    for d in rep.drivers:
        item: dict[str, Any] = {
            "driver": d.driver,
            "version": d.version,
            "options": d.options,
            "works": d.works,
            "result": _result_name(d.result),
            "auth_plugin": d.auth_plugin,
            "tls": d.tls,
        }
        if d.HasField("finding"):
            item["finding"] = _finding(d.finding)
        drivers.append(item)
    app = next((d for d in drivers if d["driver"] == rep.driver), None)
    predicted = bool(app and app["works"])
    agree = predicted == login.ok
    fix = ""
    if app and "finding" in app:
        fix = app["finding"]["fix"]
    else:
        for f in rep.findings:
            if f.severity == broker_pb2.FINDING_SEVERITY_ERROR:
                fix = f.fix
                break
    works = predicted and login.ok
    note = ""
    code = app["finding"]["code"] if app and "finding" in app else ""
    if not agree and login.ok and code in CACHE_DEPENDENT:
        note = (
            "prediction and reality differ because of the server's state: the real login took the "
            "caching_sha2 fast path (the server had this account cached); the prediction is about full "
            "authentication, which every login needs after a server restart, FLUSH PRIVILEGES or a password change"
        )
    elif not agree:
        note = (
            "prediction and reality differ: please report it as a bug with this output "
            "(the broker's profile of this driver does not match the real driver)"
        )
    if login.guard == "dummy":
        # The real secret was not sent (connbroker._guard): a login that
        # reaches the server's password check is as far as it can prove.
        reached = "1045" in login.error or "Access denied" in login.error
        agree, works = predicted == reached, predicted and reached
        note = (
            "the real login used a dummy secret: this driver, as the hints configure it, does not itself "
            "refuse a server without verified TLS, and the doctor cannot check its TLS here; it "
            + ("reached the server's password check" if reached else "did not reach the server's password check")
        )
    elif login.withheld:
        note = f"the doctor stopped its real login: {login.withheld}"
    return {
        "endpoint": endpoint,
        "driver": driver,
        "app_driver": rep.driver,
        "environment": asdict(env),
        "checked_packages": registry.packages() + [p for p in OPTIONAL_PACKAGES if p not in registry.packages()],
        "checked_env_vars": registry.env_vars(),
        "broker_validation": {
            "ok": res.ok,
            "reason": res.reason,
            "auth_plugin": res.resolution.plugin,
            "tls": res.HasField("tls"),
        },
        "clock_offset_seconds": rep.clock_offset.seconds + rep.clock_offset.nanos / 1e9,
        "environment_findings": [_finding(f) for f in rep.findings],
        "drivers": drivers,
        "real_login": asdict(login),
        "predicted_works": predicted,
        "agrees": agree,
        "note": note,
        "works": works,
        "fix": fix,
    }


def render(rep: dict[str, Any], out: TextIO) -> None:
    """Print the report for a person."""
    w = out.write
    env = rep["environment"]
    w(f"connbroker doctor: endpoint {rep['endpoint']}, driver {rep['driver']}\n\n")
    w("This process\n")
    w(f"  runtime        {env['runtime']}\n")
    have = {p["name"].lower(): p for p in env["packages"]}
    for name in rep["checked_packages"]:
        p = have.get(name.lower())
        if p is None:
            w(f"  {name:<22} not installed\n")
            continue
        extra = ""
        if p["client_library"]:
            extra = f", linked against {p['client_library']}"
        if p["plugin_dir"]:
            extra += f"\n  {'':<22} plugins in {p['plugin_dir']}: {', '.join(p['client_plugins']) or 'none'}"
        if name == "mysql-connector-python":
            extra = ", C extension" if p["c_extension"] else ", pure Python (no C extension)"
        w(f"  {name:<22} {p['version']}{extra}\n")
    always = [k for k in rep["checked_env_vars"] if k.startswith("LIBMYSQL_ENABLE")]
    for k in always:
        w(f"  {k} {'=' + env['env'][k] if k in env['env'] else 'not set'}\n")
    for k, v in sorted(env["env"].items()):
        if k not in always:
            w(f"  {k}={v}\n")
    w(f"  CA bundle      {env['ca_bundle'] or 'none found'}\n")
    w(f"  clock offset   {rep['clock_offset_seconds']:+.3f}s against the broker\n")
    for f in rep["environment_findings"]:
        sev = f["severity"].removeprefix("FINDING_SEVERITY_").lower()
        w(f"  {sev} {f['code']}: {f['cause']}\n    fix: {f['fix']}\n")
    bv = rep["broker_validation"]
    w(
        f"\nBroker's own login (go-sql-driver): {'ok' if bv['ok'] else 'FAILED: ' + bv['reason']}"
        f" ({bv['auth_plugin'] or 'plugin unknown'}, {'TLS' if bv['tls'] else 'no TLS'})\n"
    )
    w("\nPredicted for this environment\n")
    for d in rep["drivers"]:
        mark = " (app)" if d["driver"] == rep["app_driver"] else ""
        verdict = "works" if d["works"] else "FAILS"
        w(f"  {d['driver'] + ' ' + d['version'] + mark:<40} {verdict:<6} {d['options']}\n")
        if "finding" in d:
            w(f"      {d['finding']['code']}: {d['finding']['cause']}\n      fix: {d['finding']['fix']}\n")
    login = rep["real_login"]
    w(f"\nReal login with {login['driver']} and the broker's hints: ")
    w(f"ok as {login['current_user']}\n" if login["ok"] else f"FAILED: {login['error']}\n")
    if login.get("withheld"):
        w(f"  withheld: {login['withheld']}\n")
    for e in login["missing_env"]:
        w(f"  the hints ask for {e} in the environment; this process does not have it\n")
    if rep["note"]:
        w(f"  {rep['note']}\n")
    if rep["works"]:
        w(f"\nVerdict: {rep['driver']} logs in to {rep['endpoint']} from this environment.\n")
    else:
        w(f"\nVerdict: {rep['driver']} does NOT log in to {rep['endpoint']} reliably from this environment.\n")
        if rep["fix"]:
            w(f"Fix: {rep['fix']}\n")


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``doctor`` with command-line arguments; return the exit status."""
    out = out or sys.stdout
    ap = argparse.ArgumentParser(
        prog="python -m connbroker doctor", description="Will this process's MySQL driver log in to ENDPOINT?"
    )
    ap.add_argument("endpoint", help="the configured endpoint name")
    ap.add_argument(
        "--driver",
        default="",
        help="the application's driver, any name or alias of `connbroker drivers` (default: the first installed)",
    )
    ap.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    ap.add_argument("--broker", default=None, help="broker address (default $CONNBROKER_ADDR or 127.0.0.1:7700)")
    ap.add_argument("--timeout", type=float, default=10.0, help="broker call timeout in seconds")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        with Client(args.broker, timeout=args.timeout) as client:
            registry = Registry.from_broker(client)
            driver = _pick_driver(collect(registry), registry) if not args.driver else registry.resolve(args.driver)
            if not driver:
                print(
                    f"doctor: unknown driver {args.driver!r}; known drivers: {registry.known()}",
                    file=sys.stderr,
                )
                return 2
            env = collect(registry)
            if env.package(registry.package(driver)) is None:
                print(
                    f"doctor: the driver {driver!r} is not installed in this environment ({sys.executable}): "
                    f"pip install {registry.package(driver)}",
                    file=sys.stderr,
                )
                return 1
            rep = run(client, args.endpoint, driver, env, registry)
    except BrokerError as e:
        print(f"doctor: {e}", file=sys.stderr)
        return 1
    if args.output == "json":
        json.dump(rep, out, indent=2)
        out.write("\n")
    else:
        render(rep, out)
    return 0 if rep["works"] else 1
