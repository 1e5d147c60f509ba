"""`mcu usage`: the monthly statement, read straight from the store of a config.

    mcu usage [-c conf/mcu.toml] [--tenant T] [--month 2026-12] [--format table|csv|markdown]
              [--prices FILE]

`--prices` takes any TOML file with a [prices] table (a `mcu plan` input file works): the
statement then shows amounts with the planner's price model (mcu.plan.prices).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from mcu.usage.statement import FORMATS, month_bounds, render, statement
from mcu.usage.store import StoreError, open_store

DEFAULT_CONFIG = "conf/mcu.toml"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("usage", help="print a monthly usage statement (meetings, site-hours, recording)",
                              description="The usage statement of one calendar month (UTC) from the MCU's "
                                          "usage store ([store] in the config).")
    p.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"MCU config (default: {DEFAULT_CONFIG})")
    p.add_argument("--tenant", default=None, help="only this tenant (default: every tenant)")
    p.add_argument("--month", default=None, help="YYYY-MM (default: this month)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--prices", default=None, help="TOML file with a [prices] table: adds amounts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcu.config import load_config
    from mcu.plan.prices import load_prices
    from mcu.tomlfile import ConfigError

    try:
        config = load_config(args.config)
        prices = load_prices(args.prices) if args.prices else None
        start, end, label = month_bounds(args.month, time.time())
    except ConfigError as exc:
        print("mcu usage: " + "\n  ".join(str(i) for i in exc.issues), file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"mcu usage: {exc}", file=sys.stderr)
        return 1
    tenant = args.tenant
    if tenant is not None and tenant != "provider" and tenant not in config.tenants.by_name:
        print(f"mcu usage: no tenant {tenant!r} in {config.tenants.path or 'the config'} "
              f"(tenants: {', '.join(config.tenants.names()) or 'none'})", file=sys.stderr)
        return 1
    stored = "" if tenant == "provider" else tenant
    try:
        store = open_store(config.mcu.store.url, config.path.parent)
    except StoreError as exc:
        print(f"mcu usage: {exc}", file=sys.stderr)
        return 1
    try:
        calls = store.calls(start, end, stored)
        meetings = store.meetings(start, end, stored)
    finally:
        store.close()
    sys.stdout.write(render(statement(calls, meetings, start, end, label, tenant, prices), args.format))
    return 0
