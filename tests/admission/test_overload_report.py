"""bench/overload.py without a run: SIP statuses from the sites' failures, roster names, the report."""

from __future__ import annotations

from bench.loadgen import plan_members
from bench.overload import SCENARIO, STATUS, OverloadResult, report, roster_names
from bench.scenario import parse_scenario


def test_status_of_a_refused_site() -> None:
    failure = "member 12: call to sip:4100@127.0.0.1:5080 failed: 503 MCU At Capacity"
    match = STATUS.search(failure)
    assert match is not None and match.group(1) == "503"


def test_chair_first_and_roster_sites_last() -> None:
    members = roster_names(plan_members(parse_scenario(SCENARIO)), roster=2)
    assert len(members) == 24
    assert "Trung ương" in members[0].name
    assert members[-1].name != "Site 24" and members[-2].name != "Site 23" and members[-3].name == "Site 22"


def test_report_says_when_admission_is_not_wired() -> None:
    unwired = report(OverloadResult(asked=24, admitted=24, answers={"200": 24}, probe_fps=[20.0]))
    assert "no 503" in unwired and "NOT SHOWN" in unwired
    shown = OverloadResult(asked=24, admitted=10, answers={"200": 10, "503": 14}, refused_503=14,
                           probe_fps=[29.9, 30.0])
    assert shown.ok and "verdict                OK" in report(shown)
