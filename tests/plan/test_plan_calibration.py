from dataclasses import replace
from pathlib import Path

import pytest

from mcu.plan.calibration import (
    DEFAULT_CALIBRATION,
    LoadScenario,
    dumps_calibration,
    load_calibration,
    save_calibration,
)
from mcu.tomlfile import ConfigError
from tests.plan.plan_helpers import unit_cal


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cal.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _valid_text() -> str:
    return dumps_calibration(unit_cal())


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_calibration(tmp_path / "absent.toml")


def test_empty_file_names_every_required_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_calibration(_write(tmp_path, ""))
    keys = {i.key for i in err.value.issues}
    assert {"format", "machine.cores", "machine.usable_fraction", "video.decode_ms", "video.encode_ms",
            "compose.scale_ms_per_tile", "audio.mix_us_per_member", "audio.decode_us",
            "network.rtp_us_per_packet"} <= keys


def test_truncated_toml_is_refused_with_line(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_calibration(_write(tmp_path, "format = 1\n[machine\ncores = 2\n"))


def test_negative_cost_names_file_line_and_key(tmp_path):
    text = _valid_text().replace("hd720 = 3.0", "hd720 = -3.0")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_calibration(path)
    [issue] = err.value.issues
    assert issue.key == "video.encode_ms.ultrafast.hd720"
    assert issue.file == str(path)
    assert text.splitlines()[issue.line - 1].startswith("hd720 = -3.0")
    assert "at least 0" in issue.message


def test_unknown_key_and_codec_are_refused(tmp_path):
    text = _valid_text().replace("[audio.encode_us]\n", "[audio.encode_us]\ng729 = 5.0\n")
    text = text.replace("[network]\n", "[network]\nsrtp_us = 1.0\n")
    with pytest.raises(ConfigError) as err:
        load_calibration(_write(tmp_path, text))
    keys = sorted(i.key for i in err.value.issues)
    assert keys == ["audio.encode_us.g729", "network.srtp_us"]
    assert all("unknown key" in i.message for i in err.value.issues)


def test_usable_fraction_must_be_in_zero_one(tmp_path):
    text = _valid_text().replace("usable_fraction = 0.7", "usable_fraction = 1.5")
    with pytest.raises(ConfigError, match="machine.usable_fraction: must be at most 1"):
        load_calibration(_write(tmp_path, text))


def test_other_format_version_is_refused(tmp_path):
    text = _valid_text().replace("format = 1", "format = 2")
    with pytest.raises(ConfigError, match="unsupported calibration format 2"):
        load_calibration(_write(tmp_path, text))


def test_load_scenario_with_unknown_layout_is_refused(tmp_path):
    text = _valid_text() + '\n[[load]]\nname = "x"\nmembers = 16\nlayout = "mosaic"\nmeasured_cores = 1.0\n'
    with pytest.raises(ConfigError, match=r"load\[0\]\.layout: unknown layout mode 'mosaic'"):
        load_calibration(_write(tmp_path, text))


def test_shipped_calibration_holds_the_design_figures():
    cal = load_calibration(DEFAULT_CALIBRATION)
    assert cal.cores == 2 and cal.usable_fraction == 0.7
    assert cal.encode_ms["ultrafast"]["hd720"] == 3.0
    assert cal.encode_ms["superfast"]["hd720"] == 5.6
    assert cal.encode_ms["veryfast"]["hd720"] == 10.2
    assert (cal.decode_ms["sd360"], cal.decode_ms["hd720"]) == (0.3, 1.0)
    assert cal.audio_encode_us == {"g711": 2.0, "g722": 20.0, "opus": 71.0}
    # every figure says where it came from
    for key in ("video.decode_ms.fhd1080", "video.encode_ms.sd360", "audio.decode_us",
                "network.rtp_us_per_packet", "compose.scale_ms_per_tile", "compose.view_ms",
                "network.video_in_us_per_packet", "network.video_out_us_per_packet",
                "overhead.video_room_ms", "audio.mix_us_per_member"):
        assert cal.notes[key]
    # the running MCU's figures, not the kernels': a member's audio tick and a packet cost more
    assert cal.mix_us_per_member > 10 and cal.rtp_us_per_packet > 5 and cal.video_room_ms > 0


def test_conference_path_costs_are_required_and_not_negative(tmp_path):
    text = _valid_text().replace("view_ms = 0.0", "view_ms = -1.0").replace("video_room_ms = 0.0\n", "")
    with pytest.raises(ConfigError) as err:
        load_calibration(_write(tmp_path, text))
    assert "compose.view_ms: must be at least 0" in str(err.value)
    assert "overhead.video_room_ms: is required" in str(err.value)


def test_save_then_load_round_trips_with_loads_and_notes(tmp_path):
    cal = replace(unit_cal(), notes={"video.decode_ms": 'measured "here"'}, view_ms=0.6, video_room_ms=150.0,
                  loads=(LoadScenario("grid-16", 16, "grid", 16, "hd720", 30.0, "g711", "ultrafast", 3, 1.25),
                         LoadScenario("paged-32", 32, "grid", 9, "hd720", 29.9, "g722", "ultrafast", 3, 0.9,
                                      send_tier="sd360", video_kbps_in=41.5, video_kbps_out=66.7)))
    path = tmp_path / "saved.toml"
    save_calibration(cal, path)
    again = load_calibration(path)
    assert again == replace(cal, path=str(path))
