"""``python -m connbroker doctor ENDPOINT``: diagnose this process's own environment.

The broker knows each endpoint and each driver in general; an outage happens
in one process, with one driver version, one set of optional packages, one set
of environment variables and one TLS setup. The doctor collects those
(:func:`collect`), sends them with a validation request so the broker predicts,
for exactly this environment, whether each installed driver logs in and why
not, then logs in for real once with the application's driver and the broker's
hints (:func:`real_login`) and compares prediction and reality (:func:`run`
returns a typed :class:`Report`; :func:`render` prints it for people,
:meth:`Report.to_dict` is the JSON).

The modules, one job each: :mod:`.registry` (the broker's driver list),
:mod:`.collect` (this process), :mod:`.login` (the real login, in a child
process), :mod:`.report` (the report types and the verdict), :mod:`.render`
(text) and :mod:`.cli` (the command line).

Exit status: 0 when the application's driver works (predicted and proven), 1
otherwise, 2 on usage errors.
"""

from __future__ import annotations

from connbroker.doctor.cli import main
from connbroker.doctor.collect import Environment, Package, collect
from connbroker.doctor.login import RealLogin, real_login, real_login_in_child
from connbroker.doctor.registry import ENV_VARS, OPTIONAL_PACKAGES, Registry
from connbroker.doctor.render import render
from connbroker.doctor.report import CACHE_DEPENDENT, BrokerValidation, DriverPrediction, Finding, Report, run

__all__ = [
    "CACHE_DEPENDENT",
    "ENV_VARS",
    "OPTIONAL_PACKAGES",
    "BrokerValidation",
    "DriverPrediction",
    "Environment",
    "Finding",
    "Package",
    "RealLogin",
    "Registry",
    "Report",
    "collect",
    "main",
    "real_login",
    "real_login_in_child",
    "render",
    "run",
]
