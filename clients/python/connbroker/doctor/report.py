"""The doctor's report: what the broker predicts for this environment, what
the real login did, and the verdict. :meth:`Report.to_dict` is the ``-o json``
output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from connbroker.client import Client
from connbroker.doctor.collect import Environment
from connbroker.doctor.login import RealLogin, real_login_in_child
from connbroker.doctor.registry import Registry
from connbroker.v1 import broker_pb2

__all__ = ["CACHE_DEPENDENT", "BrokerValidation", "DriverPrediction", "Finding", "Report", "run"]

#: Finding codes whose failure shows only on full authentication (a server
#: cache miss): a real login on the fast path can still succeed.
CACHE_DEPENDENT = frozenset({"rsa-package-missing", "rsa-public-key-needed", "full-auth-driver-requires-tls"})


@dataclass
class Finding:
    """One finding of the broker (a stable code, its cause and the fix)."""

    #: Stable code, e.g. "rsa-package-missing".
    code: str
    #: The proto enum value name, e.g. "FINDING_SEVERITY_ERROR".
    severity: str
    #: What is wrong, in plain words.
    cause: str
    #: What to do about it.
    fix: str

    @classmethod
    def from_proto(cls, f: broker_pb2.Finding) -> Finding:
        """Convert a broker finding."""
        return cls(code=f.code, severity=broker_pb2.FindingSeverity.Name(f.severity), cause=f.cause, fix=f.fix)


@dataclass
class DriverPrediction:
    """The broker's prediction for one installed driver in this environment."""

    #: The driver's canonical name.
    driver: str
    #: Its installed version.
    version: str
    #: How it is set up, e.g. "without cryptography".
    options: str
    #: It is predicted to log in.
    works: bool
    #: The predicted handshake result: "ok", "server-error", ...
    result: str
    #: The auth plugin the login would end with.
    auth_plugin: str
    #: The login would run over TLS.
    tls: bool
    #: Why it fails and the fix; None when it works. Left out of the JSON then.
    finding: Finding | None = None

    @classmethod
    def from_proto(cls, d: broker_pb2.DriverEnvironment) -> DriverPrediction:
        """Convert one driver of the broker's environment report."""
        return cls(
            driver=d.driver,
            version=d.version,
            options=d.options,
            works=d.works,
            result=_result_name(d.result),
            auth_plugin=d.auth_plugin,
            tls=d.tls,
            finding=Finding.from_proto(d.finding) if d.HasField("finding") else None,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriverPrediction:
        """Read one driver of a JSON report."""
        f = d.get("finding")
        return cls(**{**d, "finding": Finding(**f) if f is not None else None})


@dataclass
class BrokerValidation:
    """The broker's own login (go-sql-driver) to the endpoint."""

    #: It logged in.
    ok: bool
    #: Why not, in plain words.
    reason: str
    #: The auth plugin it ended with.
    auth_plugin: str
    #: It ran over TLS.
    tls: bool


@dataclass
class Report:
    """Everything the doctor found, in the order of the JSON output."""

    #: The endpoint asked about.
    endpoint: str
    #: The application's driver as asked for (canonical name).
    driver: str
    #: The driver whose handshake that makes (a SQLAlchemy dialect's DBAPI driver).
    app_driver: str
    #: This process.
    environment: Environment
    #: The packages looked for (installed or not), in order.
    checked_packages: list[str]
    #: The environment variables looked for.
    checked_env_vars: list[str]
    #: The broker's own login.
    broker_validation: BrokerValidation
    #: This process's clock minus the broker's, in seconds.
    clock_offset_seconds: float
    #: Findings about the environment as a whole.
    environment_findings: list[Finding] = field(default_factory=list)
    #: The prediction for each installed driver, the application's first.
    drivers: list[DriverPrediction] = field(default_factory=list)
    #: The real login.
    real_login: RealLogin = field(default_factory=lambda: RealLogin(driver="", ok=False))
    #: The application's driver is predicted to work.
    predicted_works: bool = False
    #: Prediction and real login agree.
    agrees: bool = False
    #: Why they differ, or how far the real login could prove; "" otherwise.
    note: str = ""
    #: The verdict: predicted and proven to work.
    works: bool = False
    #: What to do when it does not.
    fix: str = ""

    def app(self) -> DriverPrediction | None:
        """The prediction for the application's driver, or None when it is not installed."""
        return next((d for d in self.drivers if d.driver == self.app_driver), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (``-o json``); a driver without a finding has no "finding" key."""
        out = asdict(self)
        for d in out["drivers"]:
            if d["finding"] is None:
                del d["finding"]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """Read a report from its JSON form (:meth:`to_dict`)."""
        return cls(
            endpoint=d["endpoint"],
            driver=d["driver"],
            app_driver=d["app_driver"],
            environment=Environment.from_dict(d["environment"]),
            checked_packages=list(d["checked_packages"]),
            checked_env_vars=list(d["checked_env_vars"]),
            broker_validation=BrokerValidation(**d["broker_validation"]),
            clock_offset_seconds=float(d["clock_offset_seconds"]),
            environment_findings=[Finding(**f) for f in d["environment_findings"]],
            drivers=[DriverPrediction.from_dict(x) for x in d["drivers"]],
            real_login=RealLogin(**d["real_login"]),
            predicted_works=d["predicted_works"],
            agrees=d["agrees"],
            note=d["note"],
            works=d["works"],
            fix=d["fix"],
        )


def _result_name(result: int) -> str:
    """A HandshakeResult as the doctor's JSON spells it: "ok", "server-error"..."""
    name = str(broker_pb2.HandshakeResult.Name(result))
    return name[len("HANDSHAKE_RESULT_") :].lower().replace("_", "-")


def run(client: Client, endpoint: str, driver: str, env: Environment, registry: Registry | None = None) -> Report:
    """Run the doctor: the real login in a fresh process, then the broker's prediction."""
    registry = registry or Registry.from_broker(client)
    login = real_login_in_child(client.address, client.timeout, endpoint, driver, registry.modules(driver))
    resp = client.validate([endpoint], client_environment=env.to_proto(driver))
    res = resp.results[0]
    envrep = res.environment
    rep = Report(
        endpoint=endpoint,
        driver=driver,
        app_driver=envrep.driver,
        environment=env,
        checked_packages=registry.checked_packages(),
        checked_env_vars=registry.env_vars(),
        broker_validation=BrokerValidation(
            ok=res.ok, reason=res.reason, auth_plugin=res.resolution.plugin, tls=res.HasField("tls")
        ),
        clock_offset_seconds=envrep.clock_offset.seconds + envrep.clock_offset.nanos / 1e9,
        environment_findings=[Finding.from_proto(f) for f in envrep.findings],
        drivers=[DriverPrediction.from_proto(d) for d in envrep.drivers],
        real_login=login,
    )
    _judge(rep, [f for f in envrep.findings if f.severity == broker_pb2.FINDING_SEVERITY_ERROR])
    return rep


def _judge(rep: Report, errors: list[broker_pb2.Finding]) -> None:
    """Set the verdict, the agreement, the note and the fix of ``rep``."""
    app, login = rep.app(), rep.real_login
    predicted = bool(app and app.works)
    agree = predicted == login.ok
    finding = app.finding if app else None
    fix = finding.fix if finding else (errors[0].fix if errors else "")
    works = predicted and login.ok
    note = ""
    code = finding.code if finding else ""
    if not agree and login.ok and code in CACHE_DEPENDENT:
        note = (
            "prediction and reality differ because of the server's state: the real login took the "
            "caching_sha2 fast path (the server had this account cached); the prediction is about full "
            "authentication, which every login needs after a server restart, FLUSH PRIVILEGES or a password change"
        )
    elif not agree:
        note = (
            "prediction and reality differ: please report it as a bug with this output "
            "(the broker's profile of this driver does not match the real driver)"
        )
    if login.guard == "dummy":
        # The real secret was not sent (connbroker._guard): a login that
        # reaches the server's password check is as far as it can prove.
        reached = "1045" in login.error or "Access denied" in login.error
        agree, works = predicted == reached, predicted and reached
        note = (
            "the real login used a dummy secret: this driver, as the hints configure it, does not itself "
            "refuse a server without verified TLS, and the doctor cannot check its TLS here; it "
            + ("reached the server's password check" if reached else "did not reach the server's password check")
        )
    elif login.withheld:
        note = f"the doctor stopped its real login: {login.withheld}"
    rep.predicted_works, rep.agrees, rep.note, rep.works, rep.fix = predicted, agree, note, works, fix
