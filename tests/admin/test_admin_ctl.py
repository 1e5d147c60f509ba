"""`mcu ctl`: the same commands from the command line, tables for people and --json for scripts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from admin_helpers import RunningMcu, SippUac, write_admin_config

from mcu.admin.commands import COMMANDS
from mcu.admin.ctl import CLI_GROUPS, EXIT_REFUSED, EXIT_UNREACHABLE, register

pytestmark = pytest.mark.peer


def _ctl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcu")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ctl", *argv])
    return int(args.func(args))


def test_every_command_is_a_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="mcu")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    ctl = sub.choices["ctl"]

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    names = set()
    for name, parser in choices(ctl).items():  # `record start` stands for the command record-start
        names |= {f"{name}-{verb}" for verb in choices(parser)} if name in CLI_GROUPS else {name}
    assert names == {c.name for c in COMMANDS}
    assert {"record", "stream", "recordings"} <= set(choices(ctl))


def test_unreachable_api_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_admin_config(tmp_path)  # nothing listens on its admin port
    assert _ctl(["rooms", "-c", str(config)]) == EXIT_UNREACHABLE
    assert "cannot reach the admin API" in capsys.readouterr().err


def test_missing_token_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_admin_config(tmp_path, token=None)
    assert _ctl(["rooms", "-c", str(config)]) == EXIT_UNREACHABLE
    assert "openssl rand" in capsys.readouterr().err


def test_ctl_tables_json_changes_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_admin_config(tmp_path))
    with RunningMcu(Path(config)) as mcu:
        uac = SippUac(mcu.sip_port, "4100")
        try:
            member = mcu.wait_members("4100", 1)[0]
            capsys.readouterr()
            assert _ctl(["rooms", "-c", config]) == 0
            out = capsys.readouterr().out.splitlines()
            assert out[0].split()[:3] == ["ROOM", "NAME", "MEMBERS"] and out[1].startswith("4100")
            assert _ctl(["members", "4100", "-c", config, "--json"]) == 0
            rows = json.loads(capsys.readouterr().out)
            assert rows[0]["id"] == member.member_id and rows[0]["audio"]["codec"] == "PCMU"
            assert _ctl(["mute", "4100", str(member.member_id), "-c", config, "--operator", "duty-officer"]) == 0
            assert mcu.members("4100")[0].muted is True
            assert "muted: yes" in capsys.readouterr().out
            assert _ctl(["layout", "4100", "2x2", "--mode", "voice", "-c", config]) == 0
            state = mcu.on_loop(lambda: mcu.room("4100").video.state)
            assert (state.layout, state.mode.value) == ("2x2", "voice")
            capsys.readouterr()
            assert _ctl(["layout", "4100", "no-such", "-c", config]) == EXIT_REFUSED
            err = capsys.readouterr().err
            assert "refused (400)" in err and "no layout or group named 'no-such'" in err
            png = tmp_path / "view.png"
            from helpers import wait_for
            wait_for(lambda: _ctl(["snapshot", "4100", str(member.member_id), "-o", str(png), "-c", config]) == 0,
                     10, "a snapshot")
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            uac.kill()
