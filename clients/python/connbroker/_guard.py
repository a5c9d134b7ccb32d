"""The doctor's guard: its real login never sends a secret the broker's validator would not.

``python -m connbroker doctor`` logs in for real with the application's driver
and the broker's hints. Several drivers carry on in plain text when the server
offers no TLS (or a man in the middle strips it from the greeting: aiomysql,
PyMySQL before 1.2) and answer a switch to ``mysql_clear_password`` or
``sha256_password`` with the secret. The broker's own login
(``broker/validate/guard.go``) withholds the secret in those cases; this module
applies the same rule to the doctor's login.

Design (why not a pre-flight TLS check: a hostile server can offer TLS to a
first connection and strip it from the second). The rule is enforced on the
connection that carries the secret, in one of two ways:

* **The driver insists on verified TLS by itself** (:func:`driver_insists`):
  mysqlclient with ``ssl_mode`` VERIFY_CA/VERIFY_IDENTITY (2.2+) and
  mysql-connector-python with ``ssl_verify_cert`` refuse a server without TLS
  before they send the login and verify the certificate. On such an endpoint
  (tls mode verify-ca or verify-identity) the login goes straight to the
  server, exactly as in the application.
* **Otherwise a relay** (:class:`Guard`) in this process sits between the
  driver and the server and follows the connection phase packet by packet.
  On a verify-ca/verify-identity endpoint the driver's first packet must be
  the SSLRequest; then the relay copies bytes untouched: the TLS runs from the
  driver to the server, and the driver's own certificate check (the hints' CA
  and host name) protects the login. So that check stays the real one, the
  driver keeps its host name: PyMySQL gets one end of a socket pair
  (``connect(sock=...)``), aiomysql a Unix socket in a private directory (its
  TLS still checks ``host``). A plain-text login packet is never forwarded.
  On an endpoint whose TLS does not verify the server (disabled, preferred,
  required) the relay forwards the driver's answers only for a scramble
  plugin (mysql_native_password, caching_sha2_password's fast path,
  client_ed25519) or the endpoint's configured plugin, and no packet that
  would reveal the secret (clear text, RSA to a key the server handed out,
  caching_sha2 full authentication). The server's AuthSwitchRequest itself
  reaches the driver, so a driver that refuses a plugin by itself still says
  so, as it would in the application. When the driver asks for TLS there, the
  relay terminates it locally (a throwaway certificate; the driver does not
  verify in these modes) and makes the endpoint's own unverified TLS
  connection upstream, so it can still read the auth exchange.
* **Neither** (mysqlclient or mysql-connector-python on a verify-identity
  endpoint they do not verify by themselves, e.g. older versions): the login
  runs with a dummy secret, and the report says so. It still shows whether the
  driver reaches the server's password check and with which plugin.

When the relay stops a login, :attr:`Guard.withheld` says why in plain words;
the driver sees a closed connection.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from importlib import metadata
from typing import Any

from connbroker.v1 import broker_pb2

__all__ = ["Guard", "dummy_secret", "driver_insists", "verifies"]

_CLIENT_CONNECT_WITH_DB = 0x8
_CLIENT_PROTOCOL_41 = 0x200
_CLIENT_SSL = 0x800
_CLIENT_SECURE_CONNECTION = 0x8000
_CLIENT_PLUGIN_AUTH = 0x80000
_CLIENT_PLUGIN_AUTH_LENENC = 0x200000

_NATIVE = "mysql_native_password"
_CACHING_SHA2 = "caching_sha2_password"
_SHA256 = "sha256_password"
_CLEAR = "mysql_clear_password"
_DIALOG = "dialog"
#: Plugins that never put the secret on the wire (a nonce-bound hash or
#: signature); caching_sha2_password's full authentication is checked apart.
_SCRAMBLE = frozenset({_NATIVE, _CACHING_SHA2, "client_ed25519"})

_PHASE_TIMEOUT = 30.0  # seconds for each read of the connection phase
_IDLE_TIMEOUT = 120.0  # seconds without traffic after the login


def verifies(params: broker_pb2.ConnectionParams) -> bool:
    """Whether the endpoint's TLS mode verifies the server (verify-ca, verify-identity)."""
    return params.tls.mode in (broker_pb2.TLS_MODE_VERIFY_CA, broker_pb2.TLS_MODE_VERIFY_IDENTITY)


def _version_at_least(dist: str, want: tuple[int, ...]) -> bool:
    try:
        v = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    parts: list[int] = []
    for p in v.split(".")[: len(want)]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) >= want


def driver_insists(driver: str, kwargs: dict[str, Any], params: broker_pb2.ConnectionParams) -> bool:
    """Whether ``driver`` with ``kwargs`` refuses to log in without TLS verified as the endpoint requires.

    Only for verify-ca/verify-identity endpoints; the rules are those of the
    drivers' sources (mysqlclient 2.2 sets MariaDB Connector/C's
    ``MYSQL_OPT_SSL_ENFORCE`` and ``MYSQL_OPT_SSL_VERIFY_SERVER_CERT`` from
    ``ssl_mode``; mysql-connector-python raises "SSL is required but the
    server doesn't support it" when ``ssl_verify_cert`` is set).
    """
    if not verifies(params):
        return False
    identity = params.tls.mode == broker_pb2.TLS_MODE_VERIFY_IDENTITY
    base = driver.removeprefix("sqlalchemy+")
    if base == "mysqlclient":
        mode = str(kwargs.get("ssl_mode", "")).upper()
        return _version_at_least("mysqlclient", (2, 2)) and (
            mode == "VERIFY_IDENTITY" or (mode == "VERIFY_CA" and not identity)
        )
    if base in ("mysql-connector-python", "mysql-connector-python-pure", "mysqlconnector"):
        return (
            not kwargs.get("ssl_disabled")
            and bool(kwargs.get("ssl_verify_cert"))
            and (bool(kwargs.get("ssl_verify_identity")) or not identity)
        )
    return False


def dummy_secret() -> str:
    """Return a random stand-in for the real secret (it reaches the server's password check, never more)."""
    return "connbroker-doctor-dummy-" + secrets.token_hex(12)


class _Withheld(Exception):
    """The relay stopped the login (the message says why)."""


def _read_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _read_packet(s: socket.socket) -> tuple[int, bytes]:
    head = _read_exact(s, 4)
    n = head[0] | head[1] << 8 | head[2] << 16
    return head[3], _read_exact(s, n)


def _write_packet(s: socket.socket, seq: int, payload: bytes) -> None:
    s.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def _greeting_plugin(p: bytes) -> str:
    """The auth plugin of a Protocol::HandshakeV10 (empty when it has none)."""
    try:
        i = p.index(b"\0", 1) + 1  # protocol version, server version
        i += 4 + 8 + 1  # connection id, auth data part 1, filler
        caps = struct.unpack_from("<H", p, i)[0]
        i += 2 + 1 + 2  # capabilities (low), charset, status
        caps |= struct.unpack_from("<H", p, i)[0] << 16
        i += 2
        data_len = p[i]
        i += 1 + 10
        if caps & _CLIENT_SECURE_CONNECTION:
            i += max(13, data_len - 8)
        if caps & _CLIENT_PLUGIN_AUTH:
            return p[i:].split(b"\0", 1)[0].decode("ascii", "replace")
    except (ValueError, IndexError, struct.error):
        pass
    return ""


def _parse_response(p: bytes) -> tuple[str, bytes] | None:
    """Return (plugin, auth response) of a Protocol::HandshakeResponse41, or None."""
    if len(p) < 32:
        return None
    caps = struct.unpack_from("<I", p)[0]
    if not caps & _CLIENT_PROTOCOL_41:
        return None
    rest = p[32:]
    i = rest.find(b"\0")  # user
    if i < 0:
        return None
    rest = rest[i + 1 :]
    if caps & (_CLIENT_PLUGIN_AUTH_LENENC | _CLIENT_SECURE_CONNECTION):
        if not rest or rest[0] >= 0xFB or len(rest) < 1 + rest[0]:
            return None
        resp, rest = rest[1 : 1 + rest[0]], rest[1 + rest[0] :]
    else:
        i = rest.find(b"\0")
        if i < 0:
            return None
        resp, rest = rest[:i], rest[i + 1 :]
    if caps & _CLIENT_CONNECT_WITH_DB:
        i = rest.find(b"\0")
        if i < 0:
            return None
        rest = rest[i + 1 :]
    plugin = rest.split(b"\0", 1)[0].decode("ascii", "replace") if caps & _CLIENT_PLUGIN_AUTH else ""
    return plugin, resp


_local_lock = threading.Lock()
_local_ctx: ssl.SSLContext | None = None


def _local_server_context() -> ssl.SSLContext:
    """The relay's side of the driver's TLS: a throwaway self-signed certificate."""
    global _local_ctx
    with _local_lock:
        if _local_ctx is not None:
            return _local_ctx
        try:
            import datetime

            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
        except ImportError as e:
            raise _Withheld(
                "the driver asked for TLS on an endpoint whose TLS does not verify the server; the doctor reads "
                "the login inside that TLS with a local certificate and needs the cryptography package for it "
                "(pip install cryptography)"
            ) from e
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connbroker-doctor.invalid")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        d = tempfile.mkdtemp(prefix="connbroker-doctor-tls-")  # mode 0700
        try:
            cf, kf = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            with open(cf, "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
            fd = os.open(kf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cf, kf)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        _local_ctx = ctx
        return ctx


class Guard:
    """A one-connection relay between the driver and the endpoint's server (see the module doc)."""

    def __init__(self, params: broker_pb2.ConnectionParams, secret: str | None = None) -> None:
        """Prepare the relay for ``params`` (host, TLS, plugin); ``secret`` when the driver's differs from params'."""
        self._addr = (params.host, params.port)
        self._verifies = verifies(params)
        self._secret = (params.credential.secret if secret is None else secret).encode("utf-8")
        self._allowed = params.resolution.plugin if params.credential.kind == broker_pb2.CREDENTIAL_KIND_PASSWORD else ""
        self._server_name = params.tls.server_name or params.host
        self._tls_mode = params.tls.mode
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._dir: str | None = None
        self._lock = threading.Lock()
        self._withheld = ""
        self._plugin = ""
        self._full_auth = False
        self._key_given = False

    @property
    def withheld(self) -> str:
        """Why the relay stopped the login before the secret left, or ""."""
        with self._lock:
            return self._withheld

    def socketpair(self) -> socket.socket:
        """Return the driver's end of a relayed socket pair (for ``pymysql`` ``connect(sock=...)``)."""
        mine, theirs = socket.socketpair()
        self._start(lambda: mine)
        return theirs

    def listen_tcp(self) -> tuple[str, int]:
        """Listen on 127.0.0.1 for one driver connection; return (host, port).

        For endpoints whose TLS does not verify the server only: the driver
        then talks to 127.0.0.1, which changes no certificate check. Another
        local process that connects first gets only its own relayed
        connection (and the driver a refused one): nothing of the driver's.
        """
        ln = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ln.bind(("127.0.0.1", 0))
        ln.listen(1)
        ln.settimeout(_PHASE_TIMEOUT)
        self._listener = ln
        self._start(self._accept)
        host, port = ln.getsockname()[:2]
        return str(host), int(port)

    def listen_unix(self) -> str:
        """Listen on a Unix socket in a private (0700) directory for one driver connection; return its path."""
        self._dir = tempfile.mkdtemp(prefix="connbroker-doctor-")
        path = os.path.join(self._dir, "relay.sock")
        ln = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ln.bind(path)
        ln.listen(1)
        ln.settimeout(_PHASE_TIMEOUT)
        self._listener = ln
        self._start(self._accept)
        return path

    def close(self) -> None:
        """Stop listening and wait for the relay to end (the driver closed its side)."""
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=_PHASE_TIMEOUT)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> socket.socket:
        assert self._listener is not None
        try:
            c, _ = self._listener.accept()
        finally:
            self._listener.close()
        return c

    def _start(self, get_down: Any) -> None:
        def run() -> None:
            try:
                down = get_down()
            except OSError:
                return
            self._serve(down)

        self._thread = threading.Thread(target=run, name="connbroker-doctor-guard", daemon=True)
        self._thread.start()

    def _withhold(self, plugin: str, step: str) -> None:
        with self._lock:
            if not self._withheld:
                self._withheld = (
                    f"the server asked for {plugin or 'an unknown plugin'} ({step}) and this endpoint's TLS "
                    "does not verify the server here; the doctor did not send the secret"
                )
        raise _Withheld(self._withheld)

    def _serve(self, down: socket.socket) -> None:
        up: socket.socket | None = None
        try:
            down.settimeout(_PHASE_TIMEOUT)
            up = socket.create_connection(self._addr, timeout=_PHASE_TIMEOUT)
            seq, greeting = _read_packet(up)
            _write_packet(down, seq, greeting)
            if not greeting or greeting[0] == 0xFF:
                return
            self._plugin = _greeting_plugin(greeting)
            seq, first = _read_packet(down)
            if len(first) == 32 and struct.unpack_from("<I", first)[0] & _CLIENT_SSL:
                _write_packet(up, seq, first)
                if self._verifies:
                    # The driver's TLS runs to the server; its certificate
                    # check (the hints' CA and host name) protects the rest.
                    _pipe(down, up)
                    return
                up = self._upstream_tls(up)
                down = _local_server_context().wrap_socket(down, server_side=True)
                seq, first = _read_packet(down)
            elif self._verifies:
                with self._lock:
                    self._withheld = (
                        "the driver would have logged in without TLS (the server, or a man in the middle, offered "
                        "none) on an endpoint whose TLS must verify the server; the doctor did not send the login"
                    )
                return
            parsed = _parse_response(first)
            if parsed is None:
                self._withhold(self._plugin, "a login packet the doctor cannot read")
                return
            if parsed[0]:
                self._plugin = parsed[0]
            self._check(parsed[1])
            _write_packet(up, seq, first)
            self._auth(up, down)
            _pipe(down, up)
        except (_Withheld, OSError, ConnectionError, ssl.SSLError):
            pass
        finally:
            for s in (up, down):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def _upstream_tls(self, up: socket.socket) -> socket.socket:
        """The endpoint's own TLS to the server: encrypted, not verified (tls mode required or preferred)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sni = self._server_name if self._server_name and not _is_ip(self._server_name) else None
        return ctx.wrap_socket(up, server_hostname=sni)

    def _auth(self, up: socket.socket, down: socket.socket) -> None:
        """Relay the auth exchange until the server's OK or ERR, withholding revealing packets."""
        while True:
            src = _ready(up, down, _PHASE_TIMEOUT)
            if src is None:
                return
            if src is up:
                seq, p = _read_packet(up)
                if not p:
                    return
                kind = p[0]
                if kind == 0xFE:  # AuthSwitchRequest
                    plugin = p[1:].split(b"\0", 1)[0].decode("ascii", "replace")
                    # The switch itself carries no secret: the driver sees it
                    # and reacts as in the application (some refuse by
                    # themselves); _check withholds its answer.
                    self._plugin, self._full_auth, self._key_given = plugin, False, False
                elif kind == 0x01:  # AuthMoreData
                    data = p[1:]
                    if self._plugin == _CACHING_SHA2 and data == b"\x04":
                        self._full_auth = True
                    if b"-----BEGIN" in data:
                        self._key_given = True
                _write_packet(down, seq, p)
                if kind in (0x00, 0xFF):  # OK, ERR: the connection phase is over
                    return
            else:
                seq, p = _read_packet(down)
                self._check(p)
                _write_packet(up, seq, p)

    def _check(self, resp: bytes) -> None:
        """Raise _Withheld when ``resp``, the driver's answer in the current state, would reveal the secret."""
        plugin = self._plugin
        if not self._secret or not resp or (plugin and plugin == self._allowed):
            return
        step = ""
        if self._key_given:
            step = "the password RSA-encrypted to the public key the server handed out"
        elif plugin in (_CLEAR, _DIALOG):
            step = "the secret in clear text"
        elif plugin == _SHA256 and resp not in (b"\x00", b"\x01"):
            step = "the password in clear text"
        elif plugin == _CACHING_SHA2 and self._full_auth and resp != b"\x02":
            step = "full authentication: the password in clear text"
        elif plugin not in _SCRAMBLE:
            step = "an answer of a plugin this endpoint does not allow without verified TLS"
        elif len(self._secret) >= 8 and self._secret in resp:
            step = "the secret in clear text"
        if step:
            self._withhold(plugin, step)


def _is_ip(name: str) -> bool:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, name)
            return True
        except OSError:
            pass
    return False


def _ready(a: socket.socket, b: socket.socket, timeout: float) -> socket.socket | None:
    """The socket with data to read first (TLS-buffered data counts), or None on timeout."""
    for s in (a, b):
        if isinstance(s, ssl.SSLSocket) and s.pending():
            return s
    r, _, _ = select.select([a, b], [], [], timeout)
    return r[0] if r else None


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes or both are idle."""
    while True:
        src = _ready(a, b, _IDLE_TIMEOUT)
        if src is None:
            return
        data = src.recv(65536)
        if not data:
            return
        (b if src is a else a).sendall(data)
