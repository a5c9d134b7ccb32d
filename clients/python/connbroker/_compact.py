"""Compact GetConnectionParams: the CA bundle once per client, no repeated options.

A request carries ``known_ca_sha256`` (the digest of the CA bundle this client
last received for the endpoint) and ``omit_param_options``; the broker then
leaves ``tls.ca_pem`` out when the digest matches and leaves out the hint
options that only repeat ``host``/``port``/``user``/``database``, naming them
in ``hints.param_options``. It also holds the last complete params per endpoint
and driver under their ``view_sha256`` and names it in ``known_view_sha256``:
the broker then sends only the credential (``view_omitted``).
:meth:`CAStore.complete` puts everything back, so every helper reads complete
params.
"""

from __future__ import annotations

import threading
from operator import attrgetter
from typing import Any

from connbroker.errors import BrokerError
from connbroker.v1 import broker_pb2


class ViewUnknown(Exception):
    """The broker left out a view this client does not hold: ask again without a digest."""


class CAStore:
    """The CA bundles one client received, by digest, the last digest per
    endpoint, and the last complete view per endpoint and driver."""

    def __init__(self) -> None:
        """Start empty: the first request per endpoint gets the PEM."""
        self._lock = threading.Lock()
        self._pems: dict[bytes, str] = {}
        self._endpoint: dict[str, bytes] = {}
        # (endpoint, driver) -> (view_sha256, the params without endpoint and credential)
        self._views: dict[tuple[str, str], tuple[bytes, broker_pb2.ConnectionParams]] = {}

    def request(self, endpoint: str, driver: str) -> dict[str, Any]:
        """Return the compact request fields for ``endpoint`` and ``driver``."""
        with self._lock:
            known = self._endpoint.get(endpoint, b"")
            view = self._views.get((endpoint, driver))
        return {"known_ca_sha256": known, "omit_param_options": True, "known_view_sha256": view[0] if view else b""}

    def forget_view(self, endpoint: str, driver: str) -> None:
        """Drop the view held for ``endpoint`` and ``driver``: the next request asks for everything."""
        with self._lock:
            self._views.pop((endpoint, driver), None)

    def complete(
        self, endpoint: str, driver: str, params: broker_pb2.ConnectionParams, *, operation: str, address: str
    ) -> None:
        """Make a compact response whole, in place, and hold its view.

        A left-out view is merged in from a copy of the one held (the caller
        may change what it gets).

        Raises:
            ViewUnknown: the view was left out for a digest this client does
                not hold.
            BrokerError: the PEM sent does not match its digest, or was left
                out for a digest this client does not hold.
        """
        key = (endpoint, driver)
        if params.view_omitted:
            with self._lock:
                held = self._views.get(key)
            if held is None or held[0] != params.view_sha256:
                raise ViewUnknown(endpoint)
            params.MergeFrom(held[1])
            params.view_omitted = False
            return
        self._complete_ca(endpoint, params, operation=operation, address=address)
        if len(params.view_sha256) == 32:
            view = broker_pb2.ConnectionParams()
            view.CopyFrom(params)
            view.ClearField("endpoint")
            view.ClearField("credential")
            view.ClearField("view_sha256")
            with self._lock:
                self._views[key] = (params.view_sha256, view)
        else:
            self.forget_view(endpoint, driver)

    def _complete_ca(self, endpoint: str, params: broker_pb2.ConnectionParams, *, operation: str, address: str) -> None:
        """Put back ``tls.ca_pem`` and the options named by ``hints.param_options``."""
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
