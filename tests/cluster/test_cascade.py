"""Cascading one meeting over two nodes: node B joins room 4100 of the main node A as one SIP
participant (a cascade link, isfocus) and hosts its own sites; every site hears every other
site, on either node, and never itself. The sites speak in turn (the others send room noise),
as in a briefing: each node mixes its loudest three, and speaker selection works across the link
(the link is the loudest member on one side while a site of the other side speaks)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
import redis

from mcu.synthetic import SyntheticEndpoint
from tests.cluster.peers import RedisServer
from tests.helpers import McuProcess, free_port, until

pytestmark = pytest.mark.peer
TONE_PRESENT = 0.02
TONE_ABSENT = 0.001
TOKEN = "cascade-test-token-0123456789"


def _node(tmp_path: Path, node_id: str, redis_url: str) -> tuple[McuProcess, int]:
    folder = tmp_path / node_id
    folder.mkdir(parents=True)
    (folder / "admin.token").write_text(TOKEN + "\n")
    (folder / "admin.token").chmod(0o600)
    admin_port = free_port()
    extra = (f'[cluster]\nnode_id = "{node_id}"\nredis_url = "{redis_url}"\nheartbeat = 0.5\n'
             f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {admin_port}\ntoken_file = "admin.token"\n'
             '[admission]\nenabled = false\n')  # a box shared with other runs may fall behind: not this test's subject
    return McuProcess(folder, extra=extra), admin_port


def _admin(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body or {}).encode() if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")



def _heard_by_all_others(speaker: SyntheticEndpoint, sites: list[SyntheticEndpoint]):  # type: ignore[no-untyped-def]
    others = [s for s in sites if s is not speaker]
    return lambda: (all(o.heard_tone(speaker.tone_hz) > TONE_PRESENT for o in others)
                    and speaker.heard_tone(speaker.tone_hz) < TONE_ABSENT)


def _heard_by_none(speaker: SyntheticEndpoint, sites: list[SyntheticEndpoint]):  # type: ignore[no-untyped-def]
    return lambda: all(o.heard_tone(speaker.tone_hz) < TONE_ABSENT for o in sites)


def test_a_cascaded_room_of_2_x_4_sites_where_every_site_hears_every_other_but_itself(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    main, main_admin = _node(tmp_path, "main", server.url)
    part, part_admin = _node(tmp_path, "part", server.url)
    client = redis.Redis.from_url(server.url, decode_responses=True)
    sites = [SyntheticEndpoint(n, f"Site {n}", talking=False) for n in range(1, 9)]

    async def scenario() -> None:
        try:
            for site in sites[:4]:
                await site.call(f"sip:4100@127.0.0.1:{main.sip_port}")
            await until(lambda: client.get("room:4100") == "main", 5, "room 4100 claimed by the main node")
            status, doc = await asyncio.to_thread(_admin, part_admin, "POST", "/rooms/4100/cascade", {"to": "main"})
            assert status == 200, doc
            await until(lambda: main.has("cascade.down") and part.has("cascade.up"), 10, "the cascade link up")
            for site in sites[4:]:  # the part node hosts its sites itself, no redirect to the main node
                await site.call(f"sip:4100@127.0.0.1:{part.sip_port}")

            async def each_speaks_in_turn_and_is_heard_by_all_others() -> None:
                for speaker in sites:
                    speaker.talking = True
                    await until(_heard_by_all_others(speaker, sites), 30,
                                 f"site {speaker.number} heard by the seven others and not by itself: " + ", ".join(
                                     f"{o.number}={o.heard_tone(speaker.tone_hz):.3f}" for o in sites))
                    speaker.talking = False
                    await until(_heard_by_none(speaker, sites), 10, f"site {speaker.number} silent again")

            await each_speaks_in_turn_and_is_heard_by_all_others()
            status, doc = await asyncio.to_thread(_admin, main_admin, "GET", "/rooms/4100/members")
            assert status == 200 and sorted(str(m["cascade"]) for m in doc["result"]) == ["None"] * 4 + ["down"]
            status, doc = await asyncio.to_thread(_admin, part_admin, "GET", "/rooms/4100/members")
            assert status == 200 and sorted(str(m["cascade"]) for m in doc["result"]) == ["None"] * 4 + ["up"]
            assert client.get("room:4100") == "main"  # the part never claims the meeting's room
            assert not part.has("cluster.claim_lost")
            # the main node drops the link (here: its operator removes it): the part dials it again
            link = next(m for m in doc["result"] if m["cascade"] == "up")
            assert link
            status, doc = await asyncio.to_thread(_admin, main_admin, "GET", "/rooms/4100/members")
            down = next(m for m in doc["result"] if m["cascade"] == "down")
            status, doc = await asyncio.to_thread(_admin, main_admin, "POST",
                                                  f"/rooms/4100/members/{down['id']}/remove")
            assert status == 200, doc
            await until(lambda: sum('"cascade.down"' in line for line in main.lines) == 2, 10,
                         "the link dialled again by the part node")
            assert part.has("cascade.dropped")
            for site in sites:  # the sites never left
                assert site.in_call
            await each_speaks_in_turn_and_is_heard_by_all_others()  # the meeting whole again
        finally:
            for site in sites:
                await site.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 90))
    except BaseException:
        print("--- main ---\n" + main.log()[-4000:] + "\n--- part ---\n" + part.log()[-4000:])
        raise
    finally:
        part.stop()
        main.stop()
        server.stop()
