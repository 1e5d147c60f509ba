"""Plain functions behind `mcu layout check` and `mcu layout render` (the CLI wires them)."""

from __future__ import annotations

from pathlib import Path

from mcu.layout.errors import ConfigError, LayoutNotFound
from mcu.layout.loader import check_config_dir, load_config_dir
from mcu.layout.render import render_contact_sheet, render_layout_png

DEFAULT_SIZE = (1280, 720)


def check(conf_dir: Path | str) -> list[ConfigError]:
    """Validate every layout config file in `conf_dir`; [] means pass (exit code 0)."""
    return check_config_dir(conf_dir)


def parse_size(text: str) -> tuple[int, int]:
    """"1280x720" -> (1280, 720); both sides positive and even (I420)."""
    try:
        w_text, h_text = text.lower().split("x")
        w, h = int(w_text), int(h_text)
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise ValueError(f"size {text!r}: width and height must be positive and even")
    return w, h


def render(
    conf_dir: Path | str,
    name: str | None,
    members: int,
    size: tuple[int, int],
    out: Path | str,
    all_layouts: bool = False,
) -> Path:
    """Write a PNG preview of layout/group `name` with `members` sites, or with
    `all_layouts` a contact sheet of every layout. Raises ConfigInvalid on a bad
    config and LayoutNotFound on an unknown name. Returns the written path."""
    config = load_config_dir(conf_dir)
    out_path = Path(out)
    if all_layouts:
        render_contact_sheet(config, out_path)
        return out_path
    if name is None or not config.has(name):
        raise LayoutNotFound(name or "")
    render_layout_png(name, members, size, config, out_path)
    return out_path
