"""End-to-end tests: the real connbrokerd, a real MariaDB, real PyMySQL.

Everything here goes through the ``devstack`` session fixture (conftest.py);
nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

import connbroker
from connbroker.v1 import broker_pb2

from .conftest import Devstack

pytestmark = pytest.mark.integration

LOGINS = [
    # endpoint, CURRENT_USER()
    ("local-native", "app_native@%"),
    ("local-tls", "app_tls@%"),
    ("local-ed25519", "app_ed25519@%"),
    ("local-iam", "app_iam@%"),
    ("local-plain", "app_native@%"),
]
# Endpoints the brief requires to work with nothing but PyMySQL installed.
CORE = [e for e in LOGINS if e[0] in ("local-native", "local-tls", "local-iam")]


def _query_one(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


# --- 1. connbroker.pymysql.connect with nothing else ---------------------------------


def _require_endpoint(devstack: Devstack, endpoint: str) -> None:
    """Fail when devstack lacks the endpoint: every endpoint is required."""
    if endpoint == "local-iam":
        devstack.require_iam()
    elif endpoint not in devstack.endpoints and (endpoint, _user(endpoint)) not in CORE:
        pytest.fail(f"devstack has no endpoint {endpoint}")


def _user(endpoint: str) -> str:
    return dict(LOGINS)[endpoint]


@pytest.mark.parametrize(("endpoint", "user"), CORE)
def test_pymysql_connect(devstack: Devstack, endpoint: str, user: str) -> None:
    """Connect with only the endpoint name (default client from CONNBROKER_ADDR)."""
    _require_endpoint(devstack, endpoint)
    with devstack.client() as c:
        tls_required = c.get_connection_params(endpoint, driver="pymysql").resolution.tls_required
    conn = connbroker.pymysql.connect(endpoint)
    try:
        assert _query_one(conn, "SELECT CURRENT_USER()")[0] == user
        cipher = _query_one(conn, "SHOW STATUS LIKE 'Ssl_cipher'")
        if endpoint in ("local-tls", "local-iam") or tls_required:
            assert cipher is not None and cipher[1], f"{endpoint}: session is not encrypted"
    finally:
        conn.close()


@pytest.mark.parametrize(("endpoint", "user"), LOGINS)
def test_params_contract(devstack: Devstack, broker: connbroker.Client, endpoint: str, user: str) -> None:
    """The hints follow the proto contract: driver pymysql, the secret only via
    secret_option, integral numbers, verified TLS for TLS endpoints."""
    _require_endpoint(devstack, endpoint)
    params = broker.get_connection_params(endpoint, driver="pymysql")
    assert params.endpoint == endpoint
    assert params.hints.driver == "pymysql"
    assert params.hints.secret_option == "password"
    assert params.credential.secret
    opts = connbroker.hints.options_dict(params.hints.options)
    assert params.credential.secret not in repr(opts), "the secret must not be in hints.options"
    assert "password" not in opts and "passwd" not in opts
    kw = connbroker.driver_kwargs(params)
    assert kw["password"] == params.credential.secret
    assert kw.get("host") == params.host
    assert kw.get("port") == params.port and type(kw["port"]) is int
    assert kw.get("user") == params.user
    for key, value in kw.items():
        if isinstance(value, str):
            assert "{ca_file}" not in value, key
    if params.tls.mode == broker_pb2.TLS_MODE_VERIFY_IDENTITY:
        assert params.resolution.tls_required
        assert kw.get("ssl_verify_cert") is True and kw.get("ssl_verify_identity") is True
        assert kw.get("ssl_ca") and os.path.isfile(kw["ssl_ca"])
        if params.tls.ca_pem:
            with open(kw["ssl_ca"], encoding="utf-8") as f:
                assert f.read() == params.tls.ca_pem
    if endpoint in ("local-tls", "local-iam"):
        assert params.tls.mode == broker_pb2.TLS_MODE_VERIFY_IDENTITY
    if endpoint == "local-iam":
        assert params.credential.kind == broker_pb2.CREDENTIAL_KIND_IAM_TOKEN
        assert params.resolution.plugin == "mysql_clear_password"
        assert params.credential.HasField("expires_at")


def test_pymysql_ed25519(devstack: Devstack, broker: connbroker.Client) -> None:
    """The ed25519 account is reached with the broker's options; PyMySQL needs
    PyNaCl for client_ed25519, so without it the driver must say exactly that."""
    _require_endpoint(devstack, "local-ed25519")
    try:
        import nacl  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pynacl"):
            connbroker.pymysql.connect("local-ed25519", client=broker)
        return
    conn = connbroker.pymysql.connect("local-ed25519", client=broker)
    try:
        assert _query_one(conn, "SELECT CURRENT_USER()")[0] == "app_ed25519@%"
        assert _query_one(conn, "SHOW STATUS LIKE 'Ssl_cipher'")[1]
    finally:
        conn.close()


def test_pymysql_ed25519_packages_hint(devstack: Devstack, broker: connbroker.Client) -> None:
    """ed25519 needs PyNaCl in PyMySQL: the broker must say so in hints.packages."""
    _require_endpoint(devstack, "local-ed25519")
    params = broker.get_connection_params("local-ed25519", driver="pymysql")
    assert any("pynacl" in p.lower() for p in params.hints.packages), list(params.hints.packages)
    assert params.resolution.plugin == "client_ed25519"


def test_pymysql_tls_disabled_endpoint_logs_in(devstack: Devstack, broker: connbroker.Client) -> None:
    _require_endpoint(devstack, "local-plain")
    conn = connbroker.pymysql.connect("local-plain", client=broker)
    try:
        assert _query_one(conn, "SELECT CURRENT_USER()")[0] == "app_native@%"
    finally:
        conn.close()


def test_pymysql_tls_disabled_means_no_tls(devstack: Devstack, broker: connbroker.Client) -> None:
    _require_endpoint(devstack, "local-plain")
    params = broker.get_connection_params("local-plain", driver="pymysql")
    assert params.tls.mode == broker_pb2.TLS_MODE_DISABLED
    assert connbroker.driver_kwargs(params).get("ssl_disabled") is True
    conn = connbroker.pymysql.connect("local-plain", client=broker)
    try:
        assert not _query_one(conn, "SHOW STATUS LIKE 'Ssl_cipher'")[1]
    finally:
        conn.close()


def test_weakened_tls_override_is_refused(devstack: Devstack, broker: connbroker.Client) -> None:
    """Turning off host name verification for a VERIFY_IDENTITY endpoint is
    refused before PyMySQL sends the token."""
    devstack.require_iam()
    params = broker.get_connection_params("local-iam", driver="pymysql")
    with pytest.raises(connbroker.InsecureTLSError) as info:
        connbroker.pymysql.connect("local-iam", client=broker, ssl_verify_identity=False)
    assert params.credential.secret not in str(info.value)


# --- 2. errors --------------------------------------------------------------------


@pytest.fixture
def secrets(devstack: Devstack, broker: connbroker.Client) -> Iterator[list[str]]:
    """Secrets currently issued, to check that no error message contains one."""
    found = [
        broker.get_connection_params(e, driver="pymysql").credential.secret
        for e, _ in LOGINS
        if e in devstack.endpoints
    ]
    if devstack.aws_secret_access_key:
        found.append(devstack.aws_secret_access_key)
    yield [s for s in found if s]


def _assert_no_secret(err: BaseException, secrets: list[str]) -> None:
    text = f"{err} {err!r} {getattr(err, 'details', '')}"
    for s in secrets:
        assert s not in text


def test_unknown_endpoint(broker: connbroker.Client, secrets: list[str]) -> None:
    with pytest.raises(connbroker.EndpointNotFound) as info:
        broker.get_connection_params("no-such-endpoint", driver="pymysql")
    assert "no-such-endpoint" in str(info.value) and broker.address in str(info.value)
    _assert_no_secret(info.value, secrets)
    with pytest.raises(connbroker.EndpointNotFound):
        connbroker.pymysql.connect("no-such-endpoint", client=broker)
    res = None
    try:
        res = broker.validate(["no-such-endpoint"])
    except connbroker.EndpointNotFound as e:
        _assert_no_secret(e, secrets)
    if res is not None:  # the broker may also report it as a failed result
        assert not res.ok


def test_unknown_driver(broker: connbroker.Client, secrets: list[str]) -> None:
    with pytest.raises(connbroker.InvalidRequest) as info:
        broker.get_connection_params("local-native", driver="no-such-driver")
    assert "no-such-driver" in str(info.value)
    _assert_no_secret(info.value, secrets)


def test_broker_not_answering(secrets: list[str]) -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{s.getsockname()[1]}"  # closed again before use
    start = time.monotonic()
    with connbroker.Client(addr, timeout=2.0) as c, pytest.raises(connbroker.BrokerUnavailable) as info:
        c.get_connection_params("local-iam")
    assert time.monotonic() - start < 3.0
    assert addr in str(info.value)
    _assert_no_secret(info.value, secrets)


# --- 3. IAM token cross-checked with boto3 ----------------------------------------


def _split_token(token: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``host:port?query`` (Go SDK) or ``host:port/?query`` (botocore)."""
    base, sep, query = token.partition("?")
    assert sep, f"token has no query string: {token[:40]}..."
    return base.rstrip("/"), sorted(parse_qsl(query, keep_blank_values=True, strict_parsing=True))


def test_iam_token_matches_boto3(
    devstack: Devstack, broker: connbroker.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's token is byte-for-byte the token botocore signs for the
    same credentials, host, port, user, region and instant."""
    import freezegun
    import boto3
    devstack.require_iam()
    assert devstack.aws_access_key_id and devstack.aws_secret_access_key, (
        f"devstack ready file must carry the local AWS test keys; keys present: {sorted(devstack.raw)}"
    )
    params = broker.get_connection_params("local-iam", driver="pymysql")
    token = params.credential.secret
    assert params.credential.kind == broker_pb2.CREDENTIAL_KIND_IAM_TOKEN
    assert "?" in token and "/?" not in token.split("&", 1)[0], "Go SDK tokens are host:port?Action=..."
    base, query = _split_token(token)
    q = dict(query)
    assert q["Action"] == "connect" and q["DBUser"] == params.user
    assert base == f"{params.host}:{params.port}"
    akid, date, region, service, term = q["X-Amz-Credential"].split("/")
    assert (akid, service, term) == (devstack.aws_access_key_id, "rds-db", "aws4_request")
    if devstack.aws_region:
        assert region == devstack.aws_region
    signed_at = dt.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    assert date == signed_at.strftime("%Y%m%d")
    # expires_at is the signing instant plus X-Amz-Expires (X-Amz-Date has whole seconds).
    expires_at = params.credential.expires_at.ToDatetime(dt.timezone.utc)
    want_expiry = signed_at + dt.timedelta(seconds=int(q["X-Amz-Expires"]))
    assert abs((expires_at - want_expiry).total_seconds()) < 2, (expires_at, want_expiry)

    # Keep botocore away from any real AWS configuration on this machine.
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with freezegun.freeze_time(signed_at):
        session = boto3.Session(
            aws_access_key_id=devstack.aws_access_key_id,
            aws_secret_access_key=devstack.aws_secret_access_key,
            region_name=region,
        )
        expected = session.client("rds").generate_db_auth_token(
            DBHostname=params.host, Port=params.port, DBUsername=params.user, Region=region
        )
    # The one known difference: botocore writes host:port/?..., the Go SDK host:port?...
    assert expected.startswith(f"{params.host}:{params.port}/?")
    exp_base, exp_query = _split_token(expected)
    assert exp_base == base
    assert query == exp_query  # every parameter, X-Amz-Signature included
    assert dict(query)["X-Amz-Signature"] == dict(exp_query)["X-Amz-Signature"]


# --- 4. validation ---------------------------------------------------------------


def test_list_endpoints(devstack: Devstack, broker: connbroker.Client) -> None:
    names = [e.name for e in broker.list_endpoints()]
    assert names == sorted(names)
    for want in ("local-native", "local-tls", "local-ed25519", "local-iam"):
        if want == "local-iam":
            devstack.require_iam()
        assert want in names
    assert set(devstack.endpoints) == set(names)


def test_validate_all(devstack: Devstack, broker: connbroker.Client) -> None:
    res = broker.validate(all=True)
    by_name = {r.endpoint: r for r in res.results}
    assert set(by_name) == {e.name for e in broker.list_endpoints()}
    problems = {n: f"{r.reason} {r.error}" for n, r in by_name.items() if not r.ok}
    assert res.ok and not problems, problems
    for name, r in by_name.items():
        assert r.current_user, name
        assert [s.name for s in r.stages if not s.ok] == [], name
    assert by_name["local-native"].current_user == "app_native@%"
    assert by_name["local-iam"].current_user == "app_iam@%"
    assert by_name["local-iam"].tls.cipher


def test_validate_named_with_timeout(broker: connbroker.Client) -> None:
    res = broker.validate(["local-tls", "local-native"], timeout=5)
    assert [r.endpoint for r in res.results] == ["local-tls", "local-native"]
    assert res.ok, [(r.endpoint, r.reason) for r in res.results]


def test_default_ssl_context_is_accepted(broker: connbroker.Client, devstack: Devstack) -> None:
    """An explicit verifying SSLContext (instead of the ssl_* kwargs) works too."""
    params = broker.get_connection_params("local-tls", driver="pymysql")
    ca = connbroker.driver_kwargs(params)["ssl_ca"]
    ctx = ssl.create_default_context(cafile=ca)
    conn = connbroker.pymysql.connect(
        "local-tls", client=broker, ssl=ctx, ssl_ca=None, ssl_verify_cert=None, ssl_verify_identity=None
    )
    try:
        assert _query_one(conn, "SELECT CURRENT_USER()")[0] == "app_tls@%"
        assert _query_one(conn, "SHOW STATUS LIKE 'Ssl_cipher'")[1]
    finally:
        conn.close()


def test_compact_repeat_params(devstack: Devstack) -> None:
    """The CA bundle crosses the wire once per client and no option repeats a
    ConnectionParams field, yet every call returns complete params (the same
    as a plain request's) and PyMySQL logs in with them."""
    _require_endpoint(devstack, "local-tls")
    with devstack.client() as c:
        plain = c._stub.GetConnectionParams(
            broker_pb2.GetConnectionParamsRequest(endpoint="local-tls", driver="pymysql"), timeout=10
        ).params
        assert plain.tls.ca_pem and len(plain.tls.ca_sha256) == 32
        first = c.get_connection_params("local-tls", driver="pymysql")
        compact = c._cas.request("local-tls", "pymysql")
        assert compact["known_view_sha256"] == plain.view_sha256 and len(plain.view_sha256) == 32
        wire = c._stub.GetConnectionParams(  # the CA and the options alone
            broker_pb2.GetConnectionParamsRequest(
                endpoint="local-tls", driver="pymysql", **{**compact, "known_view_sha256": b""}
            ),
            timeout=10,
        ).params
        bare = c._stub.GetConnectionParams(  # the view held too: the credential alone
            broker_pb2.GetConnectionParamsRequest(endpoint="local-tls", driver="pymysql", **compact), timeout=10
        ).params
        second = c.get_connection_params("local-tls", driver="pymysql")
        assert wire.tls.ca_pem == "" and wire.tls.ca_sha256 == plain.tls.ca_sha256
        assert wire.hints.HasField("param_options")
        names = {o.name for o in wire.hints.options}
        assert not names & {"host", "port", "user", "database"}, names
        assert bare.view_omitted and not bare.HasField("hints") and not bare.host and bare.credential.secret
        assert bare.ByteSize() < 100, bare.ByteSize()
        second.hints.ClearField("options")  # a caller's change does not reach the view held
        third = c.get_connection_params("local-tls", driver="pymysql")
        # The view dropped after the request named it: asked again, whole.
        request = c._cas.request

        def forgetting(endpoint: str, driver: str) -> dict[str, object]:
            fields = request(endpoint, driver)
            c._cas.forget_view(endpoint, driver)
            return fields

        c._cas.request = forgetting  # type: ignore[method-assign]
        fourth = c.get_connection_params("local-tls", driver="pymysql")
        c._cas.request = request  # type: ignore[method-assign]
        for got in (first, third, fourth):
            assert got.tls.ca_pem == plain.tls.ca_pem
            assert not got.hints.HasField("param_options")
            assert list(got.hints.options) == list(plain.hints.options)
            assert got.resolution == plain.resolution and got.host == plain.host and not got.view_omitted
            assert got.credential.secret == plain.credential.secret
        assert wire.ByteSize() < plain.ByteSize() - len(plain.tls.ca_pem)
        conn = connbroker.pymysql.connect("local-tls", client=c)
        try:
            assert _query_one(conn, "SELECT CURRENT_USER()")[0] == "app_tls@%"
        finally:
            conn.close()
