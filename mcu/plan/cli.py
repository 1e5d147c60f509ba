"""`mcu plan`: size a briefing network from an input file and/or quick command-line flags.

The lead wires it into mcu/cli.py with `mcu.plan.cli.register(sub)`, where `sub` is the
object argparse's `add_subparsers()` returned. Exit status: 0 plan printed (and written),
1 inputs or calibration rejected (every problem printed with file, line and key).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mcu.plan.calibration import DEFAULT_CALIBRATION, LAYOUT_MODES, load_calibration
from mcu.plan.inputs import REDUNDANCY, load_inputs
from mcu.plan.loadcheck import TOLERANCE, check_loads
from mcu.plan.model import make_plan
from mcu.plan.report import summary_text, write_report
from mcu.plan.tiers import AUDIO_CODECS, PRESETS, TIERS
from mcu.tomlfile import ConfigError

DEFAULT_OUT = "plan-report"

# (flag, key path in the input file, argparse keyword arguments)
OVERRIDES: tuple[tuple[str, tuple, dict[str, Any]], ...] = (
    ("--sites", ("sites", "count"), {"type": int, "metavar": "N",
                                     "help": "N sites (replaces the file's roster and groups)"}),
    ("--quality", ("sites", "tier"), {"choices": TIERS, "help": "default quality tier of the sites"}),
    ("--fps", ("sites", "fps"), {"type": float, "help": "default frame rate of the sites"}),
    ("--audio-codec", ("sites", "audio_codec"), {"choices": AUDIO_CODECS, "help": "default audio codec"}),
    ("--people", ("sites", "people"), {"type": int, "help": "people per site"}),
    ("--distance-km", ("sites", "distance_km"), {"type": float, "metavar": "KM",
                                                 "help": "default distance of a site from the central site"}),
    ("--rtt-ms", ("sites", "rtt_ms"), {"type": float, "metavar": "MS",
                                       "help": "default measured round-trip time to the central site"}),
    ("--meetings-per-month", ("meetings", "per_month"), {"type": int, "metavar": "N"}),
    ("--duration-min", ("meetings", "typical_minutes"), {"type": float, "metavar": "MIN",
                                                         "help": "typical meeting length"}),
    ("--longest-min", ("meetings", "longest_minutes"), {"type": float, "metavar": "MIN"}),
    ("--concurrent", ("meetings", "concurrent"), {"type": int, "metavar": "M",
                                                  "help": "meetings at the same time"}),
    ("--layout", ("meeting", "layout"), {"choices": LAYOUT_MODES,
                                         "help": "voice (speaker full screen), lecture or grid"}),
    ("--tiles", ("meeting", "tiles"), {"type": int, "help": "grid: tiles per page"}),
    ("--audience-tiles", ("meeting", "audience_tiles"), {"type": int, "metavar": "N",
                                                       "help": "lecture: tiles the other sites see, "
                                                               "the chair's included (1: the chair alone)"}),
    ("--self-view", ("meeting", "self_view"), {"action": argparse.BooleanOptionalAction,
                                               "help": "sites on screen see themselves too (one "
                                                       "view for the room; rooms.toml self_view)"}),
    ("--preset", ("meeting", "preset"), {"choices": PRESETS, "help": "libx264 preset of the views"}),
    ("--recording", ("meeting", "recording"), {"action": argparse.BooleanOptionalAction,
                                               "help": "record each meeting"}),
    ("--content", ("meeting", "content"), {"action": argparse.BooleanOptionalAction,
                                           "help": "content sharing (a presentation stream)"}),
    ("--redundancy", ("deployment", "redundancy"), {"choices": REDUNDANCY}),
    ("--machine-cores", ("deployment", "machine_cores"), {"type": int, "metavar": "N",
                                                          "help": "cores per MCU machine to buy"}),
)


def _dest(flag: str) -> str:
    return "plan_" + flag.lstrip("-").replace("-", "_")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `plan` subcommand to an argparse subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "plan", help="size a deployment: machines, bandwidth, delay, use and cost",
        description="Turn how often you meet, how many sites join, how far they are and what quality "
                    "they need into CPU cores, MCU machines, bandwidth, one-way delay per site, "
                    "utilisation and (with prices) build versus rent. Flags override the input file.")
    parser.add_argument("input", nargs="?", help="planner input TOML (see conf/plan.example.toml)")
    parser.add_argument("--calibration", default=str(DEFAULT_CALIBRATION), metavar="FILE",
                        help="unit costs (default: the shipped conf/calibration.toml; "
                             "`mcu bench calibrate` writes one for your machine)")
    parser.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"folder for plan.md and the PNG charts (default: {DEFAULT_OUT})")
    parser.add_argument("--no-report", action="store_true", help="print the summary only")
    parser.add_argument("--check-load", action="store_true",
                        help="also print predicted / measured CPU for the calibration's [[load]] scenarios")
    for flag, _path, kwargs in OVERRIDES:
        parser.add_argument(flag, dest=_dest(flag), default=None, **kwargs)
    parser.set_defaults(func=cmd_plan)
    return parser


def overrides_from_args(args: argparse.Namespace) -> tuple[dict[tuple, Any], dict[tuple, str]]:
    values: dict[tuple, Any] = {}
    flags: dict[tuple, str] = {}
    for flag, path, _kwargs in OVERRIDES:
        value = getattr(args, _dest(flag), None)
        if value is not None:
            values[path] = value
            flags[path] = flag
    return values, flags


def _print_rejected(what: str, exc: ConfigError) -> None:
    print(f"{what} rejected ({len(exc.issues)} problem(s)):", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        cal = load_calibration(args.calibration)
    except ConfigError as exc:
        _print_rejected("calibration", exc)
        return 1
    values, flags = overrides_from_args(args)
    try:
        inputs = load_inputs(args.input, values, flags, calibration=cal)
    except ConfigError as exc:
        _print_rejected("plan inputs", exc)
        return 1
    result = make_plan(inputs, cal)
    print(summary_text(result))
    if not args.no_report:
        files = write_report(result, Path(args.out))
        print(f"Report: {files.markdown} ({len(files.charts)} charts)")
    if args.check_load:
        checks = check_loads(cal)  # each at the bitrates its run recorded
        if not checks:
            print(f"Load check: {cal.path} has no [[load]] scenarios (the benchmark suite adds them)")
        for c in checks:
            verdict = "ok" if c.within() else f"outside +-{TOLERANCE:.0%}"
            print(f"Load check {c.name} ({c.members} members): predicted {c.predicted_cores:.2f} cores, "
                  f"measured {c.measured_cores:.2f}, ratio {c.ratio:.2f} ({verdict})")
    return 0
