"""mcu.layout: layouts as operator config, and who is shown where (sans-I/O).

- loader: conf/layouts.toml + conf/sites.toml -> LayoutConfig, or a list of located issues
  (ConfigError is mcu.tomlfile.ConfigIssue: file, line, key, message)
- geometry: 360-grid regions -> even pixel rectangles; aspect-preserving fit
- engine: RoomState + observe() + plan_views(): per-viewer assignments, shared when equal
- labels: site names -> cached uint8 coverage masks (DejaVu Sans, Vietnamese)
- render / tools: offline PNG previews and `mcu layout check|render` back ends
"""

from mcu.layout.engine import (
    Assignment,
    Member,
    RoomState,
    View,
    ViewKey,
    new_room,
    next_deadline,
    observe,
    plan_views,
    set_mode,
    set_pins,
    shared_picture,
    with_config,
)
from mcu.layout.errors import ConfigError, ConfigInvalid, GeometryError, LayoutNotFound
from mcu.layout.geometry import Rect, draw_order, fit, place, place_region
from mcu.layout.loader import check_config_dir, load_config_dir, load_config_text
from mcu.layout.model import (
    GRID,
    Fit,
    Group,
    Layout,
    LayoutConfig,
    Region,
    RoomMode,
    Site,
    Style,
    Switching,
)

__all__ = [
    "GRID",
    "Assignment",
    "ConfigError",
    "ConfigInvalid",
    "Fit",
    "GeometryError",
    "Group",
    "Layout",
    "LayoutConfig",
    "LayoutNotFound",
    "Member",
    "Rect",
    "Region",
    "RoomMode",
    "RoomState",
    "Site",
    "Style",
    "Switching",
    "View",
    "ViewKey",
    "check_config_dir",
    "draw_order",
    "fit",
    "load_config_dir",
    "load_config_text",
    "new_room",
    "next_deadline",
    "observe",
    "place",
    "place_region",
    "plan_views",
    "set_mode",
    "set_pins",
    "shared_picture",
    "with_config",
]
