"""The web operator console: static pages served by the admin server, a login that exchanges
the admin token for a session cookie, and the live feed's WebSocket.

The page itself (console_static/: plain HTML, CSS and JavaScript, no build step, no CDN) acts
only through the admin API's commands, with the session cookie and the CSRF token; every
credential goes through `mcu.admin.auth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from mcu.admin.auth import Principal, check_csrf, check_origin, principal_for
from mcu.admin.errors import BadArguments, CommandError, MethodNotAllowed, NotFound, Unauthorized
from mcu.admin.http import (
    REFUSAL_FORBIDDEN,
    REFUSAL_SLOW_CONSOLE,
    AdminHttp,
    Request,
    error_response,
    json_response,
    read_body,
    to_aiohttp,
)
from mcu.admin.live import SEND_TIMEOUT, LiveClient, LiveFeed, command_snapshot, log_closed
from mcu.admin.sessions import COOKIE_NAME, CSRF_HEADER, clear_cookie, session_cookie
from mcu.log import event
from mcu.settings import ROOM_NUMBER

log = logging.getLogger("mcu.admin")

PREFIX = "/console"
STATIC_PACKAGE = "mcu.admin"
STATIC_FOLDER = "console_static"
LANGUAGES = ("vi", "en")
MAX_WS_MESSAGE = 4096
# Everything from the MCU itself: no CDN, no inline script, no framing by other sites.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def load_static() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) of every file shipped in console_static/ (read once)."""
    out: dict[str, tuple[bytes, str]] = {}
    folder = resources.files(STATIC_PACKAGE) / STATIC_FOLDER
    for item in folder.iterdir():
        if item.is_file() and not item.name.startswith("."):
            kind = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
                kind += "; charset=utf-8"
            out[item.name] = (item.read_bytes(), kind)
    return out


class Console:
    def __init__(self, http: AdminHttp, language: str = "vi", secure: bool = False,
                 feed: LiveFeed | None = None):
        if language not in LANGUAGES:
            raise ValueError(f"console language must be one of {LANGUAGES}, got {language!r}")
        self.http = http
        self.language = language
        self.secure = secure
        self.static = load_static()
        self.feed = feed if feed is not None else LiveFeed(command_snapshot(http.context))
        self.logins = 0
        self.login_failures = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self.send_timeout = SEND_TIMEOUT  # s a browser may leave one snapshot unread before it is cut off

    def start(self) -> None:
        self.feed.start()

    async def shutdown(self) -> None:
        """Close every console WebSocket (going away), so stopping the MCU waits for none."""
        await self.feed.stop()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"MCU stopping"), 1.0)

    # ------------------------------------------------------------------ routing

    async def handle(self, request: web.Request, path: str, peer: str) -> web.StreamResponse:
        try:
            if path in ("/", PREFIX):
                raise web.HTTPFound(PREFIX + "/")
            if path == PREFIX + "/":
                return self._page(request)
            if path.startswith(PREFIX + "/static/"):
                return self._static(request, path.removeprefix(PREFIX + "/static/"))
            if path == PREFIX + "/live":
                return await self._live(request, peer)
            if path == PREFIX + "/login":
                return await self._login(request, peer)
            if path == PREFIX + "/logout":
                return await self._logout(request, peer)
            if path == PREFIX + "/session":
                return self._session(request, peer)
            raise NotFound(f"no console page {path}; open {PREFIX}/")
        except CommandError as exc:
            if exc.status == 403:
                self.http.refusals[REFUSAL_FORBIDDEN] += 1
            if exc.status in (401, 403):
                event(log, "admin.unauthorized" if exc.status == 401 else "admin.forbidden", logging.WARNING,
                      peer=peer, path=path, error=exc.message)
            return to_aiohttp(error_response(exc))

    def _principal(self, request: web.Request, peer: str) -> Principal:
        ours = Request(request.method, request.path, {k.lower(): v for k, v in request.headers.items()},
                       b"", peer, session_id=request.cookies.get(COOKIE_NAME, ""))
        return self.http.principal_of(ours)

    # ------------------------------------------------------------------ pages

    def _page(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"use GET for {PREFIX}/", details=["GET"])
        body, kind = self.static["index.html"]
        body = body.replace(b"__LANG__", self.language.encode())
        return web.Response(body=body, headers={"Content-Type": kind, "Cache-Control": "no-store",
                                                **SECURITY_HEADERS})

    def _static(self, request: web.Request, name: str) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"use GET for {PREFIX}/static/{name}", details=["GET"])
        found = self.static.get(name)  # only the shipped files: no path from the request reaches the disk
        if found is None:
            raise NotFound(f"no console file {name!r}")
        body, kind = found
        return web.Response(body=body, headers={"Content-Type": kind, "Cache-Control": "no-cache",
                                                **SECURITY_HEADERS})

    # ------------------------------------------------------------------ login, logout, session

    async def _login(self, request: web.Request, peer: str) -> web.Response:
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST for {PREFIX}/login", details=["POST"])
        check_origin(request.headers.get("Origin"), request.host)
        doc = _json_object(await read_body(request))
        token = doc.get("token")
        if not isinstance(token, str) or not token.strip():
            raise BadArguments("send {\"token\": \"<admin token>\"} to log in")
        try:  # the provider's token or a tenant's: the session keeps that scope
            principal = principal_for(f"Bearer {token.strip()}", self.http.token,
                                      getattr(self.http.context, "tenants", None))
        except Unauthorized:
            self.login_failures += 1
            raise
        operator = doc.get("operator")
        who = f"console:{operator[:48]}@{peer}" if isinstance(operator, str) and operator else f"console@{peer}"
        now = self.http.clock()
        session = self.http.sessions.create(now, who, principal.tenant.name if principal.tenant else None,
                                            principal.token_name if principal.tenant else "")
        self.logins += 1
        event(log, "admin.login", peer=peer, session=session.session_id[:8], who=who,
              tenant=session.tenant or "provider")
        response = json_response(200, {"ok": True, "result": self._session_doc(session.csrf_token,
                                                                                session.expires - now,
                                                                                session.tenant)},
                                 (("Set-Cookie", session_cookie(session, now, self.secure)),))
        return to_aiohttp(response)

    async def _logout(self, request: web.Request, peer: str) -> web.Response:
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST for {PREFIX}/logout", details=["POST"])
        principal = self._principal(request, peer)
        check_csrf(principal, request.method, request.headers.get(CSRF_HEADER))
        if principal.session is not None:
            self.http.sessions.drop(principal.session.session_id)
            event(log, "admin.logout", peer=peer, session=principal.session.session_id[:8])
        return to_aiohttp(json_response(200, {"ok": True, "result": {"logged_out": True}},
                                        (("Set-Cookie", clear_cookie(self.secure)),)))

    def _session_doc(self, csrf: str | None, expires_in: float | None, tenant: str | None = None) -> dict[str, Any]:
        return {"csrf": csrf, "expires_in": None if expires_in is None else round(expires_in),
                "language": self.language, "tenant": tenant or None}

    def _session(self, request: web.Request, peer: str) -> web.Response:
        principal = self._principal(request, peer)
        session = principal.session
        doc = self._session_doc(session.csrf_token if session else None,
                                session.expires - self.http.clock() if session else None,
                                principal.tenant.name if principal.tenant else "")
        return to_aiohttp(json_response(200, {"ok": True, "result": doc}))

    # ------------------------------------------------------------------ the live feed

    async def _live(self, request: web.Request, peer: str) -> web.StreamResponse:
        check_origin(request.headers.get("Origin"), request.host)
        principal = self._principal(request, peer)
        room = request.query.get("room") or None
        if room is not None and not ROOM_NUMBER.fullmatch(room):
            raise BadArguments(f"'room' must be a room number, got {room[:40]!r}")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_WS_MESSAGE)
        if not ws.can_prepare(request).ok:
            raise BadArguments(f"{PREFIX}/live is a WebSocket; connect with a WebSocket client")
        await ws.prepare(request)
        self._sockets.add(ws)
        client = LiveClient(principal, room, ws.send_str)
        if not self.feed.add(client):
            self._sockets.discard(ws)
            await ws.close(code=1013, message=b"too many console clients")
            return ws
        sender = asyncio.get_running_loop().create_task(client.run(self.send_timeout),
                                                        name=f"admin-live-{peer}")
        closer = asyncio.get_running_loop().create_task(_close_when_done(client, sender, ws, request))
        try:
            async for message in ws:
                # the page may switch rooms without reconnecting: {"room": "4100"} or {"room": null}
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    wanted = json.loads(message.data).get("room")
                except (ValueError, AttributeError):
                    continue  # garbage from one page is ignored; its feed goes on
                if wanted is None or (isinstance(wanted, str) and ROOM_NUMBER.fullmatch(wanted)):
                    client.room = wanted
        finally:
            self._sockets.discard(ws)
            client.close(client.close_reason or "gone")
            self.feed.remove(client)
            sender.cancel()
            closer.cancel()
            if client.close_reason == "slow":
                self.http.refusals[REFUSAL_SLOW_CONSOLE] += 1
            log_closed(client, peer)
        return ws


async def _close_when_done(client: LiveClient, sender: Any, ws: web.WebSocketResponse,
                           request: web.Request) -> None:
    """A client whose sender gave up (too slow) is cut off, without waiting on its socket."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(sender)
    if client.close_reason == "slow" and request.transport is not None:
        request.transport.abort()
    elif not ws.closed:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 1.0)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise BadArguments("malformed JSON body; send {\"token\": \"...\"}") from None
    if not isinstance(doc, dict):
        raise BadArguments("the body must be a JSON object")
    return doc

