"""conf/tenants.toml: tenants own rooms by dial plan, every problem named with file and line, and no
file at all is the single-tenant MCU of before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcu.config import load_config
from mcu.tenants import token_digest
from mcu.tomlfile import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"
TOKEN_A = "tenant-a-token-0123456789"
TOKEN_B = "tenant-b-token-0123456789"

GOOD = f'''
[[tenant]]
name = "moh"
display_name = "Ministry of Health"
prefix = "41"
rooms = ["5000"]
sites = ["hanoi"]
layouts = ["grid", "speaker"]
[[tenant.token]]
name = "moh-ops"
file = "moh.token"
[tenant.quota]
sites = 2
rooms = 1
max_tier = "sd360"

[[tenant]]
name = "mof"
prefix = "42"
[[tenant.token]]
name = "mof-ops"
sha256 = "{token_digest(TOKEN_B)}"
'''


def conf_dir(tmp: Path, tenants: str | None) -> Path:
    for name in ("mcu.toml", "endpoints.toml", "layouts.toml", "calibration.toml"):
        shutil.copy(CONF / name, tmp / name)
    (tmp / "sites.toml").write_text('[[sites]]\nid = "hanoi"\nuri = "sip:hanoi@192.0.2.1"\nname = "Ha Noi"\n'
                                    '[[sites]]\nid = "hue"\nuri = "sip:hue@192.0.2.2"\nname = "Hue"\n')
    (tmp / "rooms.toml").write_text("".join(f'[[room]]\nnumber = "{n}"\n' for n in ("4100", "4101", "4200", "5000",
                                                                                     "6000")))
    (tmp / "moh.token").write_text(TOKEN_A + "\n")
    if tenants is not None:
        (tmp / "tenants.toml").write_text(tenants)
    return tmp / "mcu.toml"


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return [str(i) for i in exc.value.issues]


def test_no_tenants_file_is_the_single_tenant_default(tmp_path: Path) -> None:
    config = load_config(conf_dir(tmp_path, None))
    assert not config.tenants and config.tenants.owner("4100") is None
    assert config.tenants.owner_name("4100") == ""


def test_shipped_config_has_no_tenants_and_the_example_is_valid(tmp_path: Path) -> None:
    assert not load_config(CONF / "mcu.toml").tenants
    example = (CONF / "tenants.example.toml").read_text()
    path = conf_dir(tmp_path, example)
    for name in ("rooms.toml", "sites.toml"):
        shutil.copy(CONF / name, tmp_path / name)
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "moh.token").write_text(TOKEN_A)
    assert load_config(path).tenants.names()


def test_tenants_own_rooms_by_prefix_and_list_and_tokens_match_by_digest(tmp_path: Path) -> None:
    tenants = load_config(conf_dir(tmp_path, GOOD)).tenants
    assert tenants.names() == ["moh", "mof"]
    assert tenants.owner_name("4100") == tenants.owner_name("4101") == tenants.owner_name("5000") == "moh"
    assert tenants.owner_name("4200") == "mof" and tenants.owner_name("6000") == ""
    moh = tenants.by_name["moh"]
    assert moh.quota.sites == 2 and moh.quota.max_tier == "sd360" and moh.sites == {"hanoi"}
    assert moh.may_use_layout("grid") and not moh.may_use_layout("2x2")
    assert tenants.by_name["mof"].may_use_layout("2x2")  # no list: every layout
    found_a, found_b = tenants.token_owner(TOKEN_A), tenants.token_owner(TOKEN_B)
    assert found_a is not None and (found_a[0].name, found_a[1].name) == ("moh", "moh-ops")
    assert found_b is not None and found_b[0].name == "mof"
    assert tenants.token_owner("not-a-token-at-all-000") is None
    assert TOKEN_A not in repr(tenants)  # only digests are kept


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


def test_overlapping_prefixes_are_rejected_with_file_and_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace('prefix = "42"', 'prefix = "4"')
    found = problems(conf_dir(tmp_path, text))
    line, first = _line(text, 'prefix = "4"'), _line(text, 'prefix = "41"')
    assert any(p.startswith(f"{tmp_path / 'tenants.toml'}:{line}: tenant[1].prefix:") and "overlaps" in p
               and f"line {first}" in p for p in found), found


@pytest.mark.parametrize(("change", "needle", "message"), [
    (('rooms = ["5000"]', 'rooms = ["4200"]'), 'rooms = ["4200"]', "under tenant 'mof'"),
    (('rooms = ["5000"]', 'rooms = ["7777"]'), 'rooms = ["7777"]', "no room '7777'"),
    (('sites = ["hanoi"]', 'sites = ["nowhere"]'), 'sites = ["nowhere"]', "no site 'nowhere'"),
    (('layouts = ["grid", "speaker"]', 'layouts = ["grid", "nope"]'), "layouts =", "no layout or group 'nope'"),
    (('file = "moh.token"', 'file = "missing.token"'), 'file = "missing.token"', "cannot read"),
    (('max_tier = "sd360"', 'max_tier = "8k"'), 'max_tier = "8k"', "must be one of"),
    (('sites = 2', 'sites = -1'), "sites = -1", "must be between"),
    (('name = "mof-ops"', 'name = "moh-ops"'), 'name = "moh-ops"', "already used by tenant 'moh'"),
    (('sha256 = ', 'sha256 = "abc" # '), 'sha256 = "abc"', "SHA-256"),
])
def test_bad_tenants_are_rejected_with_file_and_line(tmp_path: Path, change: tuple[str, str], needle: str,
                                                       message: str) -> None:
    text = GOOD.replace(*change)
    found = problems(conf_dir(tmp_path, text))
    occurrence = 2 if needle == 'name = "moh-ops"' else 1
    line = _line(text, needle, occurrence)
    assert any(p.startswith(f"{tmp_path / 'tenants.toml'}:{line}:") and message in p for p in found), found


def test_a_short_token_file_and_a_room_claimed_twice(tmp_path: Path) -> None:
    text = GOOD.replace('prefix = "42"', 'prefix = "42"\nrooms = ["5000"]')
    path = conf_dir(tmp_path, text)
    (tmp_path / "moh.token").write_text("short\n")
    found = problems(path)
    assert any("shorter than 16" in p for p in found), found
    line = _line(text, 'rooms = ["5000"]', 2)
    assert any(f":{line}:" in p and "already tenant 'moh'" in p for p in found), found


def test_a_bad_tenants_reload_keeps_the_running_tenants(tmp_path: Path) -> None:
    from mcu.server import McuServer

    path = conf_dir(tmp_path, GOOD)
    server = McuServer(load_config(path))
    (tmp_path / "tenants.toml").write_text(GOOD.replace('prefix = "42"', 'prefix = "41"'))
    found = server.reload_config()
    assert found and "overlaps" in found[0] and "tenants.toml" in found[0]
    assert server.config.tenants.owner_name("4200") == "mof"  # the running tenants stay
    (tmp_path / "tenants.toml").write_text(GOOD.replace('prefix = "42"', 'prefix = "60"'))
    assert server.reload_config() == []
    assert server.config.tenants.owner_name("6000") == "mof" and server.config.tenants.owner_name("4200") == ""
    server.pool.shutdown()
