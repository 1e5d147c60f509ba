"""Config loading: invalid files first; every error names file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcu.config import load_config
from mcu.tomlfile import ConfigError, TomlFile

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, main: str, rooms: str = "[[room]]\nnumber = \"1\"\n") -> Path:
    for name in ("endpoints.toml", "layouts.toml", "sites.toml"):
        shutil.copy(REPO / "conf" / name, tmp_path / name)
    (tmp_path / "rooms.toml").write_text(rooms, encoding="utf-8")
    path = tmp_path / "mcu.toml"
    path.write_text(main, encoding="utf-8")
    return path


def issues_of(path: Path) -> list:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.issues


def test_missing_file_is_named(tmp_path: Path) -> None:
    (issue,) = issues_of(tmp_path / "absent.toml")
    assert issue.file.endswith("absent.toml") and "not found" in issue.message


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "[log]\nlevel = \n"))
    assert issue.line == 2 and "not valid TOML" in issue.message


def test_unknown_key_names_file_line_key(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "# c\n[audio]\nrate = 16000\nmixsize = 3\n"))
    assert (issue.line, issue.key) == (4, "audio.mixsize")
    assert "unknown key" in issue.message and "mix_size" in issue.message
    assert str(issue).startswith(f"{tmp_path / 'mcu.toml'}:4: audio.mixsize:")


def test_wrong_type_and_impossible_value_all_reported(tmp_path: Path) -> None:
    text = "[rtp]\nport_min = \"20000\"\n\n[video]\nfps = 0\n[log]\nformat = \"xml\"\n"
    found = {(i.key, i.line) for i in issues_of(write(tmp_path, text))}
    assert found == {("rtp.port_min", 2), ("video.fps", 5), ("log.format", 7)}


def test_array_of_tables_error_points_at_the_right_element(tmp_path: Path) -> None:
    text = ("[[sip.listen]]\ntransport = \"udp\"\nport = 5060\n\n"
            "[[sip.listen]]\ntransport = \"sctp\"\nport = 5061\n")
    (issue,) = issues_of(write(tmp_path, text))
    assert (issue.key, issue.line) == ("sip.listen[1].transport", 6)


def test_tls_without_certificate_is_refused(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "[[sip.listen]]\ntransport = \"tls\"\nport = 5061\n"))
    assert "tls_cert" in issue.message and issue.line == 2


def test_port_range_must_be_ordered(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "[rtp]\nport_min = 30000\nport_max = 20000\n"))
    assert (issue.key, issue.line) == ("rtp.port_max", 3)


def test_rooms_file_errors_name_the_rooms_file(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4100"\n[[room]]\nnumber = "4100"\npin = "12ab"\n'
    found = {(Path(i.file).name, i.key, i.line) for i in issues_of(write(tmp_path, "", rooms))}
    assert found == {("rooms.toml", "room[1].pin", 5), ("rooms.toml", "room[1].number", 4)}
    rooms = '[[room]]\nnumber = "4100"\n[[room]]\nnumber = "4100"\n'
    (issue,) = issues_of(write(tmp_path, "", rooms))
    assert (issue.key, issue.line) == ("room[1].number", 4) and "twice" in issue.message


def test_defaults_when_empty(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.mcu.audio.mix_size == 3 and config.mcu.rtp.inactivity_timeout == 30.0
    assert [(x.transport, x.port) for x in config.mcu.sip.listen] == [("udp", 5060), ("tcp", 5060)]
    assert list(config.rooms) == ["1"]


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "conf" / "mcu.toml")
    assert "4100" in config.rooms and config.rooms["4200"].pin


def test_every_key_is_documented_in_the_shipped_config() -> None:
    """Operators read conf/mcu.toml as documentation: every key of the schema appears in it."""
    import dataclasses

    from mcu.config import McuConfig

    text = (REPO / "conf" / "mcu.toml").read_text()
    for section in dataclasses.fields(McuConfig):
        assert f"[{section.name}]" in text or f"[[{section.name}." in text, section.name
        for key in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            assert f"\n{key.name} = " in text or f"[{section.name}.{key.name}]" in text, \
                f"{section.name}.{key.name} is not documented in conf/mcu.toml"


def test_line_of_quoted_and_nested_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[a]\n"b c" = 1\n[a.d]\ne = 2\n[[f]]\ng = 1\n[[f]]\ng = 2\n', encoding="utf-8")
    toml = TomlFile.load(path)
    assert toml.line_of(("a", "b c")) == 2
    assert toml.line_of(("a", "d", "e")) == 4
    assert toml.line_of(("f", 1, "g")) == 8
    assert toml.line_of(("f", 1, "missing")) == 7


def test_room_with_unknown_layout_is_refused(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "", '[[room]]\nnumber = "1"\nlayout = "7x7"\n'))
    assert (Path(issue.file).name, issue.key, issue.line) == ("rooms.toml", "room[0].layout", 3)
    assert "known:" in issue.message and "grid" in issue.message


def test_errors_in_endpoints_and_layouts_are_reported_by_the_main_loader(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    (tmp_path / "endpoints.toml").write_text("[default]\ndtmf = \"smoke\"\n")
    (tmp_path / "layouts.toml").write_text("[layouts.a]\nbogus = 1\n")
    files = {Path(i.file).name for i in issues_of(path)}
    assert files == {"endpoints.toml", "layouts.toml"}


def test_registration_needs_aor_registrar_and_an_existing_password_file(tmp_path: Path) -> None:
    text = ('[[sip.register]]\naor = "4100"\nregistrar = "sip:r.example"\n'
            '[[sip.register]]\naor = "sip:4100@x.example"\nregistrar = "sip:r.example"\npassword_file = "nope"\n')
    found = {(i.key, i.line) for i in issues_of(write(tmp_path, text))}
    assert found == {("sip.register[0].aor", 2), ("sip.register[1].password_file", 7)}


def test_roster_profile_that_endpoints_toml_lacks_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    sites = (tmp_path / "sites.toml").read_text(encoding="utf-8")
    (tmp_path / "sites.toml").write_text(sites.replace('profile = "lifesize"', 'profile = "lifesise"', 1),
                                         encoding="utf-8")
    (issue,) = issues_of(path)
    line = next(i for i, text in enumerate((tmp_path / "sites.toml").read_text().splitlines(), 1)
                if 'profile = "lifesise"' in text)
    assert (Path(issue.file).name, issue.line) == ("sites.toml", line)
    assert issue.key.endswith(".profile") and "lifesise" in issue.message and "lifesize" in issue.message


def test_limits_are_validated(tmp_path: Path) -> None:
    (issue,) = issues_of(write(tmp_path, "[limits]\nunconfirmed_calls = 0\n"))
    assert (issue.key, issue.line) == ("limits.unconfirmed_calls", 2)


def test_gatekeeper_is_off_by_default_and_its_address_is_validated(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).mcu.h323.gatekeeper.address == ""
    config = load_config(write(tmp_path, '[h323.gatekeeper]\naddress = "[::1]:1719"\ntime_to_live = 4\n'))
    assert config.mcu.h323.gatekeeper.address == "[::1]:1719" and config.mcu.h323.gatekeeper.time_to_live == 4
    text = '[h323]\nport = 1720\n[h323.gatekeeper]\naddress = "gk.example:99999"\ntime_to_live = 1\n'
    issues = issues_of(write(tmp_path, text))
    assert {(i.key, i.line) for i in issues} == {("h323.gatekeeper.address", 4),
                                                  ("h323.gatekeeper.time_to_live", 5)}
    assert "host:port" in str(issues[0]) and str(issues[0]).startswith(f"{tmp_path / 'mcu.toml'}:4:")
