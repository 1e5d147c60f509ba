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


def _report(what: str, problems: list) -> None:
    print(f"{what} ({len(problems)} problem(s)):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _report("config rejected", exc.issues)
        return 1
    print(f"{config.path}: ok ({len(config.rooms)} room(s))")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mcu.server import run

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _report("config rejected, not starting", exc.issues)
        return 1
    return run(config)


def cmd_layout_check(args: argparse.Namespace) -> int:
    """Every config file of a folder: the main config and what it names if present, else the layouts."""
    folder = Path(args.folder)
    main_config = folder / "mcu.toml"
    if main_config.exists():
        try:
            load_config(main_config)
            problems: list = []
        except ConfigError as exc:
            problems = exc.issues
    else:
        from mcu.layout.tools import check

        problems = check(folder)
    if problems:
        _report(str(folder), problems)
        return 1
    print(f"{folder}: ok")
    return 0


def cmd_layout_render(args: argparse.Namespace) -> int:
    from mcu.layout import ConfigInvalid
    from mcu.layout.errors import LayoutNotFound
    from mcu.layout.tools import parse_size, render

    if not args.all and not args.name:
        print("name a layout or group, or pass --all for a contact sheet", file=sys.stderr)
        return 2
    try:
        size = parse_size(args.size)
        out = render(args.conf, args.name, args.members, size, args.out, all_layouts=args.all)
    except ValueError as exc:  # a bad --size
        print(str(exc), file=sys.stderr)
        return 2
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except LayoutNotFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


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

    layout = sub.add_parser("layout", help="check layout files, render layouts to PNG offline",
                            description="Operator tools for conf/layouts.toml and conf/sites.toml.")
    layout_sub = layout.add_subparsers(dest="layout_command", metavar="ACTION", required=True)
    check = layout_sub.add_parser("check", help="validate every config file in a folder (exit 0 ok, 1 not)",
                                  description="Schema and meaning: regions inside the canvas, overlaps only "
                                              "where z-order says so, referenced sites and layouts exist. "
                                              "Each error names file, line and key.")
    check.add_argument("folder", nargs="?", default="conf", help="config folder (default: conf)")
    check.set_defaults(func=cmd_layout_check)
    render = layout_sub.add_parser("render", help="draw a layout or group with placeholder tiles to PNG",
                                   description="Placeholder tiles labelled with roster names, without a call.")
    render.add_argument("name", nargs="?", help="layout or group name from layouts.toml")
    render.add_argument("--members", type=int, default=4, help="how many sites are in the room (default 4)")
    render.add_argument("--size", default="1280x720", help="canvas WIDTHxHEIGHT (default 1280x720)")
    render.add_argument("--out", default="layout.png", help="PNG file to write (default layout.png)")
    render.add_argument("--all", action="store_true", help="a contact sheet of every layout")
    render.add_argument("--conf", default="conf", help="config folder (default: conf)")
    render.set_defaults(func=cmd_layout_render)

    from mcu.admin.ctl import register as register_ctl
    from mcu.calibrate import register as register_bench
    from mcu.cluster.cli import register as register_cluster
    from mcu.plan.cli import register as register_plan

    register_ctl(sub)
    dial = sub.add_parser("dial", help="call a site into a room (same as `mcu ctl dial`)",
                          description="Dial a roster site id or a sip: URI into a running MCU's room "
                                      "through its admin API; options as for `mcu ctl dial`.")
    dial.add_argument("room", help="room number, e.g. 4100")
    dial.add_argument("target", help="roster site id, sip:/sips: URI or h323:alias@host[:port]")
    dial.add_argument("rest", nargs=argparse.REMAINDER, help="more `mcu ctl dial` options")
    dial.set_defaults(func=lambda a: main(["ctl", "dial", a.room, a.target, *a.rest]))

    register_plan(sub)
    register_bench(sub)
    register_cluster(sub)
    from mcu.usage.cli import register as register_usage

    register_usage(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
