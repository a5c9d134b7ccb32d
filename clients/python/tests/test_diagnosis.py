"""Diagnosis through the real broker against the RDS-like endpoint
(``local-rds-proxy``: TLS only, AuthSwitch to mysql_clear_password, real
SigV4 token check), and PyMySQL's IAM path against it."""

from __future__ import annotations

from typing import Any

import pytest

import connbroker
import connbroker.pymysql
from connbroker.v1 import broker_pb2

from .conftest import Devstack

pytestmark = pytest.mark.integration

ENDPOINT = "local-rds-proxy"


def _require(devstack: Devstack) -> None:
    if ENDPOINT not in devstack.endpoints:
        pytest.fail(f"devstack has no endpoint {ENDPOINT}")


def test_pymysql_iam_via_rds_like_proxy(devstack: Devstack) -> None:
    """PyMySQL with only the broker's params logs in with an IAM token over verified TLS."""
    _require(devstack)
    conn: Any = connbroker.pymysql.connect(ENDPOINT)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == "app_iam@%"
            cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            row = cur.fetchone()
            assert row is not None and row[1], "the IAM session is not encrypted"
    finally:
        conn.close()


def test_validate_with_transcript_findings_and_drivers(devstack: Devstack, broker: connbroker.Client) -> None:
    _require(devstack)
    resp = broker.validate([ENDPOINT], compare_drivers=True)
    (r,) = resp.results
    assert r.ok, r.reason
    kinds = [e.kind for e in r.transcript.events]
    assert broker_pb2.EVENT_KIND_AUTH_SWITCH_REQUEST in kinds and kinds[-1] == broker_pb2.EVENT_KIND_OUTCOME
    switch = next(e for e in r.transcript.events if e.kind == broker_pb2.EVENT_KIND_AUTH_SWITCH_REQUEST)
    assert switch.fields["plugin"] == "mysql_clear_password"
    assert r.transcript.tls and r.transcript.result == broker_pb2.HANDSHAKE_RESULT_OK
    assert not [f for f in r.findings if f.severity == broker_pb2.FINDING_SEVERITY_ERROR]
    secret = broker.get_connection_params(ENDPOINT).credential.secret
    assert "X-Amz-Signature" not in str(r) and secret not in str(r)
    table = {(d.driver, d.options): d for d in r.drivers}
    # Each driver is played as the broker's hints set it up (opt-ins
    # included), so every one of them logs in to the IAM endpoint.
    assert table[("PyMySQL", "with cryptography and PyNaCl")].works
    assert table[("go-sql-driver/mysql", "as the hints set it up")].works
    assert table[("mysql2 (Node.js)", "as the hints set it up")].works
    assert not [d for d in r.drivers if not d.works], [(d.driver, d.options, d.finding.code) for d in r.drivers if not d.works]


def test_probe_endpoint(devstack: Devstack, broker: connbroker.Client) -> None:
    _require(devstack)
    p = broker.probe_endpoint(ENDPOINT)
    assert p.auth_plugin == "mysql_native_password" and p.tls_offered
    assert p.flavor == broker_pb2.SERVER_FLAVOR_MYSQL and p.endpoint_kind == broker_pb2.ENDPOINT_KIND_MYSQL
    assert p.transcript.result == broker_pb2.HANDSHAKE_RESULT_GREETED
    with pytest.raises(connbroker.EndpointNotFound):
        broker.probe_endpoint("no-such-endpoint")
