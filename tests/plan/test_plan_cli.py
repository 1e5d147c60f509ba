import argparse
from pathlib import Path

import pytest

from mcu.plan.calibration import dumps_calibration, load_calibration
from mcu.plan.cli import register

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "conf" / "plan.example.toml"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcu")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["plan", *argv])
    return args.func(args)


def test_unknown_flag_value_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as err:
        _run(["--quality", "4k"])
    assert err.value.code == 2
    assert "invalid choice: '4k'" in capsys.readouterr().err


def test_bad_input_exits_1_naming_file_line_and_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[meetings]\nper_month = 2\nconcurrent = 5\n[sites]\ncount = 4\n", encoding="utf-8")
    assert _run([str(path), "--no-report"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: meetings.concurrent: 5 meetings at the same time but only 2 per month" in err


def test_bad_flag_exits_1_naming_the_flag(capsys):
    assert _run(["--sites", "1", "--no-report"]) == 1
    assert "command line: sites.count: must be at least 2, got 1 (from --sites)" in capsys.readouterr().err


def test_bad_calibration_exits_1(tmp_path, capsys):
    cal = tmp_path / "cal.toml"
    cal.write_text("format = 1\n", encoding="utf-8")
    assert _run(["--sites", "4", "--calibration", str(cal), "--no-report"]) == 1
    assert "calibration rejected" in capsys.readouterr().err


def test_example_plan_writes_report_and_charts(tmp_path, capsys):
    out = tmp_path / "report"
    assert _run([str(EXAMPLE), "-o", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "64 sites (50 x hd720@30, 10 x sd360@30, 4 x audio)" in summary
    assert "bound by encode" in summary
    assert "Cost per month: build" in summary
    assert f"Report: {out / 'plan.md'} (4 charts)" in summary
    md = (out / "plan.md").read_text(encoding="utf-8")
    for heading in ("## CPU", "## Machines", "## Bandwidth", "## Delay", "## Utilisation and cost"):
        assert heading in md
    for chart in ("cpu.png", "bandwidth.png", "delay.png", "cost.png"):
        data = (out / chart).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
        assert f"]({chart})" in md


def test_quick_question_from_flags_only(tmp_path, capsys):
    out = tmp_path / "quick"
    code = _run(["--sites", "12", "--quality", "sd360", "--layout", "voice", "--concurrent", "2",
                 "--meetings-per-month", "8", "--machine-cores", "8", "--no-report"])
    assert code == 0
    summary = capsys.readouterr().out
    assert "12 sites (12 x sd360@30), voice-activated, 2 concurrent of 8 meetings/month" in summary
    assert "2 video decodes, 2 views encoded (1 own + 1 shared)" in summary
    assert "Report:" not in summary and not out.exists()


def test_self_view_flag_gives_one_shared_view(capsys):
    assert _run(["--sites", "12", "--quality", "hd720", "--tiles", "9", "--self-view", "--no-report"]) == 0
    summary = capsys.readouterr().out
    assert "grid (9 tiles per page, self view)" in summary
    assert "9 video decodes, 1 views encoded (0 own + 1 shared)" in summary


def test_lecture_audience_tiles_flag(capsys):
    assert _run(["--sites", "64", "--quality", "hd720", "--layout", "lecture", "--audience-tiles", "13",
                 "--self-view", "--no-report"]) == 0
    summary = capsys.readouterr().out
    assert "lecture (chair sees 1 tile(s), the others 13, self view)" in summary
    assert "2 views encoded (1 own + 1 shared)" in summary


def test_check_load_prints_the_ratios(tmp_path, capsys):
    cal = load_calibration()
    text = dumps_calibration(cal) + (
        '\n[[load]]\nname = "grid-16"\nmembers = 16\nlayout = "grid"\ntiles = 16\ntier = "hd720"\n'
        'audio_codec = "g711"\nmeasured_cores = 100.0\n')
    path = tmp_path / "cal.toml"
    path.write_text(text, encoding="utf-8")
    assert _run(["--sites", "4", "--calibration", str(path), "--no-report", "--check-load"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Load check grid-16"))
    assert "(16 members)" in line and "measured 100.00" in line and "outside +-20%" in line
