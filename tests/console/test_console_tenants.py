"""The console under tenants: a tenant's token logs in to a session with that tenant's scope. Its
pages and live feed show only its own rooms, another tenant's room is a 404 like a room that does
not exist, and a token removed from tenants.toml ends the sessions opened with it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from console_helpers import RunningMcu, api_with_cookie
from test_admin_tenants import MOF, MOH, TENANTS, api_json, tenant_config
from test_console_auth import _login


def test_a_tenant_logs_in_and_sees_and_changes_only_its_rooms(tmp_path: Path) -> None:
    with RunningMcu(tenant_config(tmp_path)) as mcu:
        status, doc, set_cookie = _login(mcu.url, MOH)
        assert status == 200, doc
        cookie, csrf = set_cookie.split(";")[0], doc["result"]["csrf"]
        status, doc = api_with_cookie(mcu.url, "GET", "/rooms", cookie)
        assert status == 200 and [r["number"] for r in doc["result"]] == ["4100"]
        csrf_header = {"X-CSRF-Token": csrf}
        status, other = api_with_cookie(mcu.url, "POST", "/rooms/4200/lock", cookie, headers=csrf_header)
        status_missing, missing = api_with_cookie(mcu.url, "POST", "/rooms/4999/lock", cookie, headers=csrf_header)
        assert (status, status_missing) == (404, 404)
        assert other["error"].replace("4200", "N") == missing["error"].replace("4999", "N")  # says no more
        assert mcu.on_loop(lambda: mcu.room("4200").locked) is False
        assert api_with_cookie(mcu.url, "POST", "/rooms/4100/lock", cookie, headers=csrf_header)[0] == 200
        assert mcu.on_loop(lambda: mcu.room("4100").locked) is True

        port = mcu.admin.port  # type: ignore[union-attr]

        async def feed(room: str) -> dict[str, Any]:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"ws://127.0.0.1:{port}/console/live?room={room}",
                                           headers={"Cookie": cookie})
                try:
                    return json.loads((await asyncio.wait_for(ws.receive(), 5.0)).data)
                finally:
                    await ws.close()

        own = asyncio.run(feed("4100"))
        assert [r["number"] for r in own["rooms"]] == ["4100"] and own["room"]["members"] == []
        theirs = asyncio.run(feed("4200"))
        assert [r["number"] for r in theirs["rooms"]] == ["4100"]
        assert "members" not in theirs["room"] and "4200" in theirs["room"]["error"]

        # the other tenant's token opens its own scope; the provider's console still sees all
        status, doc, set_cookie = _login(mcu.url, MOF)
        mof_cookie = set_cookie.split(";")[0]
        status, doc = api_with_cookie(mcu.url, "GET", "/rooms", mof_cookie)
        assert [r["number"] for r in doc["result"]] == ["4200"]

        # moh's token leaves tenants.toml: its session ends at the next request
        (tmp_path / "tenants.toml").write_text(TENANTS.replace('name = "moh-ops"\nfile = "moh.token"',
                                                               'name = "moh-new"\nfile = "mof.token"'))
        status, doc = api_json(mcu.url, "POST", "/reload")
        assert status == 200, doc
        status, doc = api_with_cookie(mcu.url, "GET", "/rooms", cookie)
        assert status == 401 and "log in again" in doc["error"]
        assert api_with_cookie(mcu.url, "GET", "/rooms", mof_cookie)[0] == 200
