"""Unit tests of connbroker.hints.driver_kwargs and connbroker.pymysql.check_tls."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import sys
from typing import Any

import pytest

from connbroker import hints
from connbroker.errors import HintsError, InsecureTLSError
from connbroker.v1 import broker_pb2

SECRET = "s3cr3t-token-value"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def make_params(
    options: dict[str, Any],
    *,
    secret_option: str = "password",
    ca_pem: str = CA_PEM,
    mode: int = broker_pb2.TLS_MODE_VERIFY_IDENTITY,
    kind: int = broker_pb2.CREDENTIAL_KIND_PASSWORD,
    auth_plugin: str = "mysql_native_password",
    driver: str = "pymysql",
) -> broker_pb2.ConnectionParams:
    """Build ConnectionParams the way the broker would send them."""
    p = broker_pb2.ConnectionParams(
        endpoint="orders",
        host="db.example",
        port=3306,
        user="app",
        credential=broker_pb2.Credential(kind=kind, secret=SECRET, source="test"),
        tls=broker_pb2.TLSSettings(mode=mode, ca_pem=ca_pem),
        hints=broker_pb2.DriverHints(driver=driver, secret_option=secret_option, options=hint_options(options)),
        resolution=broker_pb2.Resolution(
            plugin=auth_plugin,
            tls_required=mode >= broker_pb2.TLS_MODE_REQUIRED or auth_plugin == "mysql_clear_password",
        ),
    )
    return p


def hint_options(options: dict[str, Any]) -> list[broker_pb2.HintOption]:
    """Typed hint options from a dict, sorted by name, as the broker sends them."""
    out = []
    for name in sorted(options):
        v = options[name]
        if isinstance(v, bool):
            out.append(broker_pb2.HintOption(name=name, bool_value=v))
        elif isinstance(v, int):
            out.append(broker_pb2.HintOption(name=name, int_value=v))
        elif isinstance(v, str):
            out.append(broker_pb2.HintOption(name=name, string_value=v))
        elif isinstance(v, dict):
            out.append(broker_pb2.HintOption(name=name, options_value=broker_pb2.HintOptions(options=hint_options(v))))
        else:
            raise TypeError(f"option {name}: {type(v).__name__} is not a hint option type")
    return out


def all_values(v: Any) -> list[Any]:
    """Flatten nested dicts/lists into their leaf values."""
    if isinstance(v, dict):
        return [x for item in v.values() for x in all_values(item)]
    if isinstance(v, list):
        return [x for item in v for x in all_values(item)]
    return [v]


def test_typed_options_keep_their_types() -> None:
    params = make_params(
        {"host": "db.example", "port": 3306, "neg": -2, "off": False, "ssl": {"ca": "{ca_file}", "check": True}}
    )
    params = broker_pb2.ConnectionParams.FromString(params.SerializeToString())  # through the wire
    kw = hints.driver_kwargs(params)
    assert kw["port"] == 3306 and type(kw["port"]) is int
    assert kw["neg"] == -2 and kw["off"] is False
    assert kw["ssl"]["check"] is True and kw["ssl"]["ca"].endswith(".pem")
    assert hints.options_dict(params.hints.options)["ssl"]["ca"] == "{ca_file}"
    assert kw["neg"] == -2 and type(kw["neg"]) is int


def test_bools_nested_values_and_unknown_value_types() -> None:
    params = make_params({"ssl_verify_cert": True, "autocommit": False, "nested": {"a": {"b": 1, "c": "x"}}})
    params.hints.options.append(broker_pb2.HintOption(name="newer"))  # a value type newer than this client
    kw = hints.driver_kwargs(params)
    assert kw["ssl_verify_cert"] is True and kw["autocommit"] is False and kw["newer"] is None
    assert kw["nested"] == {"a": {"b": 1, "c": "x"}}


def test_secret_goes_only_into_secret_option() -> None:
    params = make_params({"host": "db.example", "user": "app"}, secret_option="passwd")
    kw = hints.driver_kwargs(params)
    assert kw["passwd"] == SECRET
    assert "password" not in kw
    others = [v for k, v in kw.items() if k != "passwd"]
    assert SECRET not in repr(others)


def test_overrides_win_and_are_not_substituted() -> None:
    params = make_params({"host": "db.example", "port": 3306, "ssl_ca": "{ca_file}"})
    kw = hints.driver_kwargs(params, port=3307, database="other", init_command="{ca_file}")
    assert kw["port"] == 3307 and kw["database"] == "other"
    assert kw["init_command"] == "{ca_file}"


def test_ca_file_placeholder_written_once_mode_0600() -> None:
    params = make_params({"ssl_ca": "{ca_file}", "ssl": {"ca": "{ca_file}"}, "note": "ca at {ca_file}!"})
    kw = hints.driver_kwargs(params)
    path = kw["ssl_ca"]
    assert os.path.isabs(path) and os.path.isfile(path)
    assert kw["ssl"]["ca"] == path and kw["note"] == f"ca at {path}!"
    with open(path, encoding="utf-8") as f:
        assert f.read() == CA_PEM
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    mtime = os.stat(path).st_mtime_ns
    # Same content: same file, not rewritten.
    again = hints.driver_kwargs(params)["ssl_ca"]
    assert again == path and os.stat(path).st_mtime_ns == mtime
    # Different content: a different file in the same private directory.
    other = hints.driver_kwargs(make_params({"ssl_ca": "{ca_file}"}, ca_pem=CA_PEM + "\n"))["ssl_ca"]
    assert other != path and os.path.dirname(other) == os.path.dirname(path)


def test_ca_file_rewritten_when_deleted() -> None:
    pem = CA_PEM.replace("fake", "deleted")
    path = hints.ca_file_for(pem)
    os.unlink(path)
    assert hints.ca_file_for(pem) == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_ca_file_not_written_when_unused() -> None:
    pem = CA_PEM.replace("fake", "unused")
    hints.driver_kwargs(make_params({"host": "db.example"}, ca_pem=pem))
    import hashlib

    assert hashlib.sha256(pem.encode()).hexdigest() not in hints._ca_files


def test_empty_ca_pem_means_system_bundle() -> None:
    kw = hints.driver_kwargs(make_params({"ssl_ca": "{ca_file}"}, ca_pem=""))
    assert kw["ssl_ca"] == hints.system_ca_file()
    assert os.path.isfile(kw["ssl_ca"])


def test_no_system_bundle_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = ssl.get_default_verify_paths()
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths._replace(cafile=None))
    monkeypatch.setitem(sys.modules, "certifi", None)  # makes `import certifi` fail
    with pytest.raises(HintsError, match="system CA bundle"):
        hints.driver_kwargs(make_params({"ssl_ca": "{ca_file}"}, ca_pem=""))


def test_missing_hints_or_secret_option() -> None:
    p = make_params({})
    p.ClearField("hints")
    with pytest.raises(HintsError, match="no driver hints"):
        hints.driver_kwargs(p)
    with pytest.raises(HintsError, match="secret_option"):
        hints.driver_kwargs(make_params({"host": "x"}, secret_option=""))


# --- connbroker.pymysql.check_tls ------------------------------------------------

import connbroker.pymysql as pymysql_helper  # noqa: E402

VERIFIED = {"ssl_ca": "{ca_file}", "ssl_verify_cert": True, "ssl_verify_identity": True}


@pytest.mark.parametrize(
    ("mode", "options", "overrides"),
    [
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, VERIFIED, {}),
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, {}, {"ssl": ssl.create_default_context()}),
        (broker_pb2.TLS_MODE_VERIFY_CA, {"ssl_ca": "{ca_file}", "ssl_verify_cert": True}, {}),
        (broker_pb2.TLS_MODE_REQUIRED, {"ssl_ca": "{ca_file}"}, {}),
        (broker_pb2.TLS_MODE_DISABLED, {"ssl_disabled": True}, {}),
        (broker_pb2.TLS_MODE_PREFERRED, {}, {}),
    ],
)
def test_check_tls_accepts(mode: int, options: dict[str, Any], overrides: dict[str, Any]) -> None:
    params = make_params(options, mode=mode)
    pymysql_helper.check_tls(params, hints.driver_kwargs(params, **overrides))


@pytest.mark.parametrize(
    ("mode", "options", "overrides", "match"),
    [
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, VERIFIED, {"ssl_verify_identity": False}, "host name"),
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, VERIFIED, {"ssl_ca": None}, "host name"),
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, {"ssl_ca": "{ca_file}", "ssl_verify_identity": True}, {}, "certificate"),
        (broker_pb2.TLS_MODE_VERIFY_IDENTITY, VERIFIED, {"ssl_disabled": True}, "TLS would not be required"),
        (broker_pb2.TLS_MODE_VERIFY_CA, {"ssl_ca": "{ca_file}"}, {}, "certificate"),
        (broker_pb2.TLS_MODE_REQUIRED, {}, {}, "plain text"),
    ],
)
def test_check_tls_refuses(mode: int, options: dict[str, Any], overrides: dict[str, Any], match: str) -> None:
    params = make_params(options, mode=mode)
    with pytest.raises(InsecureTLSError, match=match) as info:
        pymysql_helper.check_tls(params, hints.driver_kwargs(params, **overrides))
    assert SECRET not in str(info.value)


def test_check_tls_unverified_context_refused() -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    params = make_params({}, mode=broker_pb2.TLS_MODE_VERIFY_IDENTITY)
    with pytest.raises(InsecureTLSError, match="host name"):
        pymysql_helper.check_tls(params, hints.driver_kwargs(params, ssl=ctx))


def test_check_tls_clear_text_secret_needs_tls_even_if_mode_is_weak() -> None:
    params = make_params(
        {},
        mode=broker_pb2.TLS_MODE_PREFERRED,
        kind=broker_pb2.CREDENTIAL_KIND_IAM_TOKEN,
        auth_plugin="mysql_clear_password",
    )
    with pytest.raises(InsecureTLSError, match="clear-text"):
        pymysql_helper.check_tls(params, hints.driver_kwargs(params))


def test_redacted_masks_the_secret() -> None:
    import connbroker

    params = make_params({"host": "db.example"})
    text = connbroker.redacted(broker_pb2.GetConnectionParamsResponse(params=params))
    assert SECRET not in text and "[REDACTED]" in text and "db.example" in text
    assert params.credential.secret == SECRET  # the original is untouched


def _plant(dirpath: str, name: str, content: str, *, mode: int) -> None:
    """Recreate ``dirpath`` the way another user could after a /tmp cleaner
    removed it: owned by uid 65534 when we are root, with a planted CA."""
    os.mkdir(dirpath, mode)
    os.chmod(dirpath, mode)
    planted = os.path.join(dirpath, name)
    with open(planted, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(planted, 0o644)
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)
        os.chown(dirpath, 65534, 65534)


@pytest.mark.parametrize("mode", [0o700, 0o777])
def test_ca_dir_recreated_by_another_user_is_not_trusted(mode: int) -> None:
    pem = CA_PEM.replace("fake", f"planted{mode:o}")
    path = hints.ca_file_for(pem)
    cadir = os.path.dirname(path)
    shutil.rmtree(cadir)  # a /tmp cleaner ran
    evil = "-----BEGIN CERTIFICATE-----\nATTACKER\n-----END CERTIFICATE-----\n"
    _plant(cadir, os.path.basename(path), evil, mode=mode)
    try:
        got = hints.ca_file_for(pem)
        with open(got, encoding="utf-8") as f:
            assert f.read() == pem, "the helper handed out a CA planted by another user"
        assert os.path.dirname(got) != cadir
        st = os.lstat(os.path.dirname(got))
        assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
        # Later calls keep using the fresh directory.
        assert hints.ca_file_for(pem) == got
    finally:
        shutil.rmtree(cadir, ignore_errors=True)


def test_ca_file_swapped_for_a_symlink_is_rewritten() -> None:
    pem = CA_PEM.replace("fake", "symlinked")
    path = hints.ca_file_for(pem)
    elsewhere = path + ".elsewhere"
    with open(elsewhere, "w", encoding="utf-8") as f:
        f.write("-----BEGIN CERTIFICATE-----\nOTHER\n-----END CERTIFICATE-----\n")
    os.unlink(path)
    os.symlink(elsewhere, path)
    got = hints.ca_file_for(pem)
    assert not os.path.islink(got)
    with open(got, encoding="utf-8") as f:
        assert f.read() == pem
