from pathlib import Path

import pytest

from mcu.plan.calibration import load_calibration
from mcu.plan.inputs import load_inputs
from mcu.tomlfile import ConfigError
from tests.plan.plan_helpers import unit_cal

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "conf" / "plan.example.toml"


def _write(tmp_path: Path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _issues(path, **kw):
    with pytest.raises(ConfigError) as err:
        load_inputs(path, **kw)
    return err.value.issues


def _line(path: Path, issue) -> str:
    return path.read_text(encoding="utf-8").splitlines()[issue.line - 1]


# --- refused inputs first

def test_missing_input_file_is_refused(tmp_path):
    assert "file not found" in str(_issues(tmp_path / "nope.toml")[0])


def test_empty_file_asks_for_sites(tmp_path):
    [issue] = _issues(_write(tmp_path, ""))
    assert issue.key == "sites.count" and "is required" in issue.message


def test_negative_count_names_field_and_line(tmp_path):
    path = _write(tmp_path, "[meetings]\nper_month = 4\n\n[sites]\ncount = -3\n")
    [issue] = _issues(path)
    assert issue.key == "sites.count" and issue.file == str(path)
    assert _line(path, issue) == "count = -3"
    assert "at least 2" in issue.message


def test_more_concurrent_than_meetings_is_refused(tmp_path):
    path = _write(tmp_path, "[meetings]\nper_month = 2\nconcurrent = 3\n[sites]\ncount = 5\n")
    [issue] = _issues(path)
    assert issue.key == "meetings.concurrent"
    assert _line(path, issue) == "concurrent = 3"
    assert "3 meetings at the same time but only 2 per month" in issue.message


def test_meetings_that_do_not_fit_in_a_month(tmp_path):
    path = _write(tmp_path, "[meetings]\nper_month = 1000\ntypical_minutes = 60\n[sites]\ncount = 5\n")
    [issue] = _issues(path)
    assert issue.key == "meetings.per_month" and "do not fit in a month" in issue.message


def test_longest_shorter_than_typical(tmp_path):
    path = _write(tmp_path, "[meetings]\ntypical_minutes = 90\nlongest_minutes = 30\n[sites]\ncount = 5\n")
    assert _issues(path)[0].key == "meetings.longest_minutes"


def test_unknown_tier_in_group_names_the_line(tmp_path):
    text = "[sites]\ncount = 10\n\n[[sites.groups]]\nname = \"far\"\ncount = 2\ntier = \"4k\"\n"
    path = _write(tmp_path, text)
    [issue] = _issues(path)
    assert issue.key == "sites.groups[0].tier"
    assert _line(path, issue) == 'tier = "4k"'
    assert "unknown quality tier '4k'" in issue.message and "hd720" in issue.message


def test_unknown_keys_are_refused_everywhere(tmp_path):
    text = "colour = 1\n[sites]\ncount = 5\nbandwith = 2\n[meeting]\nlayuot = \"grid\"\n"
    keys = sorted(i.key for i in _issues(_write(tmp_path, text)))
    assert keys == ["colour", "meeting.layuot", "sites.bandwith"]


def test_several_problems_are_reported_at_once(tmp_path):
    text = "[sites]\ncount = 5\nfps = 0\njitter_ms = -1\n[meeting]\nlayout = \"mosaic\"\n"
    keys = sorted(i.key for i in _issues(_write(tmp_path, text)))
    assert keys == ["meeting.layout", "sites.fps", "sites.jitter_ms"]


def test_distance_and_rtt_together_are_ambiguous(tmp_path):
    [issue] = _issues(_write(tmp_path, "[sites]\ncount = 5\ndistance_km = 100\nrtt_ms = 5\n"))
    assert issue.key == "sites.rtt_ms" and "not both" in issue.message


def test_groups_larger_than_count(tmp_path):
    text = "[sites]\ncount = 3\n[[sites.groups]]\ncount = 4\n"
    [issue] = _issues(_write(tmp_path, text))
    assert issue.key == "sites.count" and "groups add up to 4" in issue.message


def test_roster_problems(tmp_path):
    [missing] = _issues(_write(tmp_path, '[sites]\nroster = "absent.toml"\n'))
    assert missing.key == "sites.roster" and "file not found" in missing.message

    roster = _write(tmp_path, '[[sites]]\nid = "a"\n[[sites]]\nid = "a"\ntier = "8k"\n', "roster.toml")
    issues = _issues(_write(tmp_path, '[sites]\nroster = "roster.toml"\n'))
    assert {i.file for i in issues} == {str(roster)}
    assert sorted(i.key for i in issues) == ["sites[1].id", "sites[1].tier"]

    text = '[sites]\nroster = "roster.toml"\n[[sites.groups]]\ncount = 2\n'
    assert "not both" in str(_issues(_write(tmp_path, text))[0])


def test_roster_count_mismatch(tmp_path):
    _write(tmp_path, '[[sites]]\nid = "a"\n[[sites]]\nid = "b"\n', "roster.toml")
    [issue] = _issues(_write(tmp_path, '[sites]\ncount = 5\nroster = "roster.toml"\n'))
    assert issue.key == "sites.count" and "roster lists 2" in issue.message


def test_preset_the_calibration_lacks(tmp_path):
    path = _write(tmp_path, '[sites]\ncount = 5\n[meeting]\npreset = "veryfast"\n')
    [issue] = _issues(path, calibration=unit_cal())
    assert issue.key == "meeting.preset" and "no costs for preset 'veryfast'" in issue.message


def test_bad_flag_value_is_blamed_on_the_flag():
    issues = _issues(None, overrides={("sites", "count"): 0, ("meetings", "concurrent"): 9},
                     flags={("sites", "count"): "--sites", ("meetings", "concurrent"): "--concurrent"})
    text = [str(i) for i in issues]
    assert any(t.startswith("command line: sites.count") and "(from --sites)" in t for t in text)
    assert any("meetings.concurrent" in t and "(from --concurrent)" in t for t in text)


# --- accepted inputs

def test_example_config_is_valid_with_shipped_calibration():
    inputs = load_inputs(EXAMPLE, calibration=load_calibration())
    assert len(inputs.sites) == 64
    tiers = [s.media.tier for s in inputs.sites]
    assert tiers.count("sd360") == 10 and tiers.count("audio") == 4
    assert inputs.sites[0].chair and inputs.sites[0].path.distance_km == 0.0
    assert inputs.sites[-1].path.rtt_ms == 60.0  # the "phone" group uses a measured RTT
    assert inputs.redundancy == "n+1" and inputs.prices.port_per_hour == 2.5


def test_flags_override_the_file_and_sites_replaces_groups():
    inputs = load_inputs(EXAMPLE, {("sites", "count"): 16, ("meeting", "layout"): "voice",
                                   ("sites", "rtt_ms"): 20.0})
    assert len(inputs.sites) == 16
    assert {s.media.tier for s in inputs.sites} == {"hd720"}
    assert inputs.layout.mode == "voice"
    assert inputs.sites[1].path.rtt_ms == 20.0 and inputs.sites[1].path.propagation_ms == 10.0


def test_roster_file_with_planner_fields_and_chair(tmp_path):
    _write(tmp_path, '[[sites]]\nid = "a"\ndistance_km = 900\ntier = "sd360"\n'
                     '[[sites]]\nid = "hq"\nrole = "chair"\nuri = "sip:hq@x"\nprofile = "cisco-sx"\n'
                     '[[sites]]\nid = "b"\nrtt_ms = 30\n', "roster.toml")
    inputs = load_inputs(_write(tmp_path, '[sites]\nroster = "roster.toml"\ntier = "hd720"\n'))
    assert [s.id for s in inputs.sites] == ["hq", "a", "b"]
    assert inputs.chair.id == "hq" and inputs.chair.path.propagation_ms == 0.0
    assert inputs.sites[1].media.tier == "sd360" and inputs.sites[2].media.tier == "hd720"
    assert inputs.sites[1].path.propagation_ms == pytest.approx(900 * 1.5 * 0.005)


def test_project_roster_is_accepted(tmp_path):
    roster = ROOT / "conf" / "sites.toml"
    inputs = load_inputs(_write(tmp_path, f'[sites]\nroster = "{roster}"\n'))
    assert len(inputs.sites) > 2 and inputs.chair.id == "trung-uong"
