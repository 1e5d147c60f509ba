"""check() and render(): the functions behind `mcu layout check|render`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mcu.layout.errors import ConfigInvalid, LayoutNotFound
from mcu.layout.tools import check, parse_size, render
from tests.layout.layout_fixtures import CONF, LAYOUTS, write_conf


@pytest.mark.parametrize("text", ["", "1280", "1280x", "x720", "1281x720", "0x720", "axb", "1280x720x2"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_size_parses() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size("352X288") == (352, 288)


def test_check_reports_a_broken_directory(tmp_path: Path) -> None:
    write_conf(tmp_path, LAYOUTS.replace("w = 90, h = 120 }", "w = 91, h = 120 }", 1))
    errors = check(tmp_path)
    assert len(errors) == 1
    assert errors[0].file.endswith("layouts.toml") and errors[0].line > 1
    assert errors[0].key == 'layouts."1+3".regions[1].w'


def test_render_refuses_bad_config_and_unknown_names(tmp_path: Path) -> None:
    write_conf(tmp_path, LAYOUTS, sites='[[sites]]\nid = "Bad Id"\n')
    with pytest.raises(ConfigInvalid):
        render(tmp_path, "speaker", 3, (640, 360), tmp_path / "x.png")
    with pytest.raises(LayoutNotFound):
        render(CONF, "7x7", 3, (640, 360), tmp_path / "x.png")
    with pytest.raises(LayoutNotFound):
        render(CONF, None, 3, (640, 360), tmp_path / "x.png")


def test_shipped_conf_checks_clean() -> None:
    assert check(CONF) == []


def test_render_writes_a_preview_and_a_contact_sheet(tmp_path: Path) -> None:
    one = render(CONF, "speaker", 8, (854, 480), tmp_path / "speaker.png")
    assert Image.open(one).size == (854, 480)
    sheet = render(CONF, None, 0, (0, 0), tmp_path / "all.png", all_layouts=True)
    width, height = Image.open(sheet).size
    assert width > 1000 and height > 500
