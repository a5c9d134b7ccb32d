"""The Python client against a real connbrokerd that requires client certificates.

The broker runs with mTLS and a policy: the caller identity is the URI SAN
(SPIFFE ID) of the client certificate made here with ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import connbroker
from connbroker.errors import BrokerUnavailable, PermissionDenied
from connbroker.v1 import broker_pb2
from connbroker.watch import ParamsWatcher

from .brokerproc import serving
from .conftest import _binaries, _free_port

SECRET = "python-mtls-password-2c4d"
APP_ID = "spiffe://prod/ns/app/sa/api"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass
class _CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, sans: list[x509.GeneralName], server: bool) -> tuple[bytes, bytes]:
        """Return (cert PEM, key PEM) of a leaf with the given SANs."""
        k = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
            .issuer_name(self.cert.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(k)


def _new_ca(name: str) -> _CA:
    k = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(k, hashes.SHA256())
    )
    return _CA(cert, k)


@dataclass
class _Broker:
    addr: str
    ca: _CA
    watch_pw: Path


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Broker]:
    """Run connbrokerd with mTLS and a policy; stop it by its PID at the end."""
    tmp = tmp_path_factory.mktemp("mtls")
    broker_bin, _ = _binaries(tmp)
    ca = _new_ca("python mtls CA")
    srv_cert, srv_key = ca.issue([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], server=True)
    (tmp / "server.pem").write_bytes(srv_cert)
    (tmp / "server-key.pem").write_bytes(srv_key)
    (tmp / "ca.pem").write_bytes(ca.pem)
    (tmp / "pw").write_text(SECRET)
    (tmp / "watch-pw").write_text("watch-first")
    addr = f"127.0.0.1:{_free_port()}"
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
listen: {addr}
watch: {{poll: 100ms}}
tls: {{cert: {tmp / "server.pem"}, key: {tmp / "server-key.pem"}, client_ca: {tmp / "ca.pem"}}}
endpoints:
  app-db:
    host: 127.0.0.1
    user: app
    auth: password
    password: {{file: {tmp / "pw"}}}
    tls: {{mode: disabled}}
  watch-db:
    host: 127.0.0.1
    user: app
    auth: password
    password: {{file: {tmp / "watch-pw"}}}
    tls: {{mode: disabled}}
  admin-db:
    host: 127.0.0.1
    user: admin
    auth: password
    password: {{file: {tmp / "pw"}}}
    tls: {{mode: disabled}}
policy:
  - caller: spiffe://prod/ns/app/**
    endpoints: [app-db, watch-db]
"""
    )
    with serving(broker_bin, cfg):
        yield _Broker(addr, ca, tmp / "watch-pw")
    assert SECRET not in (tmp / "broker.log").read_text(errors="replace"), "the secret appears in the broker's log"


def _client(b: _Broker, spiffe_id: str | None, ca: _CA | None = None) -> connbroker.Client:
    chain = key = None
    if spiffe_id is not None:
        chain, key = (ca or b.ca).issue([x509.UniformResourceIdentifier(spiffe_id)], server=False)
    creds = grpc.ssl_channel_credentials(root_certificates=b.ca.pem, private_key=key, certificate_chain=chain)
    return connbroker.Client(b.addr, timeout=10, credentials=creds)


def test_allowed_caller_gets_params(mtls_broker: _Broker) -> None:
    with _client(mtls_broker, APP_ID + "-worker") as c:
        p = c.get_connection_params("app-db")
        assert p.credential.secret == SECRET
        assert [e.name for e in c.list_endpoints()] == ["app-db", "watch-db"]


def test_denied_caller_gets_permission_denied(mtls_broker: _Broker) -> None:
    with _client(mtls_broker, APP_ID) as c, pytest.raises(PermissionDenied) as ei:
        c.get_connection_params("admin-db")
    assert '"admin-db"' in str(ei.value)
    assert SECRET not in str(ei.value)
    with _client(mtls_broker, "spiffe://prod/ns/other/sa/x") as c, pytest.raises(PermissionDenied):
        c.get_connection_params("app-db")


def test_missing_or_foreign_certificate_is_refused(mtls_broker: _Broker) -> None:
    with _client(mtls_broker, None) as c, pytest.raises(BrokerUnavailable):
        c.get_connection_params("app-db")
    with _client(mtls_broker, APP_ID, ca=_new_ca("foreign CA")) as c, pytest.raises(BrokerUnavailable):
        c.get_connection_params("app-db")




def test_watcher_follows_rotation(mtls_broker: _Broker) -> None:
    with _client(mtls_broker, APP_ID) as c, ParamsWatcher(c, "watch-db") as w:
        assert w.params().credential.secret == "watch-first"
        assert w.last_reason == broker_pb2.WATCH_REASON_INITIAL
        seen = w.updates
        mtls_broker.watch_pw.write_text("watch-rotated-secret")
        assert w.wait_for_update(seen, timeout=5), "no update after the password file rotated"
        assert w.params().credential.secret == "watch-rotated-secret"
        assert w.last_reason == broker_pb2.WATCH_REASON_ROTATED
        assert "watch-rotated-secret" not in repr(w)


def test_watcher_stops_on_permission_denied(mtls_broker: _Broker) -> None:
    with _client(mtls_broker, APP_ID) as c, ParamsWatcher(c, "admin-db") as w:
        with pytest.raises(PermissionDenied):
            w.params(timeout=5)


def test_client_reads_tls_files_from_env(mtls_broker: _Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chain, key = mtls_broker.ca.issue([x509.UniformResourceIdentifier(APP_ID)], server=False)
    for name, data in (("ca.pem", mtls_broker.ca.pem), ("me.pem", chain), ("me-key.pem", key)):
        (tmp_path / name).write_bytes(data)
    monkeypatch.setenv("CONNBROKER_CA", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("CONNBROKER_CERT", str(tmp_path / "me.pem"))
    monkeypatch.setenv("CONNBROKER_KEY", str(tmp_path / "me-key.pem"))
    with connbroker.Client(mtls_broker.addr, timeout=10) as c:
        assert c.get_connection_params("app-db").credential.secret == SECRET
    monkeypatch.delenv("CONNBROKER_KEY")
    with pytest.raises(ValueError, match="both cert and key"):
        connbroker.Client(mtls_broker.addr)
