"""'Content in people': sites without a content stream see the content tile in the content layout;
sites with one keep the room's people video as it was (no content tile, the room's own layout)."""

from __future__ import annotations

from pathlib import Path

from mcu.conference.video import RoomVideo, layout_member
from mcu.layout import load_config_dir
from mcu.layout.model import CONTENT_SITE

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_viewers_with_a_content_stream_keep_the_people_layout():
    video = RoomVideo(load_config_dir(CONF), "content+speaker", "auto")
    members = [layout_member(i, None, False, True, i == 1, 10.0) for i in (1, 2, 3)]
    members.append(layout_member(CONTENT_SITE, CONTENT_SITE, False, True, False, -127.0))  # type: ignore[arg-type]
    views = video.plan(members, 10.0, people_only=frozenset({"3"}), people_layout="grid")
    by_viewer = {viewer: assignment for assignment, viewers in views.items() for viewer in viewers}
    for viewer in ("1", "2"):
        assert by_viewer[viewer].layout == "content+speaker"
        assert by_viewer[viewer].slots[0] == CONTENT_SITE  # the reserved region shows the content
    assert by_viewer["3"].layout != "content+speaker" and CONTENT_SITE not in by_viewer["3"].slots
    assert set(by_viewer["3"].slots) - {None} <= {"1", "2"}  # the others, not itself, no content
    plain = video.plan(members, 10.5)
    assert all(a.layout == "content+speaker" for a in plain)  # without people_only: one layout for all
