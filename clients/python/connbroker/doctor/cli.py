"""The ``doctor`` command line: parse, collect, run, print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from connbroker.client import Client
from connbroker.doctor.collect import Environment, collect
from connbroker.doctor.registry import Registry
from connbroker.doctor.render import render
from connbroker.doctor.report import run
from connbroker.errors import BrokerError

__all__ = ["main"]


def _pick_driver(env: Environment, registry: Registry) -> str:
    """The first installed driver in the broker's guess order."""
    order = registry.guess_order()
    for d in order:
        p = env.package(registry.package(d))
        if p is not None:
            if not p.c_extension and registry.resolve(d + "-pure"):
                return d + "-pure"  # mysql-connector-python without its C extension
            return d
    return order[0] if order else ""


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``doctor`` with command-line arguments; return the exit status."""
    out = out or sys.stdout
    ap = argparse.ArgumentParser(
        prog="python -m connbroker doctor", description="Will this process's MySQL driver log in to ENDPOINT?"
    )
    ap.add_argument("endpoint", help="the configured endpoint name")
    ap.add_argument(
        "--driver",
        default="",
        help="the application's driver, any name or alias of `connbroker drivers` (default: the first installed)",
    )
    ap.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    ap.add_argument("--broker", default=None, help="broker address (default $CONNBROKER_ADDR or 127.0.0.1:7700)")
    ap.add_argument("--timeout", type=float, default=10.0, help="broker call timeout in seconds")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        with Client(args.broker, timeout=args.timeout) as client:
            registry = Registry.from_broker(client)
            driver = _pick_driver(collect(registry), registry) if not args.driver else registry.resolve(args.driver)
            if not driver:
                print(
                    f"doctor: unknown driver {args.driver!r}; known drivers: {registry.known()}",
                    file=sys.stderr,
                )
                return 2
            env = collect(registry)
            if env.package(registry.package(driver)) is None:
                print(
                    f"doctor: the driver {driver!r} is not installed in this environment ({sys.executable}): "
                    f"pip install {registry.package(driver)}",
                    file=sys.stderr,
                )
                return 1
            rep = run(client, args.endpoint, driver, env, registry)
    except BrokerError as e:
        print(f"doctor: {e}", file=sys.stderr)
        return 1
    if args.output == "json":
        json.dump(rep.to_dict(), out, indent=2)
        out.write("\n")
    else:
        render(rep, out)
    return 0 if rep.works else 1
