"""The gRPC client of the connbroker service.

:class:`Client` wraps the generated ``BrokerServiceStub``: every call has a
deadline and every gRPC error becomes a :mod:`connbroker.errors` exception.
:func:`default_client` returns a process-wide client created on first use
from ``CONNBROKER_ADDR`` (default ``127.0.0.1:7700``).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar
from collections.abc import Iterator, Sequence

import grpc
from google.protobuf import duration_pb2

from connbroker._closing import Closing
from connbroker._compact import CAStore, ViewUnknown
from connbroker._report import REPORTER
from connbroker.errors import (
    BrokerError,
    BrokerUnavailable,
    EndpointNotFound,
    InvalidRequest,
    PermissionDenied,
    from_rpc_error,
)
from connbroker.resilience import (
    DEFAULT_STALE_MARGIN,
    DEFAULT_STALE_WITHOUT_EXPIRY,
    KeptParams,
    ResilienceStats,
    channel_options,
    channel_target,
)
from connbroker.v1 import broker_pb2, broker_pb2_grpc

__all__ = [
    "DEFAULT_ADDRESS",
    "ENV_ADDRESS",
    "ENV_CA",
    "ENV_CERT",
    "ENV_KEY",
    "Client",
    "credentials_from_files",
    "default_client",
    "set_default_client",
]

#: Environment variable read for the broker address when none is given.
ENV_ADDRESS = "CONNBROKER_ADDR"
#: Address used when neither an argument nor ``CONNBROKER_ADDR`` is set.
DEFAULT_ADDRESS = "127.0.0.1:7700"
#: Environment variables naming PEM files for a TLS/mTLS broker (as the CLI's
#: ``--ca``, ``--cert``, ``--key``); read when no ``credentials`` are given.
ENV_CA, ENV_CERT, ENV_KEY = "CONNBROKER_CA", "CONNBROKER_CERT", "CONNBROKER_KEY"
#: Server-side default validation timeout per endpoint (see the proto).
_SERVER_VALIDATE_TIMEOUT = 10.0

_T = TypeVar("_T")


class Client(Closing):
    """A connection to one connbroker daemon.

    Args:
        address: the broker: ``host:port``, several as ``a:7700,b:7700`` (IP
            literals, or names resolved once at construction), or a gRPC
            target such as ``dns:///connbroker.ns.svc:7700`` (every address
            the name resolves to); calls are spread ``round_robin`` and a
            failed one is retried on UNAVAILABLE with backoff and jitter.
            Defaults to the environment variable ``CONNBROKER_ADDR``, then
            ``127.0.0.1:7700``.
        timeout: deadline in seconds for each call, retries included
            (validation adds the validation time on top, see :meth:`validate`).
        credentials: channel credentials for a TLS/mTLS broker, e.g.
            ``grpc.ssl_channel_credentials(...)`` or
            :func:`credentials_from_files`; ``None`` reads the files named by
            ``CONNBROKER_CA`` / ``CONNBROKER_CERT`` / ``CONNBROKER_KEY`` when
            set, else means plaintext (which the broker only accepts on
            loopback by default).
        serve_stale: keep the last params per (endpoint, driver) and serve
            them while the broker is unreachable (see
            :mod:`connbroker.resilience`); ``False`` fails every call the
            broker does not answer.
        stale_margin: seconds before the credential's ``expires_at`` at which
            kept params stop being served (default 60).
        stale_without_expiry: seconds after fetching that kept params whose
            credential has no ``expires_at`` (a password) are served (default 900).
        report_environment: send this process's environment (drivers,
            versions, the variables the drivers read; see
            :mod:`connbroker._report`) with the first
            :meth:`get_connection_params` per endpoint and driver, and again
            when it changes, for the broker's inventory.

    The client is thread-safe and cheap to keep for the life of the process;
    use it as a context manager or call :meth:`close` when done.

    Example::

        with connbroker.Client("127.0.0.1:7700") as c:
            params = c.get_connection_params("orders", driver="pymysql")
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float = 5.0,
        credentials: grpc.ChannelCredentials | None = None,
        serve_stale: bool = True,
        stale_margin: float = DEFAULT_STALE_MARGIN,
        stale_without_expiry: float = DEFAULT_STALE_WITHOUT_EXPIRY,
        report_environment: bool = True,
    ) -> None:
        """Open a (lazy) channel to the broker; no network traffic happens yet."""
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.address: str = address or os.environ.get(ENV_ADDRESS) or DEFAULT_ADDRESS
        self.timeout: float = float(timeout)
        self.report_environment: bool = report_environment
        self._kept: KeptParams | None = KeptParams(stale_margin, stale_without_expiry) if serve_stale else None
        target = channel_target(self.address)
        options = channel_options(target, self.address)
        if credentials is None:
            credentials = _credentials_from_env()
        if credentials is not None:
            self._channel: grpc.Channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        # The generated stub module has no type stubs; calls are typed below.
        self._stub: Any = broker_pb2_grpc.BrokerServiceStub(self._channel)  # type: ignore[no-untyped-call,unused-ignore]
        # The CA bundles received: the broker sends each once per client (_compact.py).
        self._cas = CAStore()

    def __repr__(self) -> str:
        """Show the address and timeout (there is nothing secret in a client)."""
        return f"Client(address={self.address!r}, timeout={self.timeout!r})"

    def _call(self, operation: str, deadline: float, fn: Callable[[float], _T]) -> _T:
        """Run ``fn(deadline)`` and map a gRPC error to a :class:`BrokerError`."""
        try:
            return fn(deadline)
        except grpc.RpcError as err:
            raise from_rpc_error(err, operation=operation, address=self.address, timeout=deadline) from None

    def get_connection_params(self, endpoint: str, driver: str = "pymysql") -> broker_pb2.ConnectionParams:
        """Fetch fresh parameters for one new physical connection.

        Args:
            endpoint: the configured endpoint name, e.g. ``"orders"``.
            driver: the client library whose hints to render, e.g. ``"pymysql"``;
                ``""`` asks for no hints.

        Returns:
            The ``ConnectionParams`` message. ``params.credential.secret`` is the
            password or IAM token: never log it. While the broker is
            unreachable these are the last params kept for (endpoint, driver),
            as long as their credential is valid for ``stale_margin`` more
            seconds (counted in :meth:`resilience_stats`).

        Raises:
            EndpointNotFound, PermissionDenied, InvalidRequest: kept params
                for the pair are forgotten too.
            BrokerUnavailable: the broker did not answer and there are no
                usable kept params (``expired_ago`` says when they expired).
            BrokerError: anything else.
            RateLimited: the caller asked too fast (kept params are not served).
        """
        req = broker_pb2.GetConnectionParamsRequest(endpoint=endpoint, driver=driver, **self._cas.request(endpoint, driver))
        report, report_key = (None, ()) if not self.report_environment else REPORTER.report(self, endpoint, driver)
        if report is not None:  # the first request per process, endpoint and driver (_report.py)
            req.client_environment.CopyFrom(report)
        op = f"GetConnectionParams(endpoint={endpoint!r}, driver={driver!r})"
        deadline = self._kept.call_timeout(self.timeout) if self._kept is not None else self.timeout
        try:
            resp: broker_pb2.GetConnectionParamsResponse = self._call(
                op, deadline, lambda t: self._stub.GetConnectionParams(req, timeout=t)
            )
        except BrokerUnavailable as err:
            if self._kept is None:
                raise
            return self._kept.serve(endpoint, driver, err)
        except (EndpointNotFound, PermissionDenied, InvalidRequest):
            if self._kept is not None:
                self._kept.forget(endpoint, driver)
            raise
        if not resp.HasField("params"):
            raise BrokerError(
                f"{op} at broker {self.address}: response has no params", operation=op, address=self.address
            )
        if report is not None:  # the broker answered: its inventory has the report
            REPORTER.sent(endpoint, driver, report_key)
        try:
            self._cas.complete(endpoint, driver, resp.params, operation=op, address=self.address)
        except ViewUnknown:
            if not req.known_view_sha256:
                raise BrokerError(
                    f"{op} at broker {self.address}: params left out for a view this client never named",
                    operation=op,
                    address=self.address,
                ) from None
            self._cas.forget_view(endpoint, driver)  # once: the whole params
            return self.get_connection_params(endpoint, driver)
        if self._kept is not None:
            self._kept.keep(endpoint, driver, resp.params, self.address)
        return resp.params

    def report_login_failure(
        self, endpoint: str, driver: str, mysql_errno: int
    ) -> broker_pb2.ReportLoginFailureResponse:
        """Tell the broker a login with its params was refused (1045 or 1698).

        The kept params for (endpoint, driver) are dropped first (they were
        refused). The broker re-reads the endpoint's credential source (a
        rotation may have happened), so the next :meth:`get_connection_params`
        returns the current secret. The driver helpers call this and retry the
        login once.

        Raises:
            BrokerError subclasses as :meth:`get_connection_params`.
        """
        if self._kept is not None:
            self._kept.forget(endpoint, driver)
        req = broker_pb2.ReportLoginFailureRequest(endpoint=endpoint, driver=driver, mysql_errno=mysql_errno)
        op = f"ReportLoginFailure(endpoint={endpoint!r}, driver={driver!r}, mysql_errno={mysql_errno})"
        resp: broker_pb2.ReportLoginFailureResponse = self._call(
            op, self.timeout, lambda t: self._stub.ReportLoginFailure(req, timeout=t)
        )
        return resp

    def resilience_stats(self) -> ResilienceStats:
        """Return how often kept params were served while the broker was away
        (for export to the app's metrics); all zero with ``serve_stale=False``."""
        if self._kept is None:
            return ResilienceStats(stale_serves=0)
        return self._kept.stats()

    def watch_connection_params(
        self, endpoint: str, driver: str = "pymysql"
    ) -> Iterator[broker_pb2.WatchConnectionParamsResponse]:
        """Stream fresh parameters: now, at each ``refresh_after``, and on rotation.

        Each item has ``params`` and ``reason`` (``WATCH_REASON_INITIAL``,
        ``..._REFRESH`` or ``..._ROTATED``). The iterator ends when the broker
        shuts down (connect again, perhaps to another replica); errors are
        raised as :class:`BrokerError` subclasses. The stream has no deadline:
        close the client (or stop iterating and call ``cancel()`` on the
        returned iterator) to end it. :class:`connbroker.watch.ParamsWatcher`
        runs this in a background thread and reconnects.
        """
        req = broker_pb2.WatchConnectionParamsRequest(endpoint=endpoint, driver=driver)
        op = f"WatchConnectionParams(endpoint={endpoint!r}, driver={driver!r})"
        stream = self._stub.WatchConnectionParams(req)
        return _WatchIterator(stream, op, self.address)

    def validate(
        self,
        endpoints: Sequence[str] = (),
        *,
        all: bool = False,  # noqa: A002 - mirrors the proto field name
        driver: str = "",
        timeout: float | None = None,
        compare_drivers: bool = False,
        client_environment: broker_pb2.ClientEnvironment | None = None,
    ) -> broker_pb2.ValidateConnectionResponse:
        """Ask the broker to log in for real to endpoints and report the result.

        A failed login is a normal result (``ok=False`` with a ``reason``), not
        an exception; exceptions mean the request itself failed.

        Args:
            endpoints: endpoint names to validate.
            all: validate every configured endpoint instead.
            driver: whose parameters to validate; ``""`` means go-sql-driver.
            timeout: per-endpoint validation timeout in seconds sent to the
                broker (``None``: the broker's default, 10 s; at most 60 s).
                The RPC deadline is the client timeout plus this timeout times
                the number of endpoints (for ``all``, as listed by the broker).
            compare_drivers: also predict how each driver profile (PyMySQL with
                and without cryptography, mysql CLI, mysql2, ...) would fare:
                each result's ``drivers``. Every result always carries the
                handshake ``transcript`` and the ``findings``.
            client_environment: the calling process's drivers, packages and
                environment (``connbroker.doctor.collect().to_proto(driver)``):
                each result's ``environment`` predicts its installed drivers.
        """
        if isinstance(endpoints, str):
            raise TypeError("endpoints must be a sequence of names, not a single string")
        req = broker_pb2.ValidateConnectionRequest(
            endpoints=list(endpoints), all=all, driver=driver, compare_drivers=compare_drivers
        )
        if client_environment is not None:
            req.client_environment.CopyFrom(client_environment)
        if timeout is not None:
            if timeout <= 0:
                raise ValueError(f"timeout must be positive, got {timeout!r}")
            req.timeout.CopyFrom(_duration(timeout))
        per_endpoint = timeout if timeout is not None else _SERVER_VALIDATE_TIMEOUT
        count = len(self.list_endpoints()) if all else len(endpoints)
        deadline = self.timeout + per_endpoint * max(1, count)
        op = f"ValidateConnection(endpoints={list(endpoints)!r}, all={all!r}, driver={driver!r})"
        resp: broker_pb2.ValidateConnectionResponse = self._call(
            op, deadline, lambda t: self._stub.ValidateConnection(req, timeout=t)
        )
        return resp

    def probe_endpoint(self, endpoint: str) -> broker_pb2.ProbeResult:
        """Ask the broker what the endpoint's server announces before any login
        (version, auth plugin, TLS, capabilities) and what its host name says.
        An unreachable server is a normal result with ``findings``."""
        req = broker_pb2.ProbeEndpointRequest(endpoint=endpoint)
        resp: broker_pb2.ProbeEndpointResponse = self._call(
            f"ProbeEndpoint(endpoint={endpoint!r})", self.timeout, lambda t: self._stub.ProbeEndpoint(req, timeout=t)
        )
        return resp.probe

    def list_endpoints(self) -> list[broker_pb2.EndpointSummary]:
        """List the configured endpoints (no credentials), sorted by name."""
        resp: broker_pb2.ListEndpointsResponse = self._call(
            "ListEndpoints()",
            self.timeout,
            lambda t: self._stub.ListEndpoints(broker_pb2.ListEndpointsRequest(), timeout=t),
        )
        return list(resp.endpoints)

    def list_inventory(self, endpoint: str = "", limit: int = 0) -> broker_pb2.ListInventoryResponse:
        """List the broker's inventory (``ListInventory``): the applications seen per endpoint.

        Only endpoints this caller may get are listed; ``store`` says whether
        the inventory is complete (``full``, ``dropped``) or kept at all
        (``enabled``).
        """
        op = f"ListInventory(endpoint={endpoint!r})"
        resp: broker_pb2.ListInventoryResponse = self._call(
            op, self.timeout, lambda t: self._stub.ListInventory(broker_pb2.ListInventoryRequest(endpoint=endpoint, limit=limit), timeout=t)
        )
        return resp

    def list_drivers(self, timeout: float | None = None) -> list[broker_pb2.DriverInfo]:
        """List the drivers the broker renders hints for, sorted by name.

        Each has its canonical name, aliases, display name and environment
        rules (package, import module, minimum version, optional packages,
        environment variables): the one list every client reads. ``timeout``
        overrides the client's deadline for this call.
        """
        resp: broker_pb2.ListDriversResponse = self._call(
            "ListDrivers()",
            self.timeout if timeout is None else min(timeout, self.timeout),
            lambda t: self._stub.ListDrivers(broker_pb2.ListDriversRequest(), timeout=t),
        )
        return list(resp.drivers)

    def _list_drivers_started(self, timeout: float) -> Callable[[], list[broker_pb2.DriverInfo]]:
        """Start :meth:`list_drivers` (deadline ``timeout``, at most the client's)
        and return a function that waits for its answer, raising as it does.

        The environment report (``_report.py``) starts it before it imports
        what it collects with, so a new process's first round trip (which
        opens the channel) and that import overlap.
        """
        deadline = min(timeout, self.timeout)
        try:
            fut = self._stub.ListDrivers.future(broker_pb2.ListDriversRequest(), timeout=deadline)
        except grpc.RpcError as err:
            raise from_rpc_error(err, operation="ListDrivers()", address=self.address, timeout=deadline) from None

        def wait() -> list[broker_pb2.DriverInfo]:
            resp: broker_pb2.ListDriversResponse = self._call("ListDrivers()", deadline, lambda t: fut.result())
            return list(resp.drivers)

        return wait

    def close(self) -> None:
        """Close the channel. Calls made afterwards fail."""
        self._channel.close()


class _WatchIterator:
    """Iterate a watch stream, mapping gRPC errors to :class:`BrokerError`."""

    def __init__(self, stream: Any, op: str, address: str) -> None:
        self._stream = stream
        self._op = op
        self._address = address

    def __iter__(self) -> _WatchIterator:
        return self

    def __next__(self) -> broker_pb2.WatchConnectionParamsResponse:
        try:
            item: broker_pb2.WatchConnectionParamsResponse = next(self._stream)
        except grpc.RpcError as err:
            raise from_rpc_error(err, operation=self._op, address=self._address, timeout=0.0) from None
        return item

    def cancel(self) -> None:
        """End the stream from the client side."""
        self._stream.cancel()


def credentials_from_files(
    ca: str | None = None, cert: str | None = None, key: str | None = None
) -> grpc.ChannelCredentials:
    """Return TLS channel credentials from PEM files.

    Args:
        ca: CA bundle to verify the broker with (``None``: the system roots).
        cert, key: client certificate and key for mTLS; give both or neither.
    """
    if (cert is None) != (key is None):
        raise ValueError("give both cert and key for mTLS, or neither")

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key), certificate_chain=read(cert))


def _credentials_from_env() -> grpc.ChannelCredentials | None:
    """Return credentials from ``CONNBROKER_CA``/``_CERT``/``_KEY``, or None when none is set."""
    ca, cert, key = (os.environ.get(n) or None for n in (ENV_CA, ENV_CERT, ENV_KEY))
    if ca is None and cert is None and key is None:
        return None
    return credentials_from_files(ca, cert, key)


def _duration(seconds: float) -> duration_pb2.Duration:
    """Return ``seconds`` as a protobuf Duration."""
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """Return the process-wide client, creating it on first use.

    It talks to ``CONNBROKER_ADDR`` (default ``127.0.0.1:7700``) without TLS,
    with the default timeout. Helpers such as :func:`connbroker.pymysql.connect`
    use it when no ``client=`` is passed.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Client | None) -> Client | None:
    """Replace the process-wide client and return the previous one.

    Pass ``None`` to forget it, so the next :func:`default_client` call builds
    a new one from ``CONNBROKER_ADDR``. The previous client is not closed.
    """
    global _default
    with _default_lock:
        previous, _default = _default, client
        return previous
