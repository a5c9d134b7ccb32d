"""The doctor's real login never sends the real secret where the broker's validator would not.

A fake MySQL server (raw sockets, in this process) sends a greeting without
CLIENT_SSL (or with TLS of its own, unverifiable certificate), then switches
to ``mysql_clear_password`` and records every byte it receives. The real
``connbrokerd`` serves endpoints pointing at it; ``python -m connbroker doctor``
runs against them with every driver, and the test looks for the password and
the IAM token byte for byte in what the fake server received. On the real
devstack MariaDB (verified TLS) the real login still happens.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import connbroker

from .brokerproc import serving
from .conftest import Devstack, _binaries, _free_port, _stop

PASSWORD = "doctor-attack-pw-4f2a9c81d7"
#: Every SigV4 IAM token carries this; a token reaching the server shows it.
TOKEN_MARK = b"X-Amz-Signature="
DRIVERS = ("pymysql", "aiomysql", "mysqlclient", "mysql-connector-python-pure", "sqlalchemy+pymysql")

_CAPS = 0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000 | 0x200000  # no CLIENT_SSL (0x800)


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def _read_packet(s: socket.socket, sink: bytearray) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            c = s.recv(n - len(buf))
            if not c:
                raise ConnectionError("closed")
            sink.extend(c)
            buf += c
        return buf

    head = exact(4)
    return head[3], exact(head[0] | head[1] << 8 | head[2] << 16)


class EvilServer:
    """A hostile MySQL server on 127.0.0.1: no TLS (or its own), then a switch to mysql_clear_password."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """Start listening; ``tls`` set offers TLS with an attacker's certificate."""
        self._tls = tls
        self._ln = socket.create_server(("127.0.0.1", 0))
        self.port = self._ln.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting."""
        self._stop = True
        self._ln.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self._ln.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        sink = bytearray()
        try:
            c.settimeout(10)
            caps = _CAPS | (0x800 if self._tls else 0)
            nonce = b"abcdefghijklmnopqrst"
            greeting = (
                b"\x0a8.0.36-evil\0"
                + struct.pack("<I", 7)
                + nonce[:8]
                + b"\0"
                + struct.pack("<H", caps & 0xFFFF)
                + b"\x21"
                + struct.pack("<H", 2)
                + struct.pack("<H", caps >> 16)
                + bytes([21])
                + b"\0" * 10
                + nonce[8:]
                + b"\0"
                + b"mysql_native_password\0"
            )
            c.sendall(_packet(0, greeting))
            seq, p = _read_packet(c, sink)
            if self._tls and len(p) == 32:
                c = self._tls.wrap_socket(c, server_side=True)
                seq, p = _read_packet(c, sink)
            c.sendall(_packet(seq + 1, b"\xfemysql_clear_password\0"))
            seq, p = _read_packet(c, sink)
            c.sendall(_packet(seq + 1, b"\xff" + struct.pack("<H", 1045) + b"#28000Access denied (evil)"))
            while c.recv(4096):
                pass
        except (OSError, ConnectionError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.received += sink
            c.close()


def _self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)

    cert = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(subj)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


@dataclass
class _World:
    broker_addr: str
    plain: EvilServer
    tls: EvilServer
    endpoints: dict[str, str]  # name -> "iam" or "password"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_World]:
    """The real connbrokerd with endpoints in front of two hostile servers."""
    tmp = tmp_path_factory.mktemp("doctor-guard")
    broker_bin, _ = _binaries(tmp)
    # The endpoint's CA: the hostile servers never present a certificate of it.
    ca_pem, _ = _self_signed("endpoint CA")
    (tmp / "ca.pem").write_bytes(ca_pem)
    cert, key = _self_signed("attacker")
    (tmp / "evil.pem").write_bytes(cert)
    (tmp / "evil-key.pem").write_bytes(key)
    evil_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    evil_tls.load_cert_chain(tmp / "evil.pem", tmp / "evil-key.pem")
    plain, tls = EvilServer(), EvilServer(evil_tls)
    (tmp / "pw").write_text(PASSWORD)
    verify = f"{{mode: verify-identity, ca: {tmp / 'ca.pem'}}}"
    eps = {
        # name: (auth, server, tls)
        "iam-verify": ("iam", plain, verify),
        "iam-verify-tls": ("iam", tls, verify),
        "pw-verify": ("password", plain, verify),
        "pw-disabled": ("password", plain, "{mode: disabled}"),
        "pw-preferred": ("password", plain, "{mode: preferred}"),
        "pw-required": ("password", tls, "{mode: required}"),
    }
    lines = []
    for name, (auth, srv, tls_cfg) in eps.items():
        lines.append(
            f"  {name}:\n    host: 127.0.0.1\n    port: {srv.port}\n    user: app\n"
            f"    auth: {auth}\n    tls: {tls_cfg}\n"
        )
        lines.append("    region: us-east-1\n" if auth == "iam" else f"    password: {{file: {tmp / 'pw'}}}\n")
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_REGION": "us-east-1",
    }
    try:
        with _broker(broker_bin, tmp, "".join(lines), env) as addr:
            yield _World(addr, plain, tls, {n: a for n, (a, _, _) in eps.items()})
    finally:
        plain.close()
        tls.close()


@contextlib.contextmanager
def _broker(broker_bin: Path, tmp: Path, endpoints: str, aws: dict[str, str]) -> Iterator[str]:
    """Run connbrokerd with these endpoints (YAML under ``endpoints:``) and AWS keys; yield its address."""
    addr = f"127.0.0.1:{_free_port()}"
    cfg = tmp / "config.yaml"
    cfg.write_text(f"listen: {addr}\nendpoints:\n" + endpoints)
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **aws,
    }
    with serving(broker_bin, cfg, args=("--dev",), env=env):
        yield addr


class StrippingMITM:
    """A man in the middle on 127.0.0.1 in front of a real server.

    It clears CLIENT_SSL in the greeting and records what the client sends.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        """Start listening in front of ``upstream``."""
        self._up = upstream
        self._ln = socket.create_server(("127.0.0.1", 0))
        self.port = self._ln.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting."""
        self._ln.close()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self._ln.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        try:
            up = socket.create_connection(self._up, timeout=10)
        except OSError:
            c.close()
            return
        try:
            _, g = _read_packet(up, bytearray())
            i = g.index(b"\0", 1) + 1 + 4 + 9  # version NUL, connection id, auth data 1 + filler
            caps = struct.unpack_from("<H", g, i)[0] & ~0x800
            g = g[:i] + struct.pack("<H", caps) + g[i + 2 :]
            c.sendall(_packet(0, g))

            def back() -> None:
                try:
                    while data := up.recv(65536):
                        c.sendall(data)
                except OSError:
                    pass
                c.close()

            threading.Thread(target=back, daemon=True).start()
            while data := c.recv(65536):
                with self._lock:
                    self.received += data
                up.sendall(data)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            up.close()
            c.close()


def test_doctor_token_never_leaves_through_a_tls_stripping_mitm(
    devstack: Devstack, tmp_path: Path
) -> None:
    """A man in the middle strips TLS in front of the real MariaDB PAM IAM account: no real login gives it the token.

    With this venv's drivers the guard is not what saves the token here
    (PyMySQL 1.2 refuses a server without TLS once ssl_ca is set, aiomysql does
    not answer MariaDB's PAM exchange without TLS); the test keeps it that way
    for every driver, and the broker's own validation and diagnosis of the
    endpoint run against the same man in the middle.
    """
    devstack.require_iam()
    host, port = devstack.mariadb_addr.rsplit(":", 1)
    mitm = StrippingMITM((host, int(port)))
    aws = {
        "AWS_ACCESS_KEY_ID": devstack.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": devstack.aws_secret_access_key,
        "AWS_REGION": devstack.aws_region,
    }
    eps = (
        f"  iam-mitm:\n    host: 127.0.0.1\n    port: {mitm.port}\n    user: app_iam\n    auth: iam\n"
        f"    region: {devstack.aws_region}\n    tls: {{mode: verify-identity, ca: {devstack.ca_file}}}\n"
    )
    broker_bin, _ = _binaries(tmp_path)
    try:
        with _broker(broker_bin, tmp_path, eps, aws) as addr:
            for driver in DRIVERS:
                n = mitm.connections
                rep = _doctor(addr, "iam-mitm", driver)
                assert not rep["real_login"]["ok"], rep["real_login"]
                time.sleep(0.2)
                assert mitm.connections > n, f"{driver}: no connection through the man in the middle"
                assert TOKEN_MARK not in mitm.received, f"{driver}: the man in the middle got the token"
    finally:
        mitm.close()


def _doctor(addr: str, endpoint: str, driver: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "connbroker", "doctor", endpoint, "--driver", driver, "-o", "json", "--broker", addr],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rep: dict = json.loads(proc.stdout)
    return rep


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "endpoint", ["iam-verify", "iam-verify-tls", "pw-verify", "pw-disabled", "pw-preferred", "pw-required"]
)
def test_doctor_never_sends_the_secret_unverified(world: _World, endpoint: str, driver: str) -> None:
    servers = (world.plain, world.tls)
    before = [(s.connections, len(s.received)) for s in servers]
    rep = _doctor(world.broker_addr, endpoint, driver)
    login = rep["real_login"]
    assert not login["ok"], login
    assert login["guard"] in ("driver", "relay", "dummy"), login
    time.sleep(0.2)  # the fake server records a connection when it ends
    got = b"".join(bytes(s.received[n:]) for s, (_, n) in zip(servers, before, strict=True))
    assert sum(s.connections - c for s, (c, _) in zip(servers, before, strict=True)) > 0, "no connection: no attack"
    assert PASSWORD.encode() not in got, f"the fake server received the password ({login})"
    assert TOKEN_MARK not in got, f"the fake server received an IAM token ({login})"
    if login["guard"] == "relay" and endpoint.startswith("pw-") and not endpoint.endswith("verify"):
        # the relay withheld the answer to the switch to mysql_clear_password,
        # unless the driver refused the switch by itself (it saw the switch)
        refused = "mysql_clear_password requires SSL" in login["error"]
        assert refused or "mysql_clear_password" in login["withheld"], login


def test_dummy_secret_when_neither_driver_nor_relay_can_protect_it(
    world: _World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mysqlclient on a verify-identity endpoint, had it not insisted on verified TLS itself: a dummy secret."""
    from connbroker import _guard, doctor

    monkeypatch.setattr(_guard, "driver_insists", lambda *a: False)
    seen: list[str] = []
    real_dummy = _guard.dummy_secret

    def dummy() -> str:
        seen.append(real_dummy())
        return seen[-1]

    monkeypatch.setattr(_guard, "dummy_secret", dummy)
    n = world.plain.connections
    with connbroker.Client(world.broker_addr, timeout=10) as c:
        login = doctor.real_login(c, "iam-verify", "mysqlclient")
    assert login.guard == "dummy" and not login.ok and seen, login
    time.sleep(0.2)
    assert world.plain.connections > n
    assert TOKEN_MARK not in world.plain.received


@pytest.mark.parametrize(
    ("driver", "kwargs", "mode", "want"),
    [
        ("mysqlclient", {"ssl_mode": "VERIFY_IDENTITY"}, "VERIFY_IDENTITY", True),
        ("mysqlclient", {"ssl_mode": "VERIFY_CA"}, "VERIFY_IDENTITY", False),
        ("mysqlclient", {"ssl_mode": "VERIFY_CA"}, "VERIFY_CA", True),
        ("mysqlclient", {"ssl_mode": "REQUIRED"}, "REQUIRED", False),
        ("sqlalchemy+mysqlclient", {"ssl_mode": "VERIFY_IDENTITY"}, "VERIFY_IDENTITY", True),
        ("mysql-connector-python", {"ssl_verify_cert": True, "ssl_verify_identity": True}, "VERIFY_IDENTITY", True),
        ("mysql-connector-python", {"ssl_verify_cert": True}, "VERIFY_IDENTITY", False),
        ("mysql-connector-python", {"ssl_verify_cert": True, "ssl_disabled": True}, "VERIFY_CA", False),
        ("pymysql", {"ssl_verify_cert": True, "ssl_verify_identity": True}, "VERIFY_IDENTITY", False),
        ("aiomysql", {"ssl": {}}, "VERIFY_IDENTITY", False),
    ],
)
def test_driver_insists(driver: str, kwargs: dict, mode: str, want: bool) -> None:
    from connbroker import _guard
    from connbroker.v1 import broker_pb2

    params = broker_pb2.ConnectionParams(tls=broker_pb2.TLSSettings(mode=broker_pb2.TLSMode.Value("TLS_MODE_" + mode)))
    assert _guard.driver_insists(driver, kwargs, params) is want


@pytest.mark.parametrize("driver", ["pymysql", "aiomysql", "sqlalchemy+pymysql", "mysqlclient"])
def test_doctor_real_login_over_verified_tls(devstack: Devstack, driver: str) -> None:
    """On the real MariaDB with verified TLS, the real IAM token still logs in (PAM, clear text inside TLS)."""
    devstack.require_iam()
    proc = subprocess.run(
        [sys.executable, "-m", "connbroker", "doctor", "local-iam", "--driver", driver, "-o", "json"]
        + ["--broker", devstack.broker_addr],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rep = json.loads(proc.stdout)
    login = rep["real_login"]
    assert login["ok"] and login["current_user"].startswith("app_iam@"), login
    assert login["guard"] == ("driver" if driver == "mysqlclient" else "relay"), login
    assert not login["withheld"]
