"""Compact GetConnectionParams: the CA bundle once per client, no repeated options.

A request carries ``known_ca_sha256`` (the digest of the CA bundle this client
last received for the endpoint) and ``omit_param_options``; the broker then
leaves ``tls.ca_pem`` out when the digest matches and leaves out the hint
options that only repeat ``host``/``port``/``user``/``database``, naming them
in ``hints.param_options``. :meth:`CAStore.complete` puts both back, so every
helper reads complete params.
"""

from __future__ import annotations

import threading
from operator import attrgetter
from typing import Any

from connbroker.errors import BrokerError
from connbroker.v1 import broker_pb2


class CAStore:
    """The CA bundles one client received, by digest, and the last digest per endpoint."""

    def __init__(self) -> None:
        """Start empty: the first request per endpoint gets the PEM."""
        self._lock = threading.Lock()
        self._pems: dict[bytes, str] = {}
        self._endpoint: dict[str, bytes] = {}

    def request(self, endpoint: str) -> dict[str, Any]:
        """Return the compact request fields for ``endpoint``."""
        with self._lock:
            known = self._endpoint.get(endpoint, b"")
        return {"known_ca_sha256": known, "omit_param_options": True}

    def complete(self, endpoint: str, params: broker_pb2.ConnectionParams, *, operation: str, address: str) -> None:
        """Make a compact response whole, in place.

        Raises:
            BrokerError: the PEM sent does not match its digest, or was left
                out for a digest this client does not hold.
        """
        tls = params.tls
        digest = tls.ca_sha256
        with self._lock:
            if tls.ca_pem:
                import hashlib  # only with a CA bundle: keeps `import connbroker` light

                got = hashlib.sha256(tls.ca_pem.encode("utf-8")).digest()
                if digest and got != digest:
                    raise BrokerError(
                        f"{operation} at broker {address}: tls.ca_pem does not match tls.ca_sha256",
                        operation=operation,
                        address=address,
                    )
                self._pems[got] = tls.ca_pem
                self._endpoint[endpoint] = got
            elif not digest:
                self._endpoint.pop(endpoint, None)
            else:
                pem = self._pems.get(digest)
                if pem is None:
                    raise BrokerError(
                        f"{operation} at broker {address}: "
                        "tls.ca_pem left out for a CA bundle this client does not hold",
                        operation=operation,
                        address=address,
                    )
                tls.ca_pem = pem
        complete_options(params)


_by_name = attrgetter("name")


def complete_options(params: broker_pb2.ConnectionParams) -> None:
    """Add back the hint options named by ``hints.param_options``, sorted, and clear it."""
    if not params.hints.HasField("param_options"):
        return
    hints = params.hints
    names = hints.param_options
    opts = hints.options
    if names.host:
        opts.add(name=names.host, string_value=params.host)
    if names.port:
        opts.add(name=names.port, int_value=params.port)
    if names.user:
        opts.add(name=names.user, string_value=params.user)
    if names.database:
        opts.add(name=names.database, string_value=params.database)
    opts.sort(key=_by_name)
    hints.ClearField("param_options")
