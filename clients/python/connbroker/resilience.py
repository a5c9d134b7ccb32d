"""What the client does while the broker is away.

:class:`connbroker.Client` keeps the last ``ConnectionParams`` it got per
(endpoint, driver). When the broker cannot be reached, or answers
UNAVAILABLE / DEADLINE_EXCEEDED, it serves the kept params as long as the
credential's ``expires_at`` minus a safety margin (60 s by default) is still
ahead, logs one warning per outage on the ``connbroker`` logger and counts
every such serve (:attr:`KeptParams.stale_serves`, readable through
:meth:`connbroker.Client.resilience_stats` for export to a metrics system).

Kept params are forgotten as soon as the broker says NOT_FOUND,
PERMISSION_DENIED/UNAUTHENTICATED or INVALID_ARGUMENT for them, so a revoked
endpoint is never served from memory. Once the kept params are past their
usable time, the call raises :class:`connbroker.BrokerUnavailable` naming the
broker address and how long ago they expired; a driver never sees an
expired token (and so never answers 1045 for one).

This module also builds the gRPC channel target and service config: several
broker addresses (``dns:///name:7700``, ``ipv4:a:7700,b:7700`` or a plain
comma-separated list) with ``round_robin``, and a retry policy with
exponential backoff and jitter for UNAVAILABLE.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connbroker.errors import BrokerUnavailable
from connbroker.v1 import broker_pb2

__all__ = [
    "DEFAULT_STALE_MARGIN",
    "DEFAULT_STALE_WITHOUT_EXPIRY",
    "OUTAGE_CALL_TIMEOUT",
    "KeptParams",
    "ResilienceStats",
    "channel_options",
    "channel_target",
]

#: Seconds before ``expires_at`` at which kept params stop being served.
DEFAULT_STALE_MARGIN = 60.0
#: Seconds kept params whose credential has no ``expires_at`` (a password
#: from a file or env) are served after they were fetched.
DEFAULT_STALE_WITHOUT_EXPIRY = 900.0

#: Deadline of each call while an outage is open (the previous call was not
#: answered), so serving kept params costs a new connection at most this
#: long; the first call of an outage gets the client's full timeout.
OUTAGE_CALL_TIMEOUT = 0.25

#: gRPC service name the retry policy applies to.
_SERVICE = "connbroker.v1.BrokerService"

#: Retry UNAVAILABLE up to 4 attempts within the call's deadline. gRPC draws
#: each wait at random between 0 and the current backoff (the jitter of
#: gRFC A6), doubling from 0.1 s up to 1 s.
RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

#: Reconnect backoff of the channel, so a restarted broker is found again
#: within about 2 s instead of gRPC's default of up to 120 s.
_RECONNECT_BACKOFF_MS = {"grpc.initial_reconnect_backoff_ms": 200, "grpc.min_reconnect_backoff_ms": 200,
                         "grpc.max_reconnect_backoff_ms": 2000}  # fmt: skip

log = logging.getLogger("connbroker")


def service_config() -> str:
    """Return the JSON service config: round_robin and the retry policy."""
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [{"name": [{"service": _SERVICE}], "retryPolicy": RETRY_POLICY}],
        }
    )


def channel_options(target: str, address: str) -> list[tuple[str, Any]]:
    """Return the channel options: retries, service config, reconnect backoff,
    and, for a list of addresses, the first one as the TLS authority."""
    opts: list[tuple[str, Any]] = [("grpc.enable_retries", 1), ("grpc.service_config", service_config())]
    opts += list(_RECONNECT_BACKOFF_MS.items())
    if target != address and "," in address:
        opts.append(("grpc.default_authority", address.split(",")[0].strip()))
    return opts


def _split_host_port(hp: str) -> tuple[str, str]:
    """Split ``host:port`` or ``[v6]:port``; raise ValueError without a port."""
    hp = hp.strip()
    if hp.startswith("["):
        host, sep, port = hp[1:].partition("]:")
    else:
        host, sep, port = hp.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"broker address {hp!r} is not host:port")
    return host, port


def channel_target(address: str) -> str:
    """Turn a broker address into a gRPC target.

    * ``dns:///name:7700``, ``ipv4:...``, ``ipv6:...``, ``unix:...``: as given
      (``round_robin`` spreads calls over every address the name resolves to).
    * ``host:port``: as given (gRPC resolves it through DNS).
    * ``a:7700,b:7700``: a static list. IP literals become an ``ipv4:`` (or
      ``ipv6:``) target; host names are resolved to their IPv4 addresses once,
      here (use ``dns:///`` for a name whose addresses change).

    Raises:
        ValueError: an entry is not ``host:port``, cannot be resolved, or the
            list mixes IPv4 and IPv6.
    """
    address = address.strip()
    if "," not in address:
        return address
    v4: list[str] = []
    v6: list[str] = []
    for entry in filter(None, (e.strip() for e in address.split(","))):
        host, port = _split_host_port(entry)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                raise ValueError(f"broker address {entry!r}: resolve {host!r}: {e}") from None
            v4 += [f"{info[4][0]}:{port}" for info in infos]
            continue
        (v4 if ip.version == 4 else v6).append(f"{ip}:{port}" if ip.version == 4 else f"[{ip}]:{port}")
    if v4 and v6:
        raise ValueError(f"broker addresses {address!r} mix IPv4 and IPv6; give one family")
    if not v4 and not v6:
        raise ValueError(f"broker address list {address!r} is empty")
    return ("ipv4:" + ",".join(dict.fromkeys(v4))) if v4 else ("ipv6:" + ",".join(dict.fromkeys(v6)))


@dataclass(frozen=True)
class ResilienceStats:
    """A snapshot of the client's stale serving, for export as metrics.

    Attributes:
        stale_serves: kept params served while the broker was away, in total.
        stale_serves_by_key: the same per ``(endpoint, driver)``.
        outages: outages seen (a run of failed calls ended by a success or ongoing).
        outage_since: ``time.time()`` when the current outage began, or None.
        expired_refusals: calls refused because the kept params had expired.
    """

    stale_serves: int
    stale_serves_by_key: dict[tuple[str, str], int] = field(default_factory=dict)
    outages: int = 0
    outage_since: float | None = None
    expired_refusals: int = 0


@dataclass
class _Entry:
    params: broker_pb2.ConnectionParams
    usable_until: float  # time.time() after which the params are not served
    expires_at: float | None


class KeptParams:
    """The last params per (endpoint, driver) and the outage bookkeeping.

    Thread-safe. ``margin`` is subtracted from ``expires_at``;
    ``without_expiry`` bounds params whose credential has none.
    """

    def __init__(self, margin: float = DEFAULT_STALE_MARGIN, without_expiry: float = DEFAULT_STALE_WITHOUT_EXPIRY):
        """Create an empty store."""
        if margin < 0 or without_expiry < 0:
            raise ValueError(f"stale margin and without-expiry time must be >= 0, got {margin!r}, {without_expiry!r}")
        self.margin = float(margin)
        self.without_expiry = float(without_expiry)
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._by_key: Counter[tuple[str, str]] = Counter()
        self._outages = 0
        self._outage_since: float | None = None
        self._warned = False
        self._refusals = 0

    def keep(self, endpoint: str, driver: str, params: broker_pb2.ConnectionParams, address: str) -> None:
        """Remember fresh params; ends an outage (logging how long it lasted)."""
        now = time.time()
        cred = params.credential
        expires = cred.expires_at.ToNanoseconds() / 1e9 if cred.HasField("expires_at") else None
        until = expires - self.margin if expires is not None else now + self.without_expiry
        kept = broker_pb2.ConnectionParams()
        kept.CopyFrom(params)
        with self._lock:
            self._entries[(endpoint, driver)] = _Entry(kept, until, expires)
            since, self._outage_since, self._warned = self._outage_since, None, False
        if since is not None:
            log.warning(
                "connbroker: broker %s reachable again after %.1fs; fresh params for endpoint %r (driver %r)",
                address, now - since, endpoint, driver,
            )  # fmt: skip

    def call_timeout(self, timeout: float) -> float:
        """Return the deadline for the next call: ``timeout``, or
        :data:`OUTAGE_CALL_TIMEOUT` while an outage is open."""
        with self._lock:
            in_outage = self._outage_since is not None
        return min(timeout, OUTAGE_CALL_TIMEOUT) if in_outage else timeout

    def forget(self, endpoint: str, driver: str) -> None:
        """Drop the kept params: the broker refused them (NOT_FOUND, PERMISSION_DENIED...)."""
        with self._lock:
            self._entries.pop((endpoint, driver), None)

    def serve(self, endpoint: str, driver: str, err: BrokerUnavailable) -> broker_pb2.ConnectionParams:
        """Return a copy of the kept params while usable, or raise ``err`` enriched.

        Raises:
            BrokerUnavailable: no kept params, or they expired (the message
                then says how long ago, and ``err.expired_ago`` holds it).
        """
        now = time.time()
        with self._lock:
            if self._outage_since is None:
                self._outage_since = now
                self._outages += 1
            entry = self._entries.get((endpoint, driver))
            if entry is None:
                raise err
            if now >= entry.usable_until:
                self._refusals += 1
                ago = now - entry.usable_until
                raise _expired(err, entry, ago, self.margin) from None
            self._by_key[(endpoint, driver)] += 1
            warn = not self._warned
            self._warned = True
            out = broker_pb2.ConnectionParams()
            out.CopyFrom(entry.params)
            left = entry.usable_until - now
        if warn:
            log.warning(
                "connbroker: broker %s unavailable (%s); serving kept params for endpoint %r (driver %r), "
                "usable for %.0fs more; warning once per outage",
                err.address, err.details or (err.code.name if err.code else "unreachable"), endpoint, driver, left,
            )  # fmt: skip
        return out

    def stats(self) -> ResilienceStats:
        """Return a snapshot of the counters."""
        with self._lock:
            return ResilienceStats(
                stale_serves=sum(self._by_key.values()),
                stale_serves_by_key=dict(self._by_key),
                outages=self._outages,
                outage_since=self._outage_since,
                expired_refusals=self._refusals,
            )


def _expired(err: BrokerUnavailable, entry: _Entry, ago: float, margin: float) -> BrokerUnavailable:
    """Return a BrokerUnavailable saying the kept params expired ``ago`` seconds ago."""
    if entry.expires_at is not None:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.expires_at))
        why = f"credential expires_at {when} minus the {margin:g}s safety margin"
    else:
        why = "the credential has no expires_at; kept params are served for a fixed time after they were fetched"
    out = BrokerUnavailable(
        f"{err}; the last params for this endpoint expired {ago:.1f}s ago ({why}), so none can be served "
        f"until broker {err.address} answers again",
        operation=err.operation,
        address=err.address,
        code=err.code,
        details=err.details,
    )
    out.expired_ago = ago
    return out
