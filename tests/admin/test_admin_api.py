"""The admin API against a real MCU: refusals first, then each command's effect on the meeting."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from admin_helpers import (
    TOKEN,
    RtpPeer,
    RunningMcu,
    SippUac,
    SippUas,
    api,
    api_json,
    write_admin_config,
)
from helpers import tone_power, wait_for
from PIL import Image

from mcu.admin import AdminStartError, start_admin
from mcu.config import load_config
from mcu.layout.model import RoomMode
from mcu.server import McuServer

pytestmark = pytest.mark.peer


# ------------------------------------------------------------------ refusing to start


def _start_only(path: Path) -> None:
    async def main() -> None:
        config = load_config(path)
        server = McuServer(config)
        service = await start_admin(server, config)
        await service.stop()
    asyncio.run(main())


def test_refuses_to_start_without_token(tmp_path: Path) -> None:
    with pytest.raises(AdminStartError, match="no token configured"):
        _start_only(write_admin_config(tmp_path, token=None))


def test_refuses_to_start_with_unreadable_token_file(tmp_path: Path) -> None:
    path = write_admin_config(tmp_path)
    (tmp_path / "admin.token").unlink()
    with pytest.raises(AdminStartError, match="cannot read admin.token_file"):
        _start_only(path)


def test_refuses_to_start_with_short_token(tmp_path: Path) -> None:
    with pytest.raises(AdminStartError, match="shorter than 16"):
        _start_only(write_admin_config(tmp_path, token="short"))


def test_refuses_non_loopback_bind_without_tls(tmp_path: Path) -> None:
    with pytest.raises(AdminStartError, match="not a loopback address and TLS is not configured"):
        _start_only(write_admin_config(tmp_path, admin_host="0.0.0.0"))


def test_disabled_admin_listens_nowhere(tmp_path: Path) -> None:
    path = write_admin_config(tmp_path)
    path.write_text(path.read_text().replace("enabled = true", "enabled = false"))

    async def main() -> int:
        config = load_config(path)
        service = await start_admin(McuServer(config), config)
        return service.port
    assert asyncio.run(main()) == 0


# ------------------------------------------------------------------ auth and bad input


@pytest.fixture
def mcu(tmp_path: Path):  # type: ignore[no-untyped-def]
    with RunningMcu(write_admin_config(tmp_path)) as running:
        yield running


def test_auth_missing_wrong_and_right_token(mcu: RunningMcu) -> None:
    status, headers, body = api(mcu.url, "GET", "/rooms", token=None)
    assert status == 401 and "Bearer" in headers.get("WWW-Authenticate", "")
    assert "Authorization" in json.loads(body)["error"]
    status, _, body = api(mcu.url, "GET", "/rooms", token=TOKEN + "x")
    assert status == 401 and json.loads(body)["error"] == "wrong token"
    status, _, _ = api(mcu.url, "GET", "/openapi.json", token=None)
    assert status == 401
    status, _, _ = api(mcu.url, "GET", "/rooms", headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert status == 401
    status, doc = api_json(mcu.url, "GET", "/rooms")
    assert status == 200 and [r["number"] for r in doc["result"]] == ["4100", "4200"]


def test_bad_input_is_4xx_and_changes_nothing(mcu: RunningMcu) -> None:
    before = mcu.on_loop(lambda: mcu.room("4100").video.state)
    cases = [
        ("POST", "/rooms/9999/lock", None, 404, "no room '9999'"),
        ("POST", "/rooms/4100/members/77/mute", None, 404, "no member 77"),
        ("POST", "/rooms/4100/members/x7/mute", None, 400, "member"),
        ("POST", "/rooms/4100/layout", {"layout": "nope"}, 400, "no layout or group named 'nope'"),
        ("POST", "/rooms/4100/layout", {}, 400, "needs 'layout'"),
        ("POST", "/rooms/4100/layout", {"layout": "2x2", "colour": 1}, 400, "unknown argument(s) colour"),
        ("POST", "/rooms/4100/mode", {"mode": "loud"}, 400, "must be one of auto, voice, lecture, fixed"),
        ("POST", "/rooms/4100/pin", {"region": "2", "target": "1"}, 400, "'region' must be an integer"),
        ("POST", "/rooms/4100/pin", {"region": 99, "target": "1"}, 400, "region 99 does not exist"),
        ("POST", "/rooms/4100/unpin", {"region": 0}, 404, "is not pinned"),
        ("POST", "/rooms/4100/dial", {"target": "nowhere"}, 400, "neither a roster site id"),
        ("GET", "/rooms/4100/nothing", None, 404, "no such endpoint"),
        ("GET", "/rooms/4100/lock", None, 405, "use POST"),
    ]
    for method, path, body, status, text in cases:
        got, doc = api_json(mcu.url, method, path, body)
        assert got == status and text in doc["error"], (path, got, doc)
    for raw in (b"{", b"[1, 2]", b"\xff\xfe", b'"layout"'):
        got, _, data = api(mcu.url, "POST", "/rooms/4100/layout", raw=raw)
        assert got == 400 and "JSON" in json.loads(data)["error"], raw
    got, _, _ = api(mcu.url, "POST", "/rooms/4100/layout", raw=b"layout=2x2",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got == 415
    got, _, _ = api(mcu.url, "POST", "/rooms/4100/layout", raw=b"x" * 70000)
    assert got == 413
    assert mcu.on_loop(lambda: mcu.room("4100").video.state) == before
    assert mcu.on_loop(lambda: mcu.room("4100").locked) is False


def test_openapi_document_lists_every_command(mcu: RunningMcu) -> None:
    from mcu.admin.commands import COMMANDS

    status, doc = api_json(mcu.url, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert ops == {c.name for c in COMMANDS}
    assert doc["paths"]["/rooms/{room}/layout"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["layout"]


# ------------------------------------------------------------------ commands with real callers


def test_room_commands_change_the_meeting(mcu: RunningMcu, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mcu.admin")
    uacs = [SippUac(mcu.sip_port, "4100") for _ in range(3)]
    try:
        members = mcu.wait_members("4100", 3)
        ids = sorted(m.member_id for m in members)
        mcu.on_loop(lambda: setattr(mcu.room("4100").members[ids[0]], "chair", True))

        status, doc = api_json(mcu.url, "GET", "/rooms/4100/members")
        assert status == 200 and sorted(m["id"] for m in doc["result"]) == ids
        row = doc["result"][0]
        assert row["audio"]["codec"] == "PCMU" and row["video"]["out"]["codec"] == "H264"
        assert {"loss_percent", "jitter_ms"} <= set(row["audio"]) and "speaking" in row

        # mute one, then everyone but the chair; unmute all
        assert api_json(mcu.url, "POST", f"/rooms/4100/members/{ids[1]}/mute")[0] == 200
        assert [m.muted for m in mcu.members("4100")] == [False, True, False]
        status, doc = api_json(mcu.url, "POST", "/rooms/4100/members/all/mute")
        assert status == 200 and doc["result"]["members"] == ids[1:]
        assert [m.muted for m in mcu.members("4100")] == [False, True, True]
        api_json(mcu.url, "POST", "/rooms/4100/members/all/unmute")
        assert not any(m.muted for m in mcu.members("4100"))
        api_json(mcu.url, "POST", f"/rooms/4100/members/{ids[2]}/deaf")
        assert [m.deaf for m in mcu.members("4100")] == [False, False, True]
        api_json(mcu.url, "POST", f"/rooms/4100/members/{ids[2]}/undeaf")
        assert not any(m.deaf for m in mcu.members("4100"))

        # lock: no new joins
        api_json(mcu.url, "POST", "/rooms/4100/lock")
        assert mcu.on_loop(lambda: mcu.server.conference.admission("4100")).status == 403
        api_json(mcu.url, "POST", "/rooms/4100/unlock")
        assert mcu.on_loop(lambda: mcu.server.conference.admission("4100")) is None

        # layout and mode
        status, doc = api_json(mcu.url, "POST", "/rooms/4100/layout", {"layout": "2x2", "mode": "fixed"})
        assert status == 200 and doc["result"]["layout"] == "2x2"
        state = mcu.on_loop(lambda: mcu.room("4100").video.state)
        assert (state.layout, state.mode) == ("2x2", RoomMode.FIXED)
        api_json(mcu.url, "POST", "/rooms/4100/mode", {"mode": "lecture"})
        assert mcu.on_loop(lambda: mcu.room("4100").video.state.mode) is RoomMode.LECTURE
        api_json(mcu.url, "POST", "/rooms/4100/mode", {"mode": "auto"})

        # pin: the pinned member is in that region of what the compositor draws
        status, doc = api_json(mcu.url, "POST", "/rooms/4100/pin", {"region": 3, "target": str(ids[2])})
        assert status == 200 and doc["result"]["pins"] == {"3": str(ids[2])}

        def pinned_in_picture() -> bool:
            room = mcu.room("4100")
            viewer = room.members[ids[0]].video_out
            encoder = room.video.encoders.get(viewer.encoder_key) if viewer.encoder_key else None
            slots = encoder.assignment.slots if encoder is not None and encoder.frames > 0 else ()
            return len(slots) > 3 and slots[3] == str(ids[2])  # until the next frame: the old layout
        wait_for(lambda: mcu.on_loop(pinned_in_picture), 10, "the pinned member in region 3 of the picture")

        # snapshot: a PNG of the picture sent to a member, at its size
        status, headers, png = api(mcu.url, "GET", f"/rooms/4100/members/{ids[0]}/snapshot")
        assert status == 200 and headers["Content-Type"] == "image/png"
        size = mcu.on_loop(lambda: (mcu.room("4100").members[ids[0]].video_out.config.width,
                                    mcu.room("4100").members[ids[0]].video_out.config.height))
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.size == size and image.mode == "RGB"
        assert np.asarray(image).std() > 1.0  # tiles and borders, not a flat colour

        status, doc = api_json(mcu.url, "POST", "/rooms/4100/unpin", {"region": 3})
        assert status == 200 and doc["result"]["pins"] == {}

        # floor by hand (pin of the floor region), then back to voice switching
        api_json(mcu.url, "POST", "/rooms/4100/layout", {"layout": "1+5"})
        status, doc = api_json(mcu.url, "POST", "/rooms/4100/floor", {"target": str(ids[1])})
        assert status == 200 and doc["result"]["pins"] == {"0": str(ids[1])}
        assert mcu.on_loop(lambda: mcu.room("4100").video.state.floor) == str(ids[1])
        status, doc = api_json(mcu.url, "POST", "/rooms/4100/floor", {"target": "auto"})
        assert status == 200 and doc["result"]["pins"] == {}

        # remove: the caller gets BYE (its sipp scenario ends cleanly only on BYE)
        status, doc = api_json(mcu.url, "POST", f"/rooms/4100/members/{ids[1]}/remove", {"reason": "test"})
        assert status == 200 and doc["result"]["removed"] == ids[1]
        removed = next(u for u in uacs if u.placed(members[[m.member_id for m in members].index(ids[1])].call_id))
        rc, err = removed.wait(15)
        assert rc == 0, f"removed caller did not see BYE: {err}"
        assert sorted(m.member_id for m in mcu.members("4100")) == [ids[0], ids[2]]
    finally:
        for uac in uacs:
            uac.kill()
    logged = [r for r in caplog.records if r.getMessage() == "admin.command"]
    commands = [r.fields["command"] for r in logged]  # type: ignore[attr-defined]
    assert {"muted=True", "deaf=True", "lock", "layout", "mode", "pin", "floor", "remove"} <= set(commands)
    assert all(r.fields["who"] for r in logged)  # type: ignore[attr-defined]


def test_muted_members_tone_disappears_from_others_audio(mcu: RunningMcu) -> None:
    uacs = [SippUac(mcu.sip_port, "4100") for _ in range(2)]
    peers: list[RtpPeer] = []
    try:
        members = sorted(mcu.wait_members("4100", 2), key=lambda m: m.member_id)
        talker, listener = members

        def rtp_port(member) -> int:  # type: ignore[no-untyped-def]
            return mcu.on_loop(lambda: mcu.server.calls[member.call_id].transports["audio"].rtp_port)
        peers = [RtpPeer(rtp_port(talker), 440.0), RtpPeer(rtp_port(listener), None)]
        rate = 8000

        def heard_tone() -> float:
            peers[1].take()
            wait_for(lambda: len(peers[1].received) >= 25, 5, "0.5 s of audio at the listener")
            return tone_power(peers[1].take()[-4000:], rate, 440.0)

        wait_for(lambda: heard_tone() > 0.005, 10, "the talker's tone at the listener")
        status, _ = api_json(mcu.url, "POST", f"/rooms/4100/members/{talker.member_id}/mute")
        assert status == 200
        import time
        time.sleep(0.3)  # frames already in flight
        assert heard_tone() < 0.0005
        api_json(mcu.url, "POST", f"/rooms/4100/members/{talker.member_id}/unmute")
        wait_for(lambda: heard_tone() > 0.005, 5, "the tone again after unmute")
    finally:
        for peer in peers:
            peer.close()
        for uac in uacs:
            uac.kill()


def test_dial_out_roster_and_redial(tmp_path: Path) -> None:
    uas = [SippUas() for _ in range(2)]
    sites = [("hq", uas[0].uri, "Head office"), ("north", uas[1].uri, "North")]
    try:
        with RunningMcu(write_admin_config(tmp_path, sites=sites)) as mcu:
            extra = SippUas()
            try:
                status, doc = api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": extra.uri, "name": "Extra"})
                assert status == 200 and doc["result"]["call_id"]
                members = mcu.wait_members("4100", 1)
                assert members[0].display_name == "Extra"
            finally:
                extra.kill()
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/dial-roster")
            assert status == 200 and [d["site"] for d in doc["result"]["dialled"]] == ["hq", "north"]
            wait_for(lambda: {m.display_name for m in mcu.members("4100")} >= {"Head office", "North"}, 10,
                     "both roster sites in the room")
            # nobody dropped: redial does nothing; a second dial-roster dials nobody
            assert api_json(mcu.url, "POST", "/rooms/4100/redial")[1]["result"]["dialled"] == []
            assert api_json(mcu.url, "POST", "/rooms/4100/dial-roster")[1]["result"]["dialled"] == []
            # a roster site is pinned by its site id
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/pin", {"region": 1, "target": "north"})
            north = next(m for m in mcu.members("4100") if m.display_name == "North")
            assert status == 200 and doc["result"]["pins"] == {"1": str(north.member_id)}
            # north drops (we hang up as if the line went): redial calls it again
            mcu.on_loop(lambda: mcu.server.hangup(north.call_id, "line dropped"))
            uas[1].kill()
            uas[1] = SippUas()
            # the site's new UAS listens on another port: update the roster and reload
            sites_file = tmp_path / "sites.toml"
            sites_file.write_text(sites_file.read_text().replace(sites[1][1], uas[1].uri))
            assert api_json(mcu.url, "POST", "/reload")[0] == 200
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/redial")
            assert status == 200 and [d["site"] for d in doc["result"]["dialled"]] == ["north"]
            wait_for(lambda: sum(m.display_name == "North" for m in mcu.members("4100")) == 1
                     and north.member_id not in {m.member_id for m in mcu.members("4100")}, 10,
                     "north back in the room")
            # a locked room takes no dial-out: 409 and nothing dialled
            api_json(mcu.url, "POST", "/rooms/4100/lock")
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": "hq"})
            assert status == 409 and "unlock it" in doc["error"]
    finally:
        for u in uas:
            u.kill()


def test_reload_applies_good_config_and_refuses_bad(mcu: RunningMcu, tmp_path: Path) -> None:
    rooms = tmp_path / "rooms.toml"
    rooms.write_text(rooms.read_text() + '[[room]]\nnumber = "4300"\nname = "New"\n')
    status, doc = api_json(mcu.url, "POST", "/reload")
    assert status == 200 and "4300" in doc["result"]["rooms"]
    assert "4300" in mcu.on_loop(lambda: set(mcu.server.conference.rooms))
    rooms.write_text(rooms.read_text() + '[[room]]\nnumber = "bad room!"\n')
    status, doc = api_json(mcu.url, "POST", "/reload")
    assert status == 422 and "rooms.toml" in doc["details"][0]
    assert set(mcu.on_loop(lambda: set(mcu.server.config.rooms))) == {"4100", "4200", "4300"}


def test_a_room_that_requires_encryption_does_not_dial_out_in_plain_rtp(tmp_path: Path) -> None:
    path = write_admin_config(tmp_path)
    rooms = tmp_path / "rooms.toml"
    rooms.write_text(rooms.read_text().replace('name = "Small room"', 'name = "Small room"\nencryption = "required"'))
    with RunningMcu(path) as mcu:
        status, doc = api_json(mcu.url, "POST", "/rooms/4200/dial", {"target": "sip:site@127.0.0.1:9"})
        assert status != 200 and "requires encryption" in json.dumps(doc), (status, doc)
        assert api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": "sip:site@127.0.0.1:9"})[0] == 200


def test_roster_layouts_and_layout_previews(tmp_path: Path) -> None:
    uas = SippUas()
    sites = [("hq", "sip:hq@127.0.0.1:9", "Văn phòng Chính phủ"), ("north", uas.uri, "UBND tỉnh Lào Cai"),
             ("south", "sip:south@127.0.0.1:9", "UBND tỉnh Cà Mau")]
    try:
        with RunningMcu(write_admin_config(tmp_path, sites=sites)) as mcu:
            status, doc = api_json(mcu.url, "GET", "/rooms/4100/roster")
            assert status == 200 and [(s["site"], s["name"], s["status"]) for s in doc["result"]] == [
                ("hq", "Văn phòng Chính phủ", "missing"), ("north", "UBND tỉnh Lào Cai", "missing"),
                ("south", "UBND tỉnh Cà Mau", "missing")]
            assert api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": "north"})[0] == 200
            wait_for(lambda: api_json(mcu.url, "GET", "/rooms/4100/roster")[1]["result"][1]["status"] == "present",
                     10, "north present")
            north = next(m for m in mcu.members("4100") if m.display_name == "UBND tỉnh Lào Cai")
            assert api_json(mcu.url, "GET", "/rooms/4100/roster")[1]["result"][1]["member"] == north.member_id
            mcu.on_loop(lambda: mcu.server.hangup(north.call_id, "line dropped"))
            wait_for(lambda: api_json(mcu.url, "GET", "/rooms/4100/roster")[1]["result"][1]["status"] == "dropped",
                     10, "north dropped (what redial calls again)")
            assert api_json(mcu.url, "GET", "/rooms/9999/roster")[0] == 404

            status, doc = api_json(mcu.url, "GET", "/layouts")
            names = {entry["name"] for entry in doc["result"]["layouts"]}
            assert status == 200 and {"2x2", "1+5"} <= names and doc["result"]["groups"]
            status, headers, png = api(mcu.url, "GET", "/layouts/1+5/preview?members=3")
            assert status == 200 and headers["Content-Type"] == "image/png"
            image = Image.open(io.BytesIO(png))
            assert image.size == (384, 216) and np.asarray(image).std() > 1.0
            assert api(mcu.url, "GET", "/layouts/1%2B5/preview?members=3")[2] == png  # cached, same picture
            assert api(mcu.url, "GET", "/layouts/nope/preview")[0] == 404
            assert api(mcu.url, "GET", "/layouts/2x2/preview?members=-1")[0] == 400
    finally:
        uas.kill()


def test_a_roster_site_that_called_in_and_dropped_is_redialled_unless_the_operator_removed_it(
        tmp_path: Path) -> None:
    uas = SippUas()  # where the roster says the site answers; sipp callers match it by display name
    callers: list[SippUac] = []
    try:
        with RunningMcu(write_admin_config(tmp_path, sites=[("hq", uas.uri, "sipp")])) as mcu:
            def status() -> str:
                return api_json(mcu.url, "GET", "/rooms/4100/roster")[1]["result"][0]["status"]
            callers.append(SippUac(mcu.sip_port, "4100"))
            member = mcu.wait_members("4100", 1)[0]
            assert member.site_id == "hq" and status() == "present"
            api_json(mcu.url, "POST", f"/rooms/4100/members/{member.member_id}/remove")
            wait_for(lambda: not mcu.members("4100"), 10, "the removed site gone")
            assert status() == "missing"  # the operator's choice: not dropped, not redialled
            assert api_json(mcu.url, "POST", "/rooms/4100/redial")[1]["result"]["dialled"] == []
            callers.append(SippUac(mcu.sip_port, "4100"))
            member = mcu.wait_members("4100", 1)[0]
            mcu.on_loop(lambda: mcu.server.hangup(member.call_id, "line dropped"))
            wait_for(lambda: status() == "dropped", 10, "the site dropped")
            status_code, doc = api_json(mcu.url, "POST", "/rooms/4100/redial")
            assert status_code == 200 and [d["site"] for d in doc["result"]["dialled"]] == ["hq"]
            wait_for(lambda: status() == "present", 10, "the site back after redial")
    finally:
        uas.kill()
        for caller in callers:
            caller.kill()
