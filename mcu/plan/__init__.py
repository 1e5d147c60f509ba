"""Capacity planner (`mcu plan`): size a briefing network before buying it.

Pure arithmetic, no sockets. Pipeline:

    calibration.py  unit costs of one machine (TOML; `mcu bench calibrate` writes it)
    inputs.py       the planner's input TOML + command-line overrides, validated
    cpu.py          decodes / distinct views / audio encodes of one meeting x unit costs
    network.py      bitrates and packets with RTP/UDP/IP overhead
    delay.py        one-way delay per site and the ITU-T G.114 150 ms check
    model.py        machines, bandwidth at the central site, volume, utilisation, cost
    loadcheck.py    predicted / measured CPU for the calibration's measured load scenarios
    report.py       terminal summary and Markdown report; charts.py draws the PNGs
    cli.py          `register(subparsers)` adds the `plan` subcommand

Each module's docstring gives its formulas, so any figure can be checked by hand.
"""

from mcu.plan.calibration import Calibration, LoadScenario, load_calibration, save_calibration
from mcu.plan.inputs import PlanInputs, load_inputs
from mcu.plan.model import PlanResult, make_plan

__all__ = ["Calibration", "LoadScenario", "PlanInputs", "PlanResult", "load_calibration", "load_inputs",
           "make_plan", "save_calibration"]
