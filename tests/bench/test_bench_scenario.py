"""Scenario files of the benchmark suite: parsing, errors that name the key, shipped files."""

from __future__ import annotations

import pytest

from bench.scenario import (
    SCENARIO_DIR,
    ScenarioError,
    find_scenario,
    parse_scenario,
    scenario_paths,
)

MINIMAL = '[scenario]\nname = "t"\n'


@pytest.mark.parametrize(("text", "needle"), [
    ("", "[scenario] name is required"),
    ("[scenario\nname = 1", "not valid TOML"),
    ('[scenario]\nname = ""\n', "name is required"),
    (MINIMAL + "[bogus]\nx = 1\n", "unknown section"),
    (MINIMAL + "[members]\ncolour = 3\n", "unknown key"),
    (MINIMAL + '[members]\ncount = "nine"\n', "count must be an integer"),
    (MINIMAL + "[members]\ncount = 1\n", "count must be at least 2"),
    (MINIMAL + "[members]\ncount = 4\nprobes = 5\n", "probes must be within"),
    (MINIMAL + '[members]\naudio_codec = "G729"\n', "audio_codec = 'G729'"),
    (MINIMAL + '[room]\nmode = "chaos"\n', "mode = 'chaos'"),
    (MINIMAL + "[room]\naudio_rate = 44100\n", "audio_rate = 44100"),
    (MINIMAL + '[peers]\ncompositing = ["vlc"]\n', "compositing = 'vlc'"),
    (MINIMAL + "[members]\nvideo = 1\n", "video must be true or false"),
    (MINIMAL + "[scenario]\n", "not valid TOML"),
    ('[scenario]\nname = "t"\nseconds = -1\n', "seconds must be a positive number"),
    (MINIMAL + "[churn]\ninterval = 1.0\nmembers = 9\n", "[churn]"),
])
def test_bad_scenarios_are_refused_naming_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "x.toml")
    assert needle in str(info.value)
    assert "x.toml" in str(info.value)


def test_defaults_and_window() -> None:
    s = parse_scenario(MINIMAL)
    assert s.name == "t" and s.members.count == 9 and s.room.fps == 30
    assert s.window(quick=False) == 20.0 and s.window(quick=True) == 6.0
    assert s.peers.compositing == () and not s.plan.record


def test_every_shipped_scenario_parses_and_covers_the_issue() -> None:
    paths = scenario_paths()
    assert {"audio-100-pcmu", "audio-100-opus", "video-9", "video-16", "video-32", "video-64",
            "briefing-64"} <= set(paths)
    for stem, path in paths.items():
        s = find_scenario(str(path))
        assert s.name == stem, f"{path}: [scenario] name should be the file stem"
    briefing = find_scenario("briefing-64")
    assert briefing.room.mode == "lecture" and briefing.members.chair and briefing.room.chair_pin
    assert briefing.members.count == 64 and briefing.members.names == "province"
    assert find_scenario("audio-100-opus").peers.janus == "opus"
    assert find_scenario("video-16").peers.compositing == ("ffmpeg", "gstreamer")
    # the planner's load checks are meetings of 16, 32 and 64 members this 2-core box holds at
    # 30 fps; the 32- and 64-grids do not hold, so their CPU is not what the meeting needs
    checks = sorted((s.members.count, s.name) for s in map(find_scenario, paths) if s.plan.record)
    assert checks == [(16, "video-16"), (32, "paged-32"), (64, "briefing-64-chairview")]
    assert all(find_scenario(n).plan.send_tier == "sd360" for _, n in checks)  # 640x360 senders
    chairview = find_scenario("briefing-64-chairview")
    assert chairview.plan.record and chairview.plan.layout == "lecture" and chairview.room.layout == "1x1"
    assert {find_scenario(n).members.audio_codec for n in paths} >= {"PCMU", "G722", "opus"}


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match="video-9"):
        find_scenario("no-such-scenario", SCENARIO_DIR)
