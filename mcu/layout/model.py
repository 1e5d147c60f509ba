"""Value types of the layout config: styles, regions, layouts, groups, roster, settings.

Regions live on a 360-unit grid in both directions (FreeSWITCH's model):
x, y, w, h are integers 0..360, where 360 is the full canvas width (for x, w)
or height (for y, h). 360 divides evenly by 2, 3, 4, 5, 6, 8, 9, 10 and 12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from mcu.layout.errors import LayoutNotFound

GRID = 360
ROLE_CHAIR = "chair"
CONTENT_SITE = "content"  # reserved = "content": the room's shared content (slides) while it runs
ROLE_PARTICIPANT = "participant"
ROLES = (ROLE_CHAIR, ROLE_PARTICIPANT)

Rgb = tuple[int, int, int]


class Fit(str, Enum):
    """How a source picture of another aspect ratio fills its tile."""

    CROP = "crop"  # fill the tile, cut the overhang
    LETTERBOX = "letterbox"  # show the whole picture, pad with bars


class RoomMode(str, Enum):
    AUTO = "auto"  # layout by member count, tiles in roster order
    VOICE = "voice"  # floor follows the speaker, tiles by speaking recency
    LECTURE = "lecture"  # chair in the floor for everyone, chair sees the sites
    FIXED = "fixed"  # operator pins; no voice switching, no paging


LABEL_POSITIONS = (
    "bottom-left",
    "bottom-center",
    "bottom-right",
    "top-left",
    "top-center",
    "top-right",
)


@dataclass(frozen=True)
class Style:
    """Border and label options after defaults were applied."""

    border: int = 2  # px at any canvas size; 0 = no border
    border_color: Rgb = (255, 255, 255)
    active_border_color: Rgb = (255, 200, 0)  # border of the floor region
    label: bool = True
    label_position: str = "bottom-left"
    label_height: float = 0.1  # fraction of the tile height
    label_min_px: int = 14
    label_max_px: int = 36
    label_color: Rgb = (255, 255, 255)
    label_background: Rgb = (0, 0, 0)
    label_opacity: float = 0.6  # of the background box
    fit: Fit = Fit.CROP


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    w: int
    h: int
    floor: bool = False
    reserved: str | None = None  # "chair" or a site id
    z: int = 0
    style: Style = field(default_factory=Style)

    @property
    def plain(self) -> bool:
        return not self.floor and self.reserved is None

    def overlaps(self, other: Region) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True)
class Layout:
    name: str
    regions: tuple[Region, ...]
    description: str = ""
    background: Rgb = (16, 16, 16)

    @property
    def capacity(self) -> int:
        return len(self.regions)


@dataclass(frozen=True)
class Group:
    name: str
    layouts: tuple[str, ...]  # ordered by capacity


@dataclass(frozen=True)
class Site:
    id: str
    uri: str
    name: str  # NFC-normalised display name
    role: str = ROLE_PARTICIPANT
    order: int = 0
    profile: str = "generic"


@dataclass(frozen=True)
class Switching:
    """Timing of voice switching and paging, from ``[switching]``."""

    page_interval_s: float = 10.0
    switch_delay_s: float = 1.0  # a new speaker must lead this long (hysteresis)
    min_hold_s: float = 3.0  # the floor holder keeps the floor at least this long
    history: int = 8  # previous floor holders remembered
    default_mode: RoomMode = RoomMode.AUTO
    default_layout: str = "speaker"  # layout or group for new rooms
    lecture_chair_layout: str = "speaker"  # what the chair sees in lecture mode


@dataclass(frozen=True)
class LayoutConfig:
    layouts: dict[str, Layout]
    groups: dict[str, Group]
    sites: tuple[Site, ...] = ()
    switching: Switching = field(default_factory=Switching)

    @cached_property
    def _sites_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def site(self, site_id: str) -> Site | None:
        return self._sites_by_id.get(site_id)

    def has(self, name: str) -> bool:
        return name in self.layouts or name in self.groups

    def pick(self, name: str, count: int) -> Layout:
        """The layout called `name`, or the group's first layout with room for `count`."""
        if name in self.layouts:
            return self.layouts[name]
        group = self.groups.get(name)
        if group is None:
            raise LayoutNotFound(name)
        for layout_name in group.layouts:
            layout = self.layouts[layout_name]
            if layout.capacity >= count:
                return layout
        return self.layouts[group.layouts[-1]]

    def __hash__(self) -> int:
        return id(self)
