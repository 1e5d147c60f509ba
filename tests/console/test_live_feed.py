"""The console's live feed: bounded queues and slow clients without sockets, then the real
WebSocket of a running MCU with a client that never reads and one that sends garbage."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from console_helpers import TOKEN, RunningMcu, write_admin_config

from mcu.admin.auth import VIA_BEARER, VIA_SESSION, Principal
from mcu.admin.live import ClientQueue, LiveClient, LiveFeed

# ------------------------------------------------------------------ sans-I/O


def test_client_queue_keeps_the_newest_and_never_grows() -> None:
    queue = ClientQueue(limit=3)
    assert queue.take() is None
    for i in range(10):
        queue.put(str(i))
    assert len(queue) == 3 and queue.dropped == 7
    assert [queue.take(), queue.take(), queue.take(), queue.take()] == ["7", "8", "9", None]
    with pytest.raises(ValueError):
        ClientQueue(limit=0)


def test_a_stuck_client_neither_stalls_the_feed_nor_the_others() -> None:
    async def main() -> tuple[list[LiveClient], LiveClient, LiveFeed, int]:
        builds: list[Any] = []

        async def snapshot(principal: Principal, room: str | None) -> dict[str, Any]:
            builds.append((principal.name, room))
            return {"type": "snapshot", "room": room}

        feed = LiveFeed(snapshot, hz=50.0)
        received: list[list[str]] = [[], []]

        def sink(k: int):  # type: ignore[no-untyped-def]
            async def send(text: str) -> None:
                received[k].append(text)
            return send

        async def never(text: str) -> None:
            await asyncio.Event().wait()  # a browser whose socket never drains

        fast = [LiveClient(Principal(VIA_BEARER), "4100", sink(k)) for k in range(2)]
        stuck = LiveClient(Principal(VIA_BEARER), "4100", never)
        tasks = [asyncio.create_task(c.run(timeout=0.3)) for c in (*fast, stuck)]
        for c in (*fast, stuck):
            assert feed.add(c)
        feed.start()
        await asyncio.sleep(0.6)
        await feed.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in fast:
            c.received = received[fast.index(c)]  # type: ignore[attr-defined]
        return fast, stuck, feed, len(builds)

    fast, stuck, feed, builds = asyncio.run(main())
    assert feed.ticks >= 10
    # one build per tick for the three clients (same principal and room)
    assert builds == feed.ticks
    for client in fast:
        assert len(client.received) >= feed.ticks - 1  # type: ignore[attr-defined]
        assert client.queue.dropped == 0
    assert stuck.closed and stuck.close_reason == "slow"
    assert len(stuck.queue) <= stuck.queue.limit


def test_one_failing_view_does_not_stop_the_others() -> None:
    async def main() -> tuple[list[str], list[str]]:
        async def snapshot(principal: Principal, room: str | None) -> dict[str, Any]:
            if room == "bad":
                raise RuntimeError("a bug in one view")
            return {"room": room}
        feed = LiveFeed(snapshot)
        good, bad = [], []

        async def to(out: list[str], text: str) -> None:
            out.append(text)
        clients = [LiveClient(Principal(VIA_SESSION), "4100", lambda t: to(good, t)),
                   LiveClient(Principal(VIA_SESSION), "bad", lambda t: to(bad, t))]
        tasks = [asyncio.create_task(c.run()) for c in clients]
        for c in clients:
            feed.add(c)
        for _ in range(3):
            await feed.tick(0.0)
            await asyncio.sleep(0.02)  # the senders run
        for c in clients:
            c.close("done")
        await asyncio.gather(*tasks)
        return good, bad

    good, bad = asyncio.run(main())
    assert len(good) == 3 and bad == []
    assert json.loads(good[-1])["seq"] == 3


# ------------------------------------------------------------------ the WebSocket of a running MCU


@pytest.fixture
def mcu(tmp_path: Path):  # type: ignore[no-untyped-def]
    with RunningMcu(write_admin_config(tmp_path)) as running:
        yield running


def _session_cookie(url: str) -> str:
    request = urllib.request.Request(url + "/console/login", data=json.dumps({"token": TOKEN}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Set-Cookie"].split(";")[0]


def _never_reading_client(port: int, cookie: str) -> socket.socket:
    """A raw WebSocket client that completes the upgrade and then never reads a byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /console/live?room=4100 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Cookie: {cookie}\r\n\r\n").encode())
    return sock


def test_websocket_feed_pushes_snapshots_and_survives_slow_and_garbage_clients(mcu: RunningMcu) -> None:
    cookie = _session_cookie(mcu.url)
    port = mcu.admin.port  # type: ignore[union-attr]
    ws_url = f"ws://127.0.0.1:{port}/console/live?room=4100"

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as http:
            # refused: no session, another site's page, a room name that is not one
            for headers, status in (({}, 401), ({"Cookie": cookie, "Origin": "http://evil.example"}, 403)):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(ws_url, headers=headers)
                out.setdefault("refused", []).append(refused.value.status == status)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url.replace("4100", "a%20b"), headers={"Cookie": cookie})
            out["refused"].append(refused.value.status == 400)

            slow = _never_reading_client(port, cookie)
            garbage = await http.ws_connect(ws_url, headers={"Cookie": cookie})
            await garbage.send_str("not json")
            await garbage.send_bytes(b"\x00\xff" * 100)
            await garbage.send_str('{"room": 5}')
            fast = await http.ws_connect(ws_url, headers={"Cookie": cookie})
            try:
                docs = []
                start = time.monotonic()
                while time.monotonic() - start < 3.0:
                    message = await asyncio.wait_for(fast.receive(), 2.0)
                    assert message.type == aiohttp.WSMsgType.TEXT, message
                    docs.append(json.loads(message.data))
                out["docs"] = docs
                # the page switches rooms on the same socket
                await fast.send_str(json.dumps({"room": None}))
                for _ in range(4):
                    doc = json.loads((await asyncio.wait_for(fast.receive(), 2.0)).data)
                out["after_switch"] = doc
                out["garbage_alive"] = not garbage.closed
            finally:
                await fast.close()
                await garbage.close()
                slow.close()
        return out

    out = asyncio.run(asyncio.wait_for(main(), 30))
    assert out["refused"] == [True, True, True]
    docs = out["docs"]
    assert len(docs) >= 6, f"only {len(docs)} snapshots in 3 s"  # 4 Hz: ~12
    assert [d["seq"] for d in docs] == sorted(d["seq"] for d in docs)
    last = docs[-1]
    assert last["type"] == "snapshot" and [r["number"] for r in last["rooms"]] == ["4100", "4200"]
    assert last["room"]["number"] == "4100" and last["room"]["members"] == [] and "roster" in last["room"]
    assert "room" not in out["after_switch"]
    assert out["garbage_alive"]
    feed = mcu.admin.http.console.feed  # type: ignore[union-attr]
    assert mcu.on_loop(lambda: len(feed.clients)) <= 1  # the slow raw client may linger until it times out


def test_stopping_the_api_closes_the_console_sockets_as_going_away(mcu: RunningMcu) -> None:
    cookie = _session_cookie(mcu.url)
    ws_url = mcu.url.replace("http://", "ws://") + "/console/live"

    async def main() -> tuple[Any, int | None]:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(ws_url, headers={"Cookie": cookie})
            first = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            stopping = asyncio.get_running_loop().run_in_executor(
                None, lambda: mcu.run(mcu.admin.stop()))  # type: ignore[union-attr]
            while True:
                message = await asyncio.wait_for(ws.receive(), 10)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            await stopping
            return first, ws.close_code

    first, code = asyncio.run(main())
    assert first["type"] == "snapshot" and code == 1001


def test_a_browser_that_stops_reading_is_cut_off_alone(tmp_path: Path) -> None:
    """A real stuck socket: with 300 rooms a snapshot is large, so its buffers fill in seconds;
    the reader beside it keeps getting snapshots, and only the stuck one is closed as slow."""
    path = write_admin_config(tmp_path)
    rooms = tmp_path / "rooms.toml"
    rooms.write_text(rooms.read_text() + "".join(f'[[room]]\nnumber = "{5000 + k}"\nname = "Phòng {k}"\n'
                                                 for k in range(300)), encoding="utf-8")
    with RunningMcu(path) as mcu:
        cookie = _session_cookie(mcu.url)
        port = mcu.admin.port  # type: ignore[union-attr]
        console = mcu.admin.http.console  # type: ignore[union-attr]

        def speed_up() -> None:
            console.feed.period = 0.05  # 20 snapshots a second
            console.send_timeout = 1.0
        mcu.on_loop(speed_up)
        ws_url = f"ws://127.0.0.1:{port}/console/live"

        async def main() -> tuple[list[tuple[float, int]], int]:
            async with aiohttp.ClientSession() as http:
                fast = await http.ws_connect(ws_url, headers={"Cookie": cookie}, max_msg_size=0)
                slow = _never_reading_client(port, cookie)
                got: list[tuple[float, int]] = []
                size = 0
                started = time.monotonic()
                cut_at = None
                try:
                    while time.monotonic() - started < 60:
                        message = await asyncio.wait_for(fast.receive(), 2.0)
                        size = len(message.data)
                        got.append((time.monotonic(), json.loads(message.data)["seq"]))
                        if cut_at is None and console.feed.slow_closed:
                            cut_at = len(got)
                        if cut_at is not None and len(got) > cut_at + 20:
                            break
                finally:
                    await fast.close()
                    slow.close()
                return got, size

        got, size = asyncio.run(main())
        took = got[-1][0] - got[0][0]
        print(f"stuck client cut off; {len(got)} snapshots of {size} bytes to the reader in {took:.1f} s")
        assert console.feed.slow_closed == 1, "the stuck client was never cut off"
        assert mcu.admin.http.refusals["console_slow_client"] == 1  # type: ignore[union-attr]
        seqs = [seq for _, seq in got]
        assert seqs == sorted(seqs) and len(got) > 20
        # the reader was never held up by the stuck socket: it never waited as long as the stuck
        # one was given before it was cut off
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(got)]
        assert max(gaps) < console.send_timeout, f"the reader waited {max(gaps):.2f} s for a snapshot"


def test_a_tenants_console_sees_only_its_rooms_and_ends_with_its_token(tmp_path: Path) -> None:
    from mcu.tenants import token_digest

    tenant_token = "moh-token-0123456789abcdef"
    path = write_admin_config(tmp_path)
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(f'[[tenant]]\nname = "moh"\nprefix = "41"\n[[tenant.token]]\nname = "moh-ops"\n'
                       f'sha256 = "{token_digest(tenant_token)}"\n', encoding="utf-8")
    with RunningMcu(path) as mcu:
        request = urllib.request.Request(mcu.url + "/console/login", method="POST",
                                         data=json.dumps({"token": tenant_token}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            cookie = response.headers["Set-Cookie"].split(";")[0]
            assert json.loads(response.read())["result"]["tenant"] == "moh"
        provider = _session_cookie(mcu.url)
        ws_url = mcu.url.replace("http://", "ws://") + "/console/live?room=4200"

        async def first(cookie: str) -> dict[str, Any]:
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, headers={"Cookie": cookie}) as ws:
                return json.loads((await asyncio.wait_for(ws.receive(), 5)).data)

        mine = asyncio.run(first(cookie))
        assert [r["number"] for r in mine["rooms"]] == ["4100"]
        assert "error" in mine["room"] and "4200" in mine["room"]["error"]  # another's room: not found
        everything = asyncio.run(first(provider))
        assert [r["number"] for r in everything["rooms"]] == ["4100", "4200"] and "members" in everything["room"]
        # the tenant's token leaves tenants.toml: its console session ends at the next request
        tenants.write_text('[[tenant]]\nname = "moh"\nprefix = "41"\n', encoding="utf-8")
        assert mcu.on_loop(lambda: mcu.server.reload_config()) == []
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(mcu.url + "/rooms", headers={"Cookie": cookie}),
                                   timeout=10)
        assert refused.value.code == 401 and "log in again" in json.loads(refused.value.read())["error"]


def test_a_view_that_hangs_is_left_out_of_the_tick_and_the_others_go_on() -> None:
    """In a cluster a view may ask another node; one that does not answer must not hold the tick."""
    async def main() -> tuple[list[str], list[str], int]:
        async def snapshot(principal: Principal, room: str | None) -> dict[str, Any]:
            if room == "far":
                await asyncio.sleep(30)  # a node that never answers
            return {"room": room}
        feed = LiveFeed(snapshot)
        feed.build_timeout = 0.2
        near, far = [], []

        async def to(out: list[str], text: str) -> None:
            out.append(text)
        clients = [LiveClient(Principal(VIA_BEARER), "4100", lambda t: to(near, t)),
                   LiveClient(Principal(VIA_BEARER), "far", lambda t: to(far, t))]
        tasks = [asyncio.create_task(c.run()) for c in clients]
        for c in clients:
            feed.add(c)
        built = await asyncio.wait_for(feed.tick(0.0), 5)
        await asyncio.sleep(0.05)
        for c in clients:
            c.close("done")
        await asyncio.gather(*tasks)
        return near, far, built

    near, far, built = asyncio.run(main())
    assert built == 1 and len(near) == 1 and far == []
