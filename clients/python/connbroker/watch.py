"""Keep fresh connection parameters in the background.

:class:`ParamsWatcher` holds a ``WatchConnectionParams`` stream open in a
daemon thread and always has the newest parameters: the broker pushes them
at each credential's ``refresh_after`` and at once when the secret rotates.
A pool's ``creator`` can read :meth:`ParamsWatcher.params` for every new
physical connection without a round trip::

    watcher = connbroker.watch.ParamsWatcher(client, "orders", driver="pymysql")
    engine = sqlalchemy.create_engine(
        "mysql+pymysql://",
        creator=lambda: pymysql.connect(**connbroker.hints.driver_kwargs(watcher.params())),
    )

When the stream ends (the broker restarts or shuts down) the watcher
reconnects with back-off. Errors that retrying cannot fix (unknown endpoint,
permission denied, invalid request) stop it; :meth:`params` then raises them.
"""

from __future__ import annotations

import threading

from connbroker._closing import Closing
from connbroker.client import Client
from connbroker.errors import BrokerError, EndpointNotFound, InvalidRequest, PermissionDenied
from connbroker.v1 import broker_pb2

__all__ = ["ParamsWatcher"]

_FATAL = (EndpointNotFound, PermissionDenied, InvalidRequest)


class ParamsWatcher(Closing):
    """Background holder of the newest ``ConnectionParams`` for one endpoint.

    Args:
        client: the broker client to stream from (not closed by the watcher).
        endpoint: the endpoint name.
        driver: the client library whose hints to render.
        min_backoff, max_backoff: reconnect delays in seconds, doubling.
    """

    def __init__(
        self,
        client: Client,
        endpoint: str,
        driver: str = "pymysql",
        *,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        """Start watching in a daemon thread."""
        self._client = client
        self._endpoint = endpoint
        self._driver = driver
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._cond = threading.Condition()
        self._params: broker_pb2.ConnectionParams | None = None
        self._error: BrokerError | None = None
        self._stream: object | None = None
        self._closed = False
        #: How many parameter sets were received (initial, refresh, rotation).
        self.updates = 0
        #: The reason of the newest update, a ``WatchReason`` value.
        self.last_reason = broker_pb2.WATCH_REASON_UNSPECIFIED
        self._thread = threading.Thread(target=self._run, name=f"connbroker-watch-{endpoint}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        """Name the endpoint and the update count; never the secret."""
        return f"ParamsWatcher(endpoint={self._endpoint!r}, updates={self.updates})"

    def params(self, timeout: float = 10.0) -> broker_pb2.ConnectionParams:
        """Return the newest parameters, waiting up to ``timeout`` for the first.

        Raises:
            BrokerError: the watch stopped for good (e.g. PermissionDenied), or
                no parameters arrived within ``timeout``.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._params is not None or self._error is not None, timeout)
            if self._error is not None:
                raise self._error
            if self._params is None:
                raise BrokerError(
                    f"no parameters for {self._endpoint!r} from broker {self._client.address} within {timeout}s",
                    operation="WatchConnectionParams",
                    address=self._client.address,
                )
            return self._params

    def wait_for_update(self, after: int, timeout: float) -> bool:
        """Wait until more than ``after`` updates were received; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.updates > after or self._error is not None, timeout)

    def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            with self._cond:
                if self._closed:
                    return
            try:
                stream = self._client.watch_connection_params(self._endpoint, self._driver)
                with self._cond:
                    self._stream = stream
                for item in stream:
                    with self._cond:
                        self._params = item.params
                        self.last_reason = item.reason
                        self.updates += 1
                        self._cond.notify_all()
                    backoff = self._min_backoff
            except _FATAL as err:
                with self._cond:
                    self._error = err
                    self._cond.notify_all()
                return
            except BrokerError:
                pass  # broker unavailable or restarting: retry below
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, backoff):
                    return
            backoff = min(backoff * 2, self._max_backoff)

    def close(self) -> None:
        """Stop watching and end the stream."""
        with self._cond:
            self._closed = True
            stream = self._stream
            self._cond.notify_all()
        cancel = getattr(stream, "cancel", None)
        if callable(cancel):
            cancel()
        self._thread.join(timeout=5)
