"""The doctor's report as text for a person."""

from __future__ import annotations

from typing import TextIO

from connbroker.doctor.report import Report

__all__ = ["render"]


def render(rep: Report, out: TextIO) -> None:
    """Print the report for a person."""
    w = out.write
    env = rep.environment
    w(f"connbroker doctor: endpoint {rep.endpoint}, driver {rep.driver}\n\n")
    w("This process\n")
    w(f"  runtime        {env.runtime}\n")
    for name in rep.checked_packages:
        p = env.package(name)
        if p is None:
            w(f"  {name:<22} not installed\n")
            continue
        extra = ""
        if p.client_library:
            extra = f", linked against {p.client_library}"
        if p.plugin_dir:
            extra += f"\n  {'':<22} plugins in {p.plugin_dir}: {', '.join(p.client_plugins) or 'none'}"
        if name == "mysql-connector-python":
            extra = ", C extension" if p.c_extension else ", pure Python (no C extension)"
        w(f"  {name:<22} {p.version}{extra}\n")
    always = [k for k in rep.checked_env_vars if k.startswith("LIBMYSQL_ENABLE")]
    for k in always:
        w(f"  {k} {'=' + env.env[k] if k in env.env else 'not set'}\n")
    for k, v in sorted(env.env.items()):
        if k not in always:
            w(f"  {k}={v}\n")
    w(f"  CA bundle      {env.ca_bundle or 'none found'}\n")
    w(f"  clock offset   {rep.clock_offset_seconds:+.3f}s against the broker\n")
    for f in rep.environment_findings:
        sev = f.severity.removeprefix("FINDING_SEVERITY_").lower()
        w(f"  {sev} {f.code}: {f.cause}\n    fix: {f.fix}\n")
    bv = rep.broker_validation
    w(
        f"\nBroker's own login (go-sql-driver): {'ok' if bv.ok else 'FAILED: ' + bv.reason}"
        f" ({bv.auth_plugin or 'plugin unknown'}, {'TLS' if bv.tls else 'no TLS'})\n"
    )
    w("\nPredicted for this environment\n")
    for d in rep.drivers:
        mark = " (app)" if d.driver == rep.app_driver else ""
        verdict = "works" if d.works else "FAILS"
        w(f"  {d.driver + ' ' + d.version + mark:<40} {verdict:<6} {d.options}\n")
        if d.finding is not None:
            w(f"      {d.finding.code}: {d.finding.cause}\n      fix: {d.finding.fix}\n")
    login = rep.real_login
    w(f"\nReal login with {login.driver} and the broker's hints: ")
    w(f"ok as {login.current_user}\n" if login.ok else f"FAILED: {login.error}\n")
    if login.withheld:
        w(f"  withheld: {login.withheld}\n")
    for e in login.missing_env:
        w(f"  the hints ask for {e} in the environment; this process does not have it\n")
    if rep.note:
        w(f"  {rep.note}\n")
    if rep.works:
        w(f"\nVerdict: {rep.driver} logs in to {rep.endpoint} from this environment.\n")
    else:
        w(f"\nVerdict: {rep.driver} does NOT log in to {rep.endpoint} reliably from this environment.\n")
        if rep.fix:
            w(f"Fix: {rep.fix}\n")
