"""The operator console in a real headless Chromium (Debian's, driven by selenium) against a
real MCU with synthetic sites in a meeting: log in, see the meeting, act on it, and check the
effect in the sites' own audio. The browser can reach nothing but the MCU."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import (
    TOKEN,
    TONE_ABSENT,
    TONE_PRESENT,
    RunningMcu,
    Sites,
    chrome,
    js,
    login,
    meeting_config,
    requested_urls,
    screenshot,
    wait_for,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from mcu.layout.model import RoomMode

pytestmark = pytest.mark.peer

ROOM = "4100"
FEED_PERIOD = 0.25  # live.FEED_HZ = 4


class Meeting:
    def __init__(self, mcu: RunningMcu, sites: Sites, roster: list[tuple[str, str]], driver: Any):
        self.mcu, self.sites, self.roster, self.driver = mcu, sites, roster, driver

    @property
    def origin(self) -> str:
        return self.mcu.url

    def member_id(self, number: int) -> int:
        """The MCU's member id of synthetic site `number` (its roster site is the number-th)."""
        site_id = self.roster[number - 1][0]
        return next(m.member_id for m in self.mcu.members(ROOM) if m.site_id == site_id)

    def row(self, member_id: int) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, f'#members-table tr[data-member="{member_id}"]')

    def speaking(self) -> dict[int, bool]:
        """member id -> the page's speaking indicator, read in one script call."""
        rows = js(self.driver, "return Array.from(document.querySelectorAll('#members-table tr[data-member]'))"
                               ".map(r => [Number(r.dataset.member), r.querySelector('.speak').dataset.speaking])")
        return {int(m): s == "1" for m, s in rows}


@pytest.fixture
def meeting(tmp_path: Path) -> Iterator[Meeting]:
    config, roster = meeting_config(tmp_path, 3)
    with RunningMcu(config) as mcu:
        sites = Sites()
        driver = None
        try:
            names = [(k, name) for k, (_, name) in enumerate(roster[:3], start=1)]
            sites.call(f"sip:{ROOM}@127.0.0.1:{mcu.sip_port}", names, talking={1})
            mcu.wait_members(ROOM, 3, timeout=15)
            driver = chrome(tmp_path, mcu.url)
            yield Meeting(mcu, sites, roster, driver)
        finally:
            if driver is not None:
                driver.quit()
            sites.close()


def _open_room(meeting: Meeting) -> None:
    driver = meeting.driver
    login(driver, meeting.origin)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f'#rooms-table tr[data-room="{ROOM}"] a'), 10,
             "room 4100 in the rooms list")
    driver.find_element(By.CSS_SELECTOR, f'#rooms-table tr[data-room="{ROOM}"] a').click()
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#members-table tr[data-member]")) == 3, 10,
             "three members on the room page")


def test_login_rooms_list_and_room_page_with_the_browser_limited_to_the_mcu(meeting: Meeting) -> None:
    driver = meeting.driver
    login(driver, meeting.origin)
    row_css = f'#rooms-table tr[data-room="{ROOM}"]'
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, row_css), 10, "room 4100 in the rooms list")
    row = driver.find_element(By.CSS_SELECTOR, row_css)
    wait_for(lambda: row.find_element(By.CSS_SELECTOR, '[data-field="members"]').text.startswith("3 /"), 5,
             "3 members in the rooms list")
    assert row.find_element(By.CSS_SELECTOR, "td.live").get_attribute("data-live") == "1"
    assert "speaker" in row.text  # the room's layout (rooms.toml of the test)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"  # [admin] default
    assert "Phòng họp" in driver.find_element(By.ID, "view-rooms").text
    # the session cookie is HttpOnly: no script on the page can read it
    assert js(driver, "return document.cookie") == ""
    screenshot(driver, "rooms")

    driver.find_element(By.CSS_SELECTOR, f"{row_css} a").click()
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#members-table tr[data-member]")) == 3, 10,
             "three members on the room page")
    members = driver.find_element(By.ID, "members-table").text
    for _, name in meeting.roster[:3]:
        assert name in members, (name, members)
    assert "PCMU" in members and "H264 320x180 → 1280x720" in members
    roster = {r.get_attribute("data-site"): r for r in
              driver.find_elements(By.CSS_SELECTOR, "#roster-table tr[data-site]")}
    wait_for(lambda: [r.get_attribute("data-status") for r in roster.values()]
             == ["present", "present", "present", "missing"], 5, "three roster sites present, one missing")
    missing_id, missing_name = meeting.roster[3]
    assert missing_name in roster[missing_id].text  # the Vietnamese name from conf/sites.toml
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#layouts figure img")) > 3, 10, "layout previews")
    wait_for(lambda: all(js(driver, "return arguments[0].complete && arguments[0].naturalWidth", img) == 384
                         for img in driver.find_elements(By.CSS_SELECTOR, "#layouts figure img")), 20,
             "every layout preview drawn")
    # what the talker (site 1) sees, fetched as a PNG through the snapshot command
    driver.find_element(By.ID, "snapshot-take").click()
    wait_for(lambda: js(driver, "const i = document.getElementById('snapshot-img');"
                                "return !i.hidden && i.complete && i.naturalWidth > 0"), 10, "the snapshot")
    time.sleep(FEED_PERIOD)  # one more feed tick, for the screenshot
    screenshot(driver, "room")
    # switch to English in the page
    driver.find_element(By.ID, "lang-en").click()
    assert "Give floor" in driver.find_element(By.ID, "members-table").text
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert driver.find_element(By.ID, "feed-state").text == "live"
    assert "Region 0" in driver.find_element(By.ID, "members-table").text
    screenshot(driver, "room-en")

    # nothing the page did reached any other origin (the host rules and dead proxy make sure
    # such a request would fail; this says none was even tried)
    urls = requested_urls(driver)
    origin = meeting.origin
    ws_origin = origin.replace("http://", "ws://")
    assert urls and all(u.startswith((origin + "/", ws_origin + "/")) for u in urls), urls
    assert any(u.startswith(ws_origin + "/console/live") for u in urls)
    # no script error (the one 401 logged is the page asking whether it had a session yet)
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]


def test_muting_in_the_page_silences_the_member_for_the_others(meeting: Meeting) -> None:
    _open_room(meeting)
    talker, listener, other = meeting.sites.endpoints
    wait_for(lambda: meeting.sites.heard(listener, talker) > TONE_PRESENT, 10, "the talker's tone at the others")
    talker_id = meeting.member_id(1)
    mute = meeting.row(talker_id).find_element(By.CSS_SELECTOR, '[data-action="mute"]')
    mute.click()
    wait_for(lambda: meeting.mcu.on_loop(lambda: meeting.mcu.room(ROOM).members[talker_id].muted), 5,
             "the MCU to mute the talker")
    wait_for(lambda: meeting.row(talker_id).get_attribute("data-muted") == "1", 5, "the page to show it muted")
    time.sleep(0.8)  # the last 0.6 s of heard audio is all after the mute
    for ear in (listener, other):
        assert meeting.sites.heard(ear, talker) < TONE_ABSENT
    screenshot(meeting.driver, "room-muted")
    meeting.row(talker_id).find_element(By.CSS_SELECTOR, '[data-action="mute"]').click()
    wait_for(lambda: meeting.sites.heard(listener, talker) > TONE_PRESENT, 5, "the tone again after unmute")


def test_speaking_indicator_follows_the_talker_from_the_live_feed(meeting: Meeting) -> None:
    _open_room(meeting)
    one, two, three = (meeting.member_id(k) for k in (1, 2, 3))
    wait_for(lambda: meeting.speaking() == {one: True, two: False, three: False}, 10, "site 1 shown speaking")
    requested_urls(meeting.driver)  # forget what loading the page asked for
    talker1, talker2, _ = meeting.sites.endpoints

    def switch() -> None:
        talker1.talking, talker2.talking = False, True
    meeting.sites.on_loop(switch)
    switched = time.monotonic()
    wait_for(lambda: meeting.speaking()[two], 3, "site 2 shown speaking")
    followed = time.monotonic() - switched
    wait_for(lambda: meeting.speaking() == {one: False, two: True, three: False}, 3, "only site 2 speaking")
    print(f"speaking indicator followed the talker after {followed:.2f} s")
    assert followed < 1.0, f"the indicator took {followed:.2f} s to follow the talker"
    # it came over the WebSocket: the page asked for no member list meanwhile
    assert not [u for u in requested_urls(meeting.driver) if "/members" in u]


def test_a_bad_token_is_refused_and_sets_no_session(meeting: Meeting) -> None:
    driver = meeting.driver
    login(driver, meeting.origin, token=TOKEN + "-wrong")
    error = driver.find_element(By.ID, "login-error")
    wait_for(lambda: error.is_displayed() and error.text, 5, "the login error")
    assert error.text == "Mã quản trị không đúng."
    assert driver.find_element(By.ID, "view-login").is_displayed()
    assert not driver.find_element(By.ID, "view-rooms").is_displayed()
    assert driver.get_cookies() == []
    screenshot(driver, "login-refused")
    status = js(driver, "return fetch('/rooms', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 401


def test_a_state_change_without_the_csrf_token_is_refused(meeting: Meeting) -> None:
    driver = meeting.driver
    _open_room(meeting)
    post = ("return fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: arguments[1],"
            " body: '{}'}).then(r => r.status)")
    plain = {"Content-Type": "application/json"}
    assert js(driver, post, f"/rooms/{ROOM}/lock", plain) == 403
    assert js(driver, post, f"/rooms/{ROOM}/lock", {**plain, "X-CSRF-Token": "forged"}) == 403
    assert meeting.mcu.on_loop(lambda: meeting.mcu.room(ROOM).locked) is False
    # the page's own button sends it and works
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="lock"]').click()
    wait_for(lambda: meeting.mcu.on_loop(lambda: meeting.mcu.room(ROOM).locked), 5, "the room locked by the page")
    # a read needs no CSRF token; logging out ends the session for every later request
    assert js(driver, "return fetch('/rooms').then(r => r.status)") == 200
    driver.find_element(By.ID, "logout").click()
    wait_for(lambda: driver.find_element(By.ID, "view-login").is_displayed(), 5, "the login form after logout")
    assert js(driver, "return fetch('/rooms').then(r => r.status)") == 401


def test_room_controls_in_the_page_change_the_meeting(meeting: Meeting) -> None:
    driver = meeting.driver
    _open_room(meeting)
    mcu = meeting.mcu
    two = meeting.member_id(2)

    def state() -> Any:
        return mcu.on_loop(lambda: mcu.room(ROOM).video.state)

    # lecture mode from the select, then a layout by clicking its preview
    Select(driver.find_element(By.ID, "mode-select")).select_by_value("lecture")
    wait_for(lambda: state().mode is RoomMode.LECTURE, 5, "lecture mode")
    driver.find_element(By.CSS_SELECTOR, '#layouts figure[data-layout="2x2"]').click()
    wait_for(lambda: state().layout == "2x2", 5, "layout 2x2")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, '#layouts figure[data-layout="2x2"]')
             .get_attribute("class") == "selected", 5, "the page to mark 2x2 chosen")
    # pin site 2 to region 3
    row = meeting.row(two)
    Select(row.find_element(By.CSS_SELECTOR, 'select[data-field="region"]')).select_by_value("3")
    row.find_element(By.CSS_SELECTOR, '[data-action="pin"]').click()
    wait_for(lambda: dict(state().pins).get(3) == str(two), 5, "site 2 pinned to region 3")
    # deafen site 2 and give it the floor (in a layout with a floor region)
    meeting.row(two).find_element(By.CSS_SELECTOR, '[data-action="deaf"]').click()
    wait_for(lambda: mcu.on_loop(lambda: mcu.room(ROOM).members[two].deaf), 5, "site 2 deaf")
    driver.find_element(By.CSS_SELECTOR, '#layouts figure[data-layout="1+5"]').click()
    wait_for(lambda: state().layout == "1+5", 5, "layout 1+5")
    meeting.row(two).find_element(By.CSS_SELECTOR, '[data-action="floor"]').click()
    wait_for(lambda: state().floor == str(two), 5, "the floor given to site 2")
    wait_for(lambda: "giữ quyền phát biểu" in meeting.row(two).text
             and "giữ quyền phát biểu" not in meeting.row(meeting.member_id(1)).text, 5,
             "the page to show site 2 holding the floor")
    # a refusal shows the API's own message
    driver.find_element(By.ID, "dial-target").send_keys("nowhere")
    driver.find_element(By.CSS_SELECTOR, "#dial-form button[type=submit]").click()
    toast = driver.find_element(By.ID, "toast")
    wait_for(lambda: toast.is_displayed() and "neither a roster site id" in toast.text, 5, "the dial refusal")
    assert toast.get_attribute("data-kind") == "error"
    screenshot(driver, "room-controls")
    # remove site 3 (the page asks first)
    three = meeting.member_id(3)
    meeting.row(three).find_element(By.CSS_SELECTOR, '[data-action="remove"]').click()
    driver.switch_to.alert.accept()
    wait_for(lambda: three not in {m.member_id for m in mcu.members(ROOM)}, 5, "site 3 removed")
    wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, f'#members-table tr[data-member="{three}"]'), 5,
             "site 3 gone from the page")
    site3 = meeting.roster[2][0]
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, f'#roster-table tr[data-site="{site3}"]')
             .get_attribute("data-status") == "missing", 5, "site 3 missing in the roster")
    # site 2 hangs up by itself (a line that went): the roster says dropped, and offers a redial
    meeting.sites.run(meeting.sites.endpoints[1].hangup())
    site2 = meeting.roster[1][0]
    row2 = f'#roster-table tr[data-site="{site2}"]'
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, row2).get_attribute("data-status") == "dropped", 5,
             "site 2 dropped in the roster")
    redial = driver.find_element(By.CSS_SELECTOR, f'{row2} [data-action="dial-site"]')
    assert redial.is_displayed() and redial.text == "Gọi lại"
    screenshot(driver, "room-dropped")


def test_recording_started_and_stopped_from_the_page(meeting: Meeting, tmp_path: Path) -> None:
    driver = meeting.driver
    _open_room(meeting)
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="record-start"]').click()
    badges = driver.find_element(By.ID, "room-badges")
    wait_for(lambda: "Ghi hình: đang ghi" in badges.text, 10, "the recording badge")
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="record-stop"]').click()
    wait_for(lambda: "Ghi hình" not in badges.text, 15, "the recording badge gone after stop")
    files = list((tmp_path / "recordings").glob("*-4100.mp4"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    # a second stop is refused with the API's reason, shown to the operator
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="record-stop"]').click()
    toast = driver.find_element(By.ID, "toast")
    wait_for(lambda: toast.is_displayed() and toast.get_attribute("data-kind") == "error", 5, "the refusal")


def test_operator_slides_and_content_floor_from_the_page(meeting: Meeting, tmp_path: Path) -> None:
    from PIL import Image

    driver = meeting.driver
    mcu = meeting.mcu
    deck = tmp_path / "briefing.pdf"
    pages = [Image.new("RGB", (640, 360), colour) for colour in ((200, 30, 30), (30, 30, 200))]
    pages[0].save(deck, save_all=True, append_images=pages[1:])
    _open_room(meeting)

    def status() -> dict[str, Any]:
        return mcu.on_loop(lambda: mcu.server.content.status(ROOM))

    state = driver.find_element(By.ID, "content-state")
    assert state.text == "Không có ai trình chiếu."
    driver.find_element(By.ID, "slides-file").send_keys(str(deck))
    driver.find_element(By.CSS_SELECTOR, "#slides-form button[type=submit]").click()
    wait_for(lambda: status()["holder"] == "operator", 10, "the operator's slides on the content floor")
    wait_for(lambda: state.text == "Người điều hành trình chiếu: briefing.pdf, trang 1/2", 10, "the page to say so")
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="slides-next"]').click()
    wait_for(lambda: status()["slides"]["page"] == 2, 10, "page 2")
    wait_for(lambda: state.text.endswith("trang 2/2"), 5, "the page to show page 2")
    # a site without BFCP cannot be given the floor: the API's reason is shown
    driver.find_element(By.ID, "content-grant").click()
    toast = driver.find_element(By.ID, "toast")
    wait_for(lambda: toast.is_displayed() and "BFCP" in toast.text, 5, "the grant refusal")
    screenshot(driver, "room-content")
    # the rooms list says who presents
    js(driver, "location.hash = '#/rooms'")
    wait_for(lambda: "Người điều hành trình chiếu" in driver.find_element(
        By.CSS_SELECTOR, f'#rooms-table tr[data-room="{ROOM}"]').text, 5, "the content state in the rooms list")
    js(driver, f"location.hash = '#/room/{ROOM}'")
    wait_for(lambda: driver.find_element(By.ID, "view-room").is_displayed(), 5, "the room page again")
    driver.find_element(By.CSS_SELECTOR, '[data-room-action="content-stop"]').click()
    wait_for(lambda: status()["holder"] is None, 10, "the slides stopped")
    wait_for(lambda: state.text == "Không có ai trình chiếu.", 5, "the page to say nobody presents")
