"""The `mcu` command: serve, check-config, version (more subcommands join as features land)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import mcu
from mcu.config import load_config
from mcu.tomlfile import ConfigError

DEFAULT_CONFIG = os.environ.get("MCU_CONFIG", "conf/mcu.toml")


def _add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                        help=f"main config file (default: {DEFAULT_CONFIG}, or $MCU_CONFIG)")


def cmd_version(args: argparse.Namespace) -> int:
    import av
    import numpy

    print(f"open-mcu {mcu.__version__} (python {sys.version.split()[0]}, "
          f"pyav {av.__version__}, numpy {numpy.__version__})")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config rejected ({len(exc.issues)} problem(s)):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    print(f"{config.path}: ok ({len(config.rooms)} room(s))")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mcu.server import run

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config rejected, not starting ({len(exc.issues)} problem(s)):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    return run(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcu",
        description="open MCU: a software multipoint control unit for SIP room systems.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the MCU on a config until SIGINT/SIGTERM",
                           description="Start SIP, media and metrics as configured; log where each "
                                       "listens; stop cleanly on SIGINT or SIGTERM.")
    _add_config_arg(serve)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate the config files and exit 0 (ok) or 1",
                           description="Load the main config and the files it names; print every "
                                       "problem with file, line and key.")
    _add_config_arg(check)
    check.set_defaults(func=cmd_check_config)

    version = sub.add_parser("version", help="print the version of the MCU and its media libraries")
    version.set_defaults(func=cmd_version)

    from mcu.plan.cli import register as register_plan

    register_plan(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
