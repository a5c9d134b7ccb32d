"""The broker's driver list as the doctor reads it (ListDrivers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connbroker.v1 import broker_pb2

if TYPE_CHECKING:
    from connbroker.client import Client

__all__ = ["ENV_VARS", "OPTIONAL_PACKAGES", "Registry"]

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
        return ", ".join(f"{d.name} (aliases {', '.join(d.aliases)})" if d.aliases else d.name for d in self.drivers.values())

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
